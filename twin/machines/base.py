"""The one protocol every machine kind implements, and the data it works on.

A machine model is stateless: per-machine state lives in ``Dynamics`` (owned by the engine)
and in the current ``Segment`` (the machine's state segment, from which signals follow as
closed-form functions of time so they can be sampled at any instant).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from twin.signals import SignalSpec

__all__ = [
    "Dynamics",
    "MachineModel",
    "NoSetupModel",
    "OpRequest",
    "Outcome",
    "PlanningError",
    "Segment",
    "first_order",
    "lognormal_factor",
]


class PlanningError(ValueError):
    """The operation cannot be planned on this machine (unknown material, too large, ...)."""


@dataclass(frozen=True, slots=True)
class OpRequest:
    """What an operation needs, independent of the machine that will run it.

    ``process`` selects the machine kinds that can run it: milling, printing, assembly,
    inspection, or explicit (a fixed machine and duration). ``setup_key`` identifies the
    machine set-up it needs (material, fixture); a change costs a sequence-dependent setup.
    """

    process: str
    name: str
    material: str | None = None
    setup_key: str | None = None
    params: dict[str, float] = field(default_factory=dict)
    machine: str | None = None
    duration: float | None = None


@dataclass(slots=True)
class Outcome:
    """How an operation actually goes: its duration, an abort point, and a hidden defect."""

    actual: float
    fail_at: float | None = None
    defect: bool = False
    deviation_mm: float = 0.0


@dataclass(slots=True)
class Dynamics:
    """Per-machine evolving state the models read and update (wear, counters)."""

    wear: float = 0.0
    tools_replaced: int = 0
    operations: int = 0
    last_result: float = 0.0
    last_deviation: float = 0.0


@dataclass(slots=True)
class Segment:
    """A stretch of time in one machine state; signals are functions of (segment, t).

    ``init`` holds the signal values at ``t0`` so continuous quantities (temperatures, axis
    positions) stay continuous across segments.
    """

    state: str
    mode: str
    t0: float
    t1: float
    op: OpRequest | None
    init: np.ndarray
    wear0: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


class MachineModel(Protocol):
    """Process model of one machine kind (see ``twin.machines.REGISTRY``)."""

    kind: str
    processes: frozenset[str]

    def planned_duration(self, cfg: Any, req: OpRequest) -> float:
        """Planned seconds for ``req`` on this machine; raises PlanningError if impossible."""
        ...

    def setup_time(self, cfg: Any, previous: str | None, new: str | None) -> float:
        """Sequence-dependent setup seconds to go from set-up ``previous`` to ``new``."""
        ...

    def maintenance_before(self, cfg: Any, dyn: Dynamics, planned: float) -> float:
        """Seconds of maintenance (e.g. tool replacement) needed before the next operation."""
        ...

    def outcome(
        self, cfg: Any, dyn: Dynamics, req: OpRequest, planned: float, rng: np.random.Generator
    ) -> Outcome:
        """Draw how the operation goes and update ``dyn`` (wear, counters)."""
        ...

    def signal_specs(self, cfg: Any) -> list[SignalSpec]:
        """The machine's process signals, in the order ``evaluate`` returns them."""
        ...

    def evaluate(self, cfg: Any, seg: Segment, t: float) -> np.ndarray:
        """All signal values at time ``t`` within ``seg`` (one vector, numpy)."""
        ...


class NoSetupModel:
    """Defaults for kinds without setups or maintenance between operations."""

    def setup_time(self, cfg: Any, previous: str | None, new: str | None) -> float:
        return 0.0

    def maintenance_before(self, cfg: Any, dyn: Dynamics, planned: float) -> float:
        return 0.0


def first_order(
    t: float, t0: float, start: float | np.ndarray, target: float | np.ndarray, tau: float
) -> Any:
    """First-order lag from ``start`` toward ``target``: exact at any t, no accumulated drift."""
    return target + (start - target) * math.exp(-max(t - t0, 0.0) / tau)


def lognormal_factor(rng: np.random.Generator, cv: float) -> float:
    """A multiplicative factor with mean 1 and coefficient of variation ``cv``."""
    if cv <= 0:
        return 1.0
    sigma2 = math.log(1.0 + cv * cv)
    return float(math.exp(rng.normal(-sigma2 / 2.0, math.sqrt(sigma2))))
