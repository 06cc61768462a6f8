"""A metrics source that is not connected to anything: every metric is no data, and says why.

An imported runbook names criteria but no metrics system. Its guards point here so the screen shows
them as not connected instead of judging invented numbers.
"""

from __future__ import annotations

from collections.abc import Mapping

from backends.base import BackendConfig, BackendContext, NoData, Problem, Sample

REASON = "not connected: the plan names no metrics source for this metric yet"


class UnconnectedMetrics:
    class Config(BackendConfig):
        pass

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.ctx = ctx

    async def sample(self, queries: Mapping[str, str]) -> Mapping[str, Sample | NoData]:
        return {name: NoData(REASON, self.ctx.clock.now()) for name in queries}

    async def preflight(self) -> list[Problem]:
        return [Problem("metrics are not connected: guards on them never see data", severity="warning")]
