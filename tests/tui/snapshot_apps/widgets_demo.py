"""The four display widgets composed with fixed data (fixed timestamps: snapshots must not see the clock).

Run it by hand to look at the widgets: `python tests/tui/snapshot_apps/widgets_demo.py`.
"""

from __future__ import annotations

import math

from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical

from widgets.chart import MetricChart
from widgets.chartdata import ChartData
from widgets.guards import GuardPanel, GuardView
from widgets.splitbar import SplitData, TrafficSplitBar
from widgets.timeline import ChecklistView, PhaseTimeline, PhaseView, StepView, TimelineData

T0 = 1_795_000_000.0


def error_rate() -> ChartData:
    ts = [T0 - 300 + 5 * i for i in range(61)]
    blue = [(t, 0.002 + 0.0004 * math.sin(i / 3)) for i, t in enumerate(ts)]
    green = [(t, 0.002 if i < 40 else 0.004 + (i - 40) * 0.001) for i, t in enumerate(ts)]
    return ChartData("error rate", "ratio", {"blue": blue, "green": green}, threshold=0.01,
                     threshold_label="> 1% → rollback", now=T0, window_s=300)


def latency() -> ChartData:
    ts = [T0 - 420 + 5 * i for i in range(60)]  # last sample two minutes old
    return ChartData("p95 latency", "ms", {"blue": [(t, 180.0 + i % 7) for i, t in enumerate(ts)],
                                           "green": [(t, 175.0 + i % 5) for i, t in enumerate(ts)]},
                     threshold=250.0, status="stale", status_detail="no sample for 2m", now=T0, window_s=600)


def cpu() -> ChartData:
    return ChartData("CPU", "percent", {}, threshold=None, status="down", status_detail="connection refused",
                     now=T0, window_s=300)


GUARDS = [
    GuardView("error_rate", "above", 0.01, "ratio", 0.023, 100, 300, "breaching", "rollback", side="green"),
    GuardView("latency_p95", "above", 250, "ms", 183, 0, 120, "ok", "rollback", side="green"),
    GuardView("success_rate", "below", 0.99, "ratio", 0.97, 120, 120, "tripped", "pause", side="all"),
    GuardView("cpu", "above", 85, "percent", None, 0, 60, "blind", "alert", side="green",
              note="BLIND: connection refused"),
    GuardView("p99", "above", 900, "ms", None, 0, 60, "awaiting", "pause", side="green",
              note="no data yet: green has had traffic 12s; blind at 1m"),
    GuardView("errors_5xx", "above", 0.02, "ratio", None, 0, 60, "no-traffic", "rollback", side="green",
              note="no traffic yet: green carries none"),
]

TIMELINE = TimelineData(
    phases=[
        PhaseView("Prep", "DevOps", "done", "22:00", "10m", "22:00", "12m",
                  checklist=[ChecklistView("freeze announced", "bob", "22:01")]),
        PhaseView("Canary 10%", "alice", "baking", "22:10", "15m", "22:12", "6m",
                  steps=[StepView("shift green → 10%", "done", "read back: blue 90% green 10%"),
                         StepView("bake 15m", "running", "9m left"),
                         StepView("approve", "pending")],
                  current_step=1,
                  checklist=[ChecklistView("smoke tests pass", "alice", "22:14"),
                             ChecklistView("dashboards checked"),
                             ChecklistView("support told")]),
        PhaseView("Canary 50%", "alice", "pending", "22:25", "15m"),
        PhaseView("Full rollout", "Tech Lead", "pending", "22:40", "10m"),
        PhaseView("Cleanup", "DevOps", "pending", "22:50", "10m"),
    ],
    current=1,
    selected_item=1,
)

SPLIT = SplitData(green=10, target=50, status="shifting", detail="read back from haproxy")


class WidgetsDemo(App[None]):
    CSS = """
    TrafficSplitBar { height: 2; }
    #middle { height: 1fr; }
    PhaseTimeline { width: 2fr; min-width: 30; border: round $primary 50%; }
    #charts { width: 3fr; }
    MetricChart { height: 1fr; min-height: 6; }
    GuardPanel { border: round $warning 50%; }
    .compact TrafficSplitBar { height: 1; }
    .compact PhaseTimeline { width: 1fr; }
    .compact #charts { width: 1fr; }
    .compact #chart-latency { display: none; }
    .compact GuardPanel { border: none; }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="root"):
            yield TrafficSplitBar(id="split")
            with Horizontal(id="middle"):
                yield PhaseTimeline(id="timeline")
                with Vertical(id="charts"):
                    yield MetricChart(id="chart-error_rate")
                    yield MetricChart(id="chart-latency")
                    yield MetricChart(id="chart-cpu")
            yield GuardPanel(id="guards")

    def on_mount(self) -> None:
        self.on_resize()
        self.query_one(TrafficSplitBar).update_split(SPLIT)
        self.query_one(PhaseTimeline).update_timeline(TIMELINE)
        self.query_one("#chart-error_rate", MetricChart).update_chart(error_rate())
        self.query_one("#chart-latency", MetricChart).update_chart(latency())
        self.query_one("#chart-cpu", MetricChart).update_chart(cpu())
        self.query_one(GuardPanel).update_guards(GUARDS)

    def on_resize(self) -> None:
        compact = self.size.width < 120 or self.size.height < 36
        self.query_one("#root").set_class(compact, "compact")
        self.query_one(PhaseTimeline).compact = compact


app = WidgetsDemo()

if __name__ == "__main__":
    app.run()
