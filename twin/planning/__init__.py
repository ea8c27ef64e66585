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
from functools import partial
from typing import Any

import numpy as np

from twin.errors import ConfigError
from twin.machines import REGISTRY, OpRequest, PlanningError
from twin.model.machines import MachineConfig
from twin.model.products import PRODUCT_FAMILIES, ProductSpec
from twin.model.scenario import CatalogueEntry, OrderConfig, Scenario

__all__ = [
    "ColumnOp",
    "PlannedOp",
    "Planner",
    "PlanningError",
    "SpecColumns",
    "check_catalogue",
    "check_plannable",
    "operation_requests",
    "plan_catalogue",
    "plan_orders",
]


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


def operation_requests(spec: Any, with_inspection: bool = True) -> list[OpRequest]:
    """The machine-independent operations a spec needs, in order.

    ``spec`` is a ProductSpec, or a ``SpecColumns`` holding many specs of one family whose
    numeric attributes are numpy columns: the same formulas then give parameter columns.
    """
    reqs: list[OpRequest]
    family = spec.type
    if family == "explicit":
        return [
            OpRequest("explicit", op.name or f"op{i}", machine=op.machine, duration=op.duration)
            for i, op in enumerate(spec.operations)
        ]
    if family == "machined_bracket":
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
    elif family == "printed_housing":
        reqs = [_printing(spec.material, spec.volume_cm3, spec.layers, spec.height_mm)]
    elif family == "hybrid_part":
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
    elif family == "module_assembly":
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
        raise PlanningError(f"no process plan for product family {family!r}")
    if with_inspection:
        # * 1.0: a float, or a float column
        reqs.append(
            OpRequest("inspection", "inspect", params={"features": spec.feature_count() * 1.0})
        )
    return reqs


class SpecColumns:
    """Many specs of one product family at once: attributes are numpy columns (one value per
    spec) or plain values shared by all. The family's own methods and properties run on it
    unchanged, so block planning uses the very formulas of single-spec planning."""

    def __init__(self, family: type[Any], values: dict[str, Any]) -> None:
        self.__dict__.update(values)
        self._family = family

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._family, name)
        if isinstance(attr, property):
            return attr.fget(self)  # type: ignore[misc]
        return partial(attr, self)


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


class ColumnOp:
    """One routing step for a block of specs: parameters and durations are numpy columns."""

    __slots__ = ("_durations", "_params", "durations", "req")

    def __init__(self, req: OpRequest, durations: dict[str, np.ndarray]) -> None:
        self.req = req
        self.durations = durations
        # as Python lists once (tolist gives what .item() would), for cheap rows
        self._params: list[tuple[str, Any, bool]] = [
            (k, v.tolist(), True) if isinstance(v, np.ndarray) else (k, v, False)
            for k, v in req.params.items()
        ]
        self._durations: list[tuple[str, list[float]]] = [
            (m, d.tolist()) for m, d in durations.items()
        ]

    def row(self, i: int) -> PlannedOp:
        """The PlannedOp of spec ``i``: exactly what ``Planner.plan`` gives for that spec."""
        req = self.req
        return PlannedOp(
            OpRequest(
                req.process,
                req.name,
                req.material,
                req.setup_key,
                {k: v[i] if column else v for k, v, column in self._params},
                req.machine,
                req.duration,
            ),
            {m: d[i] for m, d in self._durations},
        )


def plan_orders(
    scenario: Scenario, planner: Planner, source: str
) -> list[tuple[OrderConfig, list[PlannedOp]]]:
    """Every explicit order of ``scenario`` with its routing; raises ConfigError (naming
    ``source`` and ``orders[i].product``) for one the cell cannot make."""
    planned = []
    for i, order in enumerate(scenario.orders):
        try:
            planned.append((order, planner.plan(order.product)))
        except PlanningError as exc:
            raise ConfigError(source, f"orders[{i}].product", str(exc)) from exc
    return planned


def check_plannable(scenario: Scenario, source: str) -> None:
    """Raise ConfigError (naming ``source`` and the field) unless the cell can make every
    explicit order and the extreme configurations of every catalogue entry."""
    planner = Planner(scenario.cell.machines)
    plan_orders(scenario, planner, source)
    check_catalogue(scenario, source, planner)


def plan_catalogue(
    scenario: Scenario, planner: Planner, source: str
) -> list[tuple[CatalogueEntry, list[list[PlannedOp]]]]:
    """Every catalogue entry with the routings of its extreme configurations; raises
    ConfigError (naming ``source`` and ``catalogue[i]``) for one the cell cannot make."""
    planned = []
    for i, entry in enumerate(scenario.catalogue):
        routings = []
        for corner in entry.corners():
            spec: Any = PRODUCT_FAMILIES[entry.family].model_validate(corner)
            try:
                routings.append(planner.plan(spec))
            except PlanningError as exc:
                raise ConfigError(
                    source,
                    f"catalogue[{i}]",
                    f"{entry.id!r} can draw a part the cell cannot make: {exc}",
                ) from exc
        planned.append((entry, routings))
    return planned


def check_catalogue(scenario: Scenario, source: str, planner: Planner | None = None) -> None:
    """Raise ConfigError unless the cell can make the extreme configurations of every
    catalogue entry the arrivals draw from (checked once, before a run)."""
    plan_catalogue(scenario, planner or Planner(scenario.cell.machines), source)


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

    def plan_columns(self, specs: SpecColumns, n: int) -> list[ColumnOp]:
        """Routing of ``n`` specs of one family at once: each operation's request (numpy
        parameter columns) and a column of planned seconds per eligible machine. Raises
        PlanningError when a machine cannot run the operation for some of the specs (plan
        those one by one)."""
        out: list[ColumnOp] = []
        for req in operation_requests(specs, self._has_inspection):
            durations = {
                m: np.broadcast_to(np.asarray(d, dtype=np.float64), (n,))
                for m, d in self.durations(req, strict=True).items()
            }
            out.append(ColumnOp(req, durations))
        return out

    def durations(self, req: OpRequest, strict: bool = False) -> dict[str, float]:
        """Planned seconds on every machine able to run ``req``; with ``strict``, a machine of
        the right kind that cannot run it raises instead of being left out."""
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
                if strict:
                    raise
                reasons.append(str(exc))
        if not out:
            why = "; ".join(reasons) or f"the cell has no machine for {req.process}"
            raise PlanningError(f"operation {req.name!r} ({req.process}): {why}")
        return out
