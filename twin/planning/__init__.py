"""Process planning: product spec -> routing (operations, eligible machines, durations).

Routings per family (an inspection step is added when the cell has an inspection station):

- machined_bracket: milling -> inspection
- printed_housing: printing -> inspection
- hybrid_part: printing (volume + machining allowance) -> milling -> inspection
- module_assembly: printing (housing) -> assembly (robot) -> inspection
- explicit: the given operations, each on its named machine with its duration
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twin.machines import REGISTRY, OpRequest, PlanningError
from twin.model.machines import MachineConfig
from twin.model.products import (
    AssemblySpec,
    BracketSpec,
    ExplicitSpec,
    HousingSpec,
    HybridSpec,
    ProductSpec,
)

__all__ = ["PlannedOp", "Planner", "PlanningError", "operation_requests"]


@dataclass(frozen=True, slots=True)
class PlannedOp:
    """One routing step: its request and planned seconds on each eligible machine."""

    req: OpRequest
    durations: dict[str, float]
    rework: bool = False

    @property
    def candidates(self) -> tuple[str, ...]:
        return tuple(self.durations)

    @property
    def min_duration(self) -> float:
        return min(self.durations.values())


def operation_requests(spec: ProductSpec, with_inspection: bool = True) -> list[OpRequest]:
    """The machine-independent operations a spec needs, in order."""
    reqs: list[OpRequest]
    if isinstance(spec, ExplicitSpec):
        return [
            OpRequest("explicit", op.name or f"op{i}", machine=op.machine, duration=op.duration)
            for i, op in enumerate(spec.operations)
        ]
    if isinstance(spec, BracketSpec):
        reqs = [
            _milling(
                spec.material,
                spec.fixture,
                spec.removal_volume_cm3(),
                spec.holes,
                spec.pockets,
                spec.surfaces,
            )
        ]
    elif isinstance(spec, HousingSpec):
        reqs = [_printing(spec.material, spec.volume_cm3, spec.layers, spec.height_mm)]
    elif isinstance(spec, HybridSpec):
        reqs = [
            _printing(
                spec.material,
                spec.volume_cm3 + spec.machining_allowance_cm3,
                spec.layers,
                spec.height_mm,
            ),
            _milling(
                spec.material,
                spec.fixture,
                spec.machining_allowance_cm3,
                spec.holes,
                0,
                spec.surfaces,
            ),
        ]
    elif isinstance(spec, AssemblySpec):
        reqs = [
            _printing(
                spec.housing_material, spec.housing_volume_cm3, spec.layers, spec.housing_height_mm
            ),
            OpRequest(
                "assembly",
                "assemble",
                params={"components": spec.components, "screws": spec.screws},
            ),
        ]
    else:  # pragma: no cover - the discriminated union has no other members
        raise PlanningError(f"no process plan for {type(spec).__name__}")
    if with_inspection:
        reqs.append(
            OpRequest("inspection", "inspect", params={"features": float(spec.feature_count())})
        )
    return reqs


def _milling(
    material: str, fixture: str, removal: float, holes: int, pockets: int, surfaces: int
) -> OpRequest:
    return OpRequest(
        "milling",
        "mill",
        material=material,
        setup_key=f"{material}|{fixture}",
        params={"removal_cm3": removal, "holes": holes, "pockets": pockets, "surfaces": surfaces},
    )


def _printing(material: str, volume: float, layers: int, height: float) -> OpRequest:
    return OpRequest(
        "printing",
        "print",
        material=material,
        setup_key=material,
        params={"volume_cm3": volume, "layers": layers, "height_mm": height},
    )


class Planner:
    """Plans routings for one cell: which machines can run each operation, and how long."""

    def __init__(self, machines: Sequence[MachineConfig]) -> None:
        self._machines = list(machines)
        self._by_id = {m.id: m for m in self._machines}
        self._has_inspection = any(m.kind == "inspection" for m in self._machines)

    def plan(self, spec: ProductSpec) -> list[PlannedOp]:
        """Routing for ``spec``; raises PlanningError naming the operation that has no machine."""
        ops = []
        for req in operation_requests(spec, self._has_inspection):
            ops.append(PlannedOp(req, self.durations(req)))
        return ops

    def durations(self, req: OpRequest) -> dict[str, float]:
        """Planned seconds on every machine able to run ``req``."""
        if req.process == "explicit":
            cfg = self._by_id.get(req.machine or "")
            if cfg is None:
                raise PlanningError(f"operation {req.name!r}: unknown machine {req.machine!r}")
            return {cfg.id: float(req.duration or 0.0)}
        out: dict[str, float] = {}
        reasons: list[str] = []
        for cfg in self._machines:
            model = REGISTRY[cfg.kind]
            if req.process not in model.processes:
                continue
            try:
                out[cfg.id] = model.planned_duration(cfg, req)
            except PlanningError as exc:
                reasons.append(str(exc))
        if not out:
            why = "; ".join(reasons) or f"the cell has no machine for {req.process}"
            raise PlanningError(f"operation {req.name!r} ({req.process}): {why}")
        return out
