"""FFF 3D printer: print time from volume and layers, heat-up, print failures, defects."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from twin.machines.base import (
    Dynamics,
    NoSetupModel,
    OpRequest,
    Outcome,
    PlanningError,
    Segment,
    first_order,
    lognormal_factor,
)
from twin.model.machines import PrinterConfig
from twin.signals import SignalSpec

__all__ = ["PrinterModel"]

_AMBIENT = 25.0
_NOZZLE_TAU = 45.0  # s: the nozzle heats up in a few minutes (tau 45 s, 5 tau ~ 4 min)
_BED_TAU = 150.0
_DENSITY_G_CM3 = 1.24


class PrinterModel(NoSetupModel):
    """Printing: heat-up + volume / deposition rate of the material + layers x layer overhead.

    A print fails with rate ``failure_rate_per_h`` per print hour (exponential); a failed print
    aborts at the drawn instant, the bed is cleared and the print restarts.
    """

    kind = "printer"
    processes = frozenset({"printing"})

    def planned_duration(self, cfg: Any, req: OpRequest) -> float:
        c: PrinterConfig = cfg
        rate = c.deposition_rate_cm3_h.get(req.material or "")
        if rate is None:
            raise PlanningError(
                f"{c.id} cannot print material {req.material!r} "
                f"(prints: {', '.join(sorted(c.deposition_rate_cm3_h))})"
            )
        height = req.params.get("height_mm", 0.0)
        if np.any(height > c.build_volume_mm[2]):  # a scalar, or a column of drawn specs
            raise PlanningError(f"{c.id}: part height {height} mm exceeds build height")
        return (
            c.heatup_time
            + req.params.get("volume_cm3", 0.0) / rate * 3600.0
            + req.params.get("layers", 0.0) * c.layer_overhead
        )

    def setup_time(self, cfg: Any, previous: str | None, new: str | None) -> float:
        c: PrinterConfig = cfg
        if previous is None or new is None or previous == new:
            return 0.0
        return float(c.material_change_setup)

    def outcome(
        self, cfg: Any, dyn: Dynamics, req: OpRequest, planned: float, rng: np.random.Generator
    ) -> Outcome:
        c: PrinterConfig = cfg
        actual = planned * lognormal_factor(rng, c.duration_cv)
        fail_at = None
        if c.failure_rate_per_h > 0:
            t_fail = float(rng.exponential(3600.0 / c.failure_rate_per_h))
            if t_fail < actual:
                fail_at = t_fail
        defect = bool(rng.random() < c.defect_probability)
        dyn.operations += 1
        return Outcome(actual=actual, fail_at=fail_at, defect=defect)

    def signal_specs(self, cfg: Any) -> list[SignalSpec]:
        return [
            SignalSpec("nozzle_temp", "degC", 0.0, 300.0, "extruder nozzle temperature"),
            SignalSpec("bed_temp", "degC", 0.0, 120.0, "build plate temperature"),
            SignalSpec("layer", "", 0.0, 10000.0, "current layer number"),
            SignalSpec("progress", "%", 0.0, 100.0, "print progress"),
            SignalSpec("feedstock_used", "g", 0.0, 5000.0, "filament used by the current print"),
            SignalSpec("power", "kW", 0.0, 2.0, "electrical power"),
        ]

    def evaluate(self, cfg: Any, seg: Segment, t: float) -> np.ndarray:
        c: PrinterConfig = cfg
        out = seg.init.copy()
        printing = seg.state == "Executing" and seg.mode == "Processing" and seg.op is not None
        if printing and seg.op is not None:
            mat = seg.op.material or ""
            nozzle_target = c.nozzle_temp_c.get(mat, 210.0)
            bed_target = c.bed_temp_c.get(mat, 60.0)
            out[0] = first_order(t, seg.t0, seg.init[0] or _AMBIENT, nozzle_target, _NOZZLE_TAU)
            out[1] = first_order(t, seg.t0, seg.init[1] or _AMBIENT, bed_target, _BED_TAU)
            span = max(seg.t1 - seg.t0 - c.heatup_time, 1e-9)
            frac = min(max((t - seg.t0 - c.heatup_time) / span, 0.0), 1.0)
            done = seg.info.get("done", 0.0)  # a print resumed after a repair goes on
            frac = done + (1.0 - done) * frac
            layers = seg.op.params.get("layers", 0.0)
            out[2] = math.floor(frac * layers)
            out[3] = 100.0 * frac
            out[4] = frac * seg.op.params.get("volume_cm3", 0.0) * _DENSITY_G_CM3
            out[5] = 0.15 + 0.6 * (out[0] / 300.0) + 0.4 * (out[1] / 120.0)
        else:
            out[0] = first_order(t, seg.t0, seg.init[0] or _AMBIENT, _AMBIENT, _NOZZLE_TAU * 4)
            out[1] = first_order(t, seg.t0, seg.init[1] or _AMBIENT, _AMBIENT, _BED_TAU * 4)
            if seg.state == "OutOfService":
                out[2:5] = 0.0
            out[5] = 0.05 if seg.state != "OutOfService" else 0.02
        return out
