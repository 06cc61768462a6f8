"""After a crash: what the journal says was under way, settled against the traffic as it reads now. An outcome
journalled before its result reached the machine is fed in; a shift whose outcome is missing is judged by the read
back; a rollback cut off is said so (the restart sends it again); any other step's outcome is unknown and fails
(advance retries it)."""

from __future__ import annotations

from typing import Any

from tui.engine.journal import open_intents
from tui.engine.wiring import bounded


async def read_live(traffic: Any, timeout: float) -> tuple[int | None, str]:
    """(green's percentage as the traffic backend reads it, or None; what was read, in words for the outcomes)."""
    try:
        live = await bounded(traffic.current(), timeout)
    except Exception as e:  # noqa: BLE001 - said in every outcome; the operator decides
        return None, f"no read-back: {type(e).__name__}: {e}"
    return live.green, f"traffic reads green {live.green}% ({live.detail})"


def settle(records: list[dict[str, Any]], pending: dict[str, Any], green: int | None, said: str
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(outcomes to journal, results to feed the machine), each in the order they happened."""
    outcomes: list[dict[str, Any]] = []
    results = [{"type": "result", **rec["data"]} for rec in records
               if rec["kind"] == "outcome" and rec["data"]["id"] in pending]
    for rec in open_intents(records):
        eff = rec["data"]
        if eff["kind"] == "rollback":
            outcomes.append({"id": eff["id"], "kind": "rollback", "ok": False, "data": {},
                             "error": f"cut off by a restart; sent again ({said})"})
            continue
        if eff["kind"] == "shift" and green is not None:
            ok = green == eff["percent"]
            result = {"ok": ok, "data": {"green": green, "detail": f"read back after a restart: {said}"},
                      "error": "" if ok else f"not applied before the restart: {said}"}
        else:
            result = {"ok": False, "data": {} if green is None else {"green": green},
                      "error": f"outcome unknown after a restart ({said}): check by hand; advance retries"}
        outcomes.append({"id": eff["id"], "kind": eff["kind"], **result})
        results.append({"type": "result", "id": eff["id"], **result})
    return outcomes, results
