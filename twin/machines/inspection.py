"""Vision inspection station: time from feature count; finds defects made upstream."""

from __future__ import annotations

from typing import Any

import numpy as np

from twin.machines.base import Dynamics, NoSetupModel, OpRequest, Outcome, Segment, lognormal_factor
from twin.model.machines import InspectionConfig
from twin.signals import SignalSpec

__all__ = ["RESULT_NOK", "RESULT_NONE", "RESULT_OK", "InspectionModel"]

RESULT_NONE, RESULT_OK, RESULT_NOK = 0.0, 1.0, 2.0


class InspectionModel(NoSetupModel):
    """Inspection = base time + features x time per feature. Whether a defect is found is
    decided by the engine (it knows the part's hidden defects) with ``detection_probability``.
    """

    kind = "inspection"
    processes = frozenset({"inspection"})

    def planned_duration(self, cfg: Any, req: OpRequest) -> float:
        c: InspectionConfig = cfg
        return c.base_time + req.params.get("features", 0.0) * c.time_per_feature

    def outcome(
        self, cfg: Any, dyn: Dynamics, req: OpRequest, planned: float, rng: np.random.Generator
    ) -> Outcome:
        c: InspectionConfig = cfg
        dyn.operations += 1
        deviation = abs(float(rng.normal(0.0, 0.01)))
        return Outcome(
            actual=planned * lognormal_factor(rng, c.duration_cv), deviation_mm=deviation
        )

    def signal_specs(self, cfg: Any) -> list[SignalSpec]:
        return [
            SignalSpec("result", "", 0.0, 2.0, "last result: 0 none, 1 pass, 2 fail"),
            SignalSpec("deviation", "mm", 0.0, 1.0, "largest measured deviation"),
            SignalSpec("features_checked", "", 0.0, 200.0, "features checked in current part"),
            SignalSpec("power", "kW", 0.0, 1.0, "electrical power"),
        ]

    def evaluate(self, cfg: Any, seg: Segment, t: float) -> np.ndarray:
        c: InspectionConfig = cfg
        out = seg.init.copy()
        if seg.state == "Executing" and seg.op is not None:
            out[0] = RESULT_NONE
            out[1] = 0.0
            features = seg.op.params.get("features", 0.0)
            done = (t - seg.t0 - c.base_time) / max(c.time_per_feature, 1e-9)
            out[2] = min(max(np.floor(done), 0.0), features)
            out[3] = 0.4
        else:
            out[0] = seg.info.get("result", out[0])
            out[1] = seg.info.get("deviation", out[1])
            out[3] = 0.1 if seg.state != "OutOfService" else 0.02
        return out
