"""CNC machining center: milling time from removal volume and features, tool wear, defects."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from twin.machines.base import (
    Dynamics,
    OpRequest,
    Outcome,
    PlanningError,
    Segment,
    first_order,
    lognormal_factor,
)
from twin.model.machines import CncConfig
from twin.signals import SignalSpec

__all__ = ["CncModel"]

# spindle speed (rpm), feed (mm/min), nominal spindle load (%) per material
_CUTTING = {
    "aluminium": (12000.0, 3000.0, 35.0),
    "steel": (4000.0, 800.0, 65.0),
    "titanium": (2500.0, 400.0, 80.0),
}
_CUTTING_DEFAULT = (8000.0, 2000.0, 25.0)  # polymers


class CncModel:
    """Milling: removal volume / removal rate + holes x hole time + pockets x pocket time
    + surfaces x surface time + (tools - 1) x tool change time, where tools = 1 (face mill)
    + 1 if holes + 1 if pockets. Tool wear grows with cutting time over ``tool_life``; a worn
    tool is replaced (maintenance) before an operation that would exceed its life, slows
    cutting by up to 10 % and adds ``wear_defect_gain`` to the defect probability.
    """

    kind = "cnc"
    processes = frozenset({"milling"})

    def planned_duration(self, cfg: Any, req: OpRequest) -> float:
        c: CncConfig = cfg
        p = req.params
        rate = c.removal_rate_cm3_min.get(req.material or "")
        if rate is None:
            raise PlanningError(
                f"{c.id} has no removal rate for material {req.material!r} "
                f"(has: {', '.join(sorted(c.removal_rate_cm3_min))})"
            )
        holes, pockets = p.get("holes", 0.0), p.get("pockets", 0.0)
        tools = 1 + (holes > 0) + (pockets > 0)
        axis_factor = 1.0 if c.axes == 5 else 1.25  # 3-axis needs re-clamping for side features
        return (
            p.get("removal_cm3", 0.0) / rate * 60.0
            + holes * c.hole_time
            + pockets * c.pocket_time
            + p.get("surfaces", 0.0) * c.surface_time * axis_factor
            + (tools - 1) * c.tool_change_time
        )

    def setup_time(self, cfg: Any, previous: str | None, new: str | None) -> float:
        c: CncConfig = cfg
        if previous is None or new is None or previous == new:
            return 0.0
        pm, _, pf = previous.partition("|")
        nm, _, nf = new.partition("|")
        return (c.material_change_setup if pm != nm else 0.0) + (
            c.fixture_change_setup if pf != nf else 0.0
        )

    def maintenance_before(self, cfg: Any, dyn: Dynamics, planned: float) -> float:
        c: CncConfig = cfg
        if dyn.wear + planned / c.tool_life > 1.0:
            dyn.wear = 0.0
            dyn.tools_replaced += 1
            return float(c.tool_replace_time)
        return 0.0

    def outcome(
        self, cfg: Any, dyn: Dynamics, req: OpRequest, planned: float, rng: np.random.Generator
    ) -> Outcome:
        c: CncConfig = cfg
        actual = planned * lognormal_factor(rng, c.duration_cv) * (1.0 + 0.1 * dyn.wear)
        p_defect = c.defect_probability + c.wear_defect_gain * dyn.wear * dyn.wear
        defect = bool(rng.random() < p_defect)
        dyn.wear = min(1.0, dyn.wear + actual / c.tool_life)
        dyn.operations += 1
        return Outcome(actual=actual, defect=defect)

    def signal_specs(self, cfg: Any) -> list[SignalSpec]:
        c: CncConfig = cfg
        specs = [
            SignalSpec("spindle_speed", "rpm", 0.0, c.max_spindle_rpm, "spindle speed"),
            SignalSpec("spindle_load", "%", 0.0, 150.0, "spindle load"),
            SignalSpec("feed_rate", "mm/min", 0.0, 15000.0, "path feed rate"),
            SignalSpec("axis_x", "mm", -400.0, 400.0, "X axis position"),
            SignalSpec("axis_y", "mm", -300.0, 300.0, "Y axis position"),
            SignalSpec("axis_z", "mm", -200.0, 200.0, "Z axis position"),
        ]
        if c.axes == 5:
            specs += [
                SignalSpec("axis_a", "deg", -120.0, 120.0, "A (tilt) axis position"),
                SignalSpec("axis_c", "deg", 0.0, 360.0, "C (rotary) axis position"),
            ]
        specs += [
            SignalSpec("tool_wear", "%", 0.0, 100.0, "wear of the active tool"),
            SignalSpec("coolant_temp", "degC", 10.0, 60.0, "coolant temperature"),
            SignalSpec("power", "kW", 0.0, 40.0, "electrical power"),
        ]
        return specs

    def evaluate(self, cfg: Any, seg: Segment, t: float) -> np.ndarray:
        c: CncConfig = cfg
        five = c.axes == 5
        out = seg.init.copy()
        n = out.size
        cutting = seg.state == "Executing" and seg.mode == "Processing"
        tau = t - seg.t0
        i_wear, i_cool, i_pow = n - 3, n - 2, n - 1
        if cutting and seg.op is not None:
            rpm, feed, load = _CUTTING.get(seg.op.material or "", _CUTTING_DEFAULT)
            rpm = min(rpm, c.max_spindle_rpm)
            wear = min(1.0, seg.wear0 + tau / c.tool_life)
            phase = 2.0 * math.pi * tau
            wave = np.sin(phase / np.array([20.0, 13.0, 7.0, 60.0]))
            out[0] = rpm * (1.0 + 0.005 * wave[2])
            out[1] = load * (1.0 + 0.25 * wear) + 4.0 * wave[1]
            out[2] = feed * (1.0 - 0.1 * wear)
            out[3] = 150.0 * wave[0]
            out[4] = 100.0 * wave[1]
            out[5] = -50.0 + 10.0 * wave[2]
            if five:
                out[6] = 30.0 * wave[3]
                out[7] = (tau * 6.0) % 360.0
            out[i_wear] = 100.0 * wear
            out[i_cool] = first_order(t, seg.t0, seg.init[i_cool], 32.0, 600.0)
            out[i_pow] = 2.0 + 1.5 * out[0] / 1000.0 * out[1] / 100.0
        else:
            out[0:3] = 0.0
            out[i_wear] = 100.0 * seg.wear0
            out[i_cool] = first_order(t, seg.t0, seg.init[i_cool] or 22.0, 22.0, 900.0)
            out[i_pow] = {"Executing": 3.0, "NotExecuting": 1.2, "OutOfService": 0.4}.get(
                seg.state, 0.0
            )
            if seg.mode == "Setup":
                out[3:6] = (0.0, 0.0, 150.0)
        return out
