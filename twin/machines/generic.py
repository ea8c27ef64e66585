"""Generic machine: no process model; runs explicit operations for their given duration."""

from __future__ import annotations

from typing import Any

import numpy as np

from twin.machines.base import (
    Dynamics,
    NoSetupModel,
    OpRequest,
    Outcome,
    PlanningError,
    Segment,
    lognormal_factor,
)
from twin.signals import SignalSpec

__all__ = ["GenericModel"]


class GenericModel(NoSetupModel):
    """Duration = the explicit operation's duration (job-shop instances)."""

    kind = "generic"
    processes = frozenset({"explicit"})

    def planned_duration(self, cfg: Any, req: OpRequest) -> float:
        if req.duration is None:
            raise PlanningError(f"{cfg.id}: generic machines only run explicit operations")
        return req.duration

    def outcome(
        self, cfg: Any, dyn: Dynamics, req: OpRequest, planned: float, rng: np.random.Generator
    ) -> Outcome:
        dyn.operations += 1
        return Outcome(actual=planned * lognormal_factor(rng, cfg.duration_cv))

    def signal_specs(self, cfg: Any) -> list[SignalSpec]:
        return [
            SignalSpec("busy", "", 0.0, 1.0, "1 while executing"),
            SignalSpec("power", "kW", 0.0, 10.0, "electrical power"),
        ]

    def evaluate(self, cfg: Any, seg: Segment, t: float) -> np.ndarray:
        busy = 1.0 if seg.state == "Executing" else 0.0
        return np.array([busy, 0.5 + 2.0 * busy])
