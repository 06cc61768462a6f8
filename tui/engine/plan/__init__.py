"""The deploy plan: YAML in, typed objects out, every problem reported as FILE:LINE:COL.

Three stages, one module each: `yamldoc` reads the YAML with every position, `models` is what each key may hold
(docs/plan-format.md and those models are one contract), `checks` places pydantic's errors and checks what no
single model can see; `load` runs them in order. Import from here.
"""

from tui.engine.plan.checks import window_in_the_past
from tui.engine.plan.load import LoadedPlan, load_plan, load_plan_text, load_source
from tui.engine.plan.models import (
    BakeStep,
    GateStep,
    Guard,
    NotifyStep,
    Plan,
    ProbeStep,
    ReviewItem,
    RunStep,
    ShiftStep,
    Step,
    WaitStep,
    backend_name,
)
from tui.engine.plan.yamldoc import PlanError, PlanIssue
from tui.engine.plandata import ACCEPTED_IMPORT_ENV, format_duration, outside_window, parse_duration

__all__ = [
    "ACCEPTED_IMPORT_ENV", "BakeStep", "GateStep", "Guard", "LoadedPlan", "NotifyStep", "Plan", "PlanError",
    "PlanIssue", "ProbeStep", "ReviewItem", "RunStep", "ShiftStep", "Step", "WaitStep", "backend_name",
    "format_duration", "load_plan", "load_plan_text", "load_source", "outside_window", "parse_duration",
    "window_in_the_past",
]
