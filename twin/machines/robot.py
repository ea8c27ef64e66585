"""6-axis robot: transfers (pick, travel, place) and assembly operations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from twin.machines.base import Dynamics, NoSetupModel, OpRequest, Outcome, Segment, lognormal_factor
from twin.model.machines import RobotConfig
from twin.signals import SignalSpec

__all__ = ["RobotModel", "travel_time"]

_HOME = np.array([0.0, -90.0, 90.0, 0.0, 90.0, 0.0])
_AMPLITUDE = np.array([120.0, 35.0, 40.0, 90.0, 45.0, 180.0])
_PERIOD = np.array([9.0, 7.0, 6.0, 5.0, 4.0, 3.0])


def travel_time(cfg: RobotConfig, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Straight-line travel between two floor positions at the robot's speed."""
    return math.dist(a, b) / cfg.speed_m_s


class RobotModel(NoSetupModel):
    """Transfer = travel to the source + pick + travel to the destination + place.
    Assembly = components x (pick + place) + screws x fasten time.
    """

    kind = "robot"
    processes = frozenset({"assembly"})

    def planned_duration(self, cfg: Any, req: OpRequest) -> float:
        c: RobotConfig = cfg
        p = req.params
        return (
            p.get("components", 0.0) * (c.pick_time + c.place_time)
            + p.get("screws", 0.0) * c.fasten_time
        )

    def outcome(
        self, cfg: Any, dyn: Dynamics, req: OpRequest, planned: float, rng: np.random.Generator
    ) -> Outcome:
        c: RobotConfig = cfg
        dyn.operations += 1
        return Outcome(actual=planned * lognormal_factor(rng, c.duration_cv))

    def signal_specs(self, cfg: Any) -> list[SignalSpec]:
        c: RobotConfig = cfg
        joints = [
            SignalSpec(f"joint_{i}", "deg", -360.0, 360.0, f"axis {i} position")
            for i in range(1, 7)
        ]
        return [
            *joints,
            SignalSpec("tcp_speed", "m/s", 0.0, c.speed_m_s * 1.5, "tool centre point speed"),
            SignalSpec("speed_override", "%", 0.0, 100.0, "speed override"),
            SignalSpec("power", "kW", 0.0, 5.0, "electrical power"),
        ]

    def evaluate(self, cfg: Any, seg: Segment, t: float) -> np.ndarray:
        c: RobotConfig = cfg
        out = seg.init.copy()
        if seg.state == "Executing":
            tau = t - seg.t0
            phase = 2.0 * math.pi * tau / _PERIOD
            out[0:6] = _HOME + _AMPLITUDE * np.sin(phase)
            out[6] = c.speed_m_s * abs(math.sin(math.pi * tau / 4.0))
            out[8] = 0.8 + 1.5 * out[6] / c.speed_m_s
        else:
            if not seg.init.any():
                out[0:6] = _HOME
            out[6] = 0.0
            out[8] = 0.3 if seg.state != "OutOfService" else 0.05
        out[7] = 100.0
        return out
