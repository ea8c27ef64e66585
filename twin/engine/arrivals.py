"""Random unique product configurations drawn from the catalogue (seeded), planned in blocks.

Arrivals are drawn a block at a time: one numpy call gives the random numbers of 1,024
orders, their parameters are computed as numpy columns, and each family's routing is planned
for all its orders of the block at once (``Planner.plan_columns``, the same formulas as
single-spec planning, evaluated on columns). An order only gets its list of PlannedOps and
its validated ProductSpec when something needs them (``DrawnGroup.routing`` and ``.spec``;
a flowing job needs only its routing): most orders of an overloaded cell wait in the
backlog, and the per-order cost of intake is what bounds a long run (profiled: ~22 us per
order planned one by one, ~3 us in blocks).

The catalogue's bounds were validated when the scenario was loaded, so a drawn spec always
validates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twin.machines import PlanningError
from twin.model.products import PRODUCT_FAMILIES
from twin.model.scenario import Arrivals, CatalogueEntry
from twin.planning import ColumnOp, PlannedOp, Planner, SpecColumns

__all__ = ["BLOCK", "DrawnGroup", "ProductSampler", "interarrivals"]

BLOCK = 1024


class _Family:
    __slots__ = ("base", "choices", "cls", "id", "ranges", "type")

    def __init__(self, entry: CatalogueEntry) -> None:
        self.id = entry.id
        self.type = entry.family
        self.cls: Any = PRODUCT_FAMILIES[entry.family]
        ints = {n for n, f in self.cls.model_fields.items() if f.annotation is int}
        first = {n: opts[0] for n, opts in entry.choices.items()}
        low = {n: lo for n, (lo, _) in entry.ranges.items()}
        # validated values (defaults, fixed, every choice) as the spec itself holds them
        proto = self.cls.model_validate({"type": entry.family, **entry.fixed, **first, **low})
        values = proto.model_dump()
        self.base: dict[str, Any] = {
            k: v for k, v in values.items() if k not in entry.ranges and k not in entry.choices
        }
        self.ranges = [(n, float(lo), float(hi), n in ints) for n, (lo, hi) in entry.ranges.items()]
        self.choices = [
            (n, [getattr(self.cls.model_validate({**values, n: o}), n) for o in opts])
            for n, opts in entry.choices.items()
        ]


class DrawnGroup:
    """Drawn orders of one family sharing every choice (material, fixture, ...): their varying
    parameters are columns, and their routing was planned for all of them at once."""

    __slots__ = (
        "chosen",
        "columns",
        "errors",
        "family",
        "operations",
        "ops",
        "planned",
        "values",
        "work",
    )

    def __init__(
        self, family: _Family, values: dict[str, Any], columns: list[str], n: int, planner: Planner
    ) -> None:
        self.family = family
        self.values = values
        # varying parameters as Python lists (tolist gives what .item() would), for cheap specs
        self.columns: list[tuple[str, list[Any]]] = [(c, values[c].tolist()) for c in columns]
        self.chosen: dict[str, Any] = {name: values[name] for name, _ in family.choices}
        self.planned: list[list[PlannedOp]] | None = None
        self.errors: dict[int, str] = {}
        try:
            self.ops: list[ColumnOp] = planner.plan_columns(SpecColumns(family.cls, values), n)
            work: Any = 0.0
            for op in self.ops:
                work = work + np.minimum.reduce(list(op.durations.values()))
            self.work: list[float] = np.broadcast_to(work, (n,)).tolist()
        except PlanningError:
            # some machine cannot take some of these specs: plan them one by one; a spec no
            # machine can make fails when (if) it arrives, as a single planned order would
            self.ops = []
            self.planned = []
            self.work = []
            for i in range(n):
                spec = self.spec(i)
                try:
                    ops = planner.plan(spec)
                except PlanningError as exc:
                    self.errors[i] = f"cannot plan {spec!r}: {exc}"
                    ops = []
                self.planned.append(ops)
                self.work.append(sum(op.min_duration for op in ops))
        self.operations = len(self.op_names())

    def op_names(self) -> list[str]:
        if self.planned is not None:  # every spec of a family has the same operations
            return [op.req.name for op in max(self.planned, key=len)]
        return [op.req.name for op in self.ops]

    def params(self, i: int) -> dict[str, Any]:
        """What was drawn for order ``i``: its choices and range values (the rest of its spec
        is the catalogue entry's fixed values and defaults)."""
        drawn = dict(self.chosen)
        for name, column in self.columns:
            drawn[name] = column[i]
        return drawn

    def spec(self, i: int) -> Any:
        params = dict(self.values)
        for name, column in self.columns:
            params[name] = column[i]
        # pydantic-core validation (~3 us) is cheaper than model_construct (~15 us)
        return self.family.cls.model_validate(params)

    def routing(self, i: int) -> list[PlannedOp]:
        """The routing of order ``i`` (what ``Planner.plan`` gives for its spec)."""
        if self.planned is not None:
            return self.planned[i]
        return [op.row(i) for op in self.ops]


class ProductSampler:
    """Draws a catalogue entry by weight, then its varying parameters, a block at a time.

    ``next()`` returns the group and index of the next order, and its planned work (seconds
    on the fastest eligible machines); it raises PlanningError for a spec no machine can make.
    """

    def __init__(
        self,
        catalogue: list[CatalogueEntry],
        mix: dict[str, float],
        rng: np.random.Generator,
        planner: Planner,
    ) -> None:
        entries = [c for c in catalogue if not mix or c.id in mix]
        weights = np.array([mix.get(c.id, c.weight) if mix else c.weight for c in entries])
        self.cum = np.cumsum(weights / weights.sum())
        self.families = [_Family(c) for c in entries]
        self.width = 1 + max(len(f.ranges) + len(f.choices) for f in self.families)
        self.rng = rng
        self.planner = planner
        self._groups: list[DrawnGroup] = []
        self._index: list[int] = []
        self._work: list[float] = []
        self._row = 0

    def next(self) -> tuple[DrawnGroup, int, float]:
        if self._row >= len(self._groups):
            self._draw_block()
        r = self._row
        self._row = r + 1
        group, i = self._groups[r], self._index[r]
        if group.errors and i in group.errors:
            raise PlanningError(group.errors[i])
        return group, i, self._work[r]

    def _draw_block(self) -> None:
        u = self.rng.random((BLOCK, self.width))
        fam_of = np.minimum(
            np.searchsorted(self.cum, u[:, 0], side="right"), len(self.families) - 1
        )
        groups: list[DrawnGroup | None] = [None] * BLOCK
        index = np.zeros(BLOCK, dtype=np.int64)
        work = np.zeros(BLOCK)
        for f, fam in enumerate(self.families):
            rows = np.flatnonzero(fam_of == f)
            if rows.size == 0:
                continue
            cols: dict[str, np.ndarray] = {}
            k = 1
            for name, lo, hi, is_int in fam.ranges:
                x = u[rows, k]
                if is_int:
                    cols[name] = (
                        (lo + x * (hi - lo + 1)).astype(np.int64)
                        if hi > lo
                        else np.full(rows.size, int(lo), dtype=np.int64)
                    )
                else:
                    cols[name] = np.round(lo + x * (hi - lo), 3)
                k += 1
            # one group per combination of choices
            code = np.zeros(rows.size, dtype=np.int64)
            picks: list[np.ndarray] = []
            for _, options in fam.choices:
                pick = (u[rows, k] * len(options)).astype(np.int64)
                picks.append(pick)
                code = code * len(options) + pick
                k += 1
            for c in np.unique(code):
                sel = np.flatnonzero(code == c)
                first = sel[0]
                values = dict(fam.base)
                for (name, options), pick in zip(fam.choices, picks, strict=True):
                    values[name] = options[pick[first]]
                for name, col in cols.items():
                    values[name] = col[sel]
                group = DrawnGroup(fam, values, list(cols), sel.size, self.planner)
                at = rows[sel]
                for r in at.tolist():
                    groups[r] = group
                index[at] = np.arange(sel.size)
                work[at] = group.work
        self._groups = groups  # type: ignore[assignment]  # every row belongs to a family
        self._index = index.tolist()
        self._work = work.tolist()
        self._row = 0


def interarrivals(arr: Arrivals, rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds between the next ``n`` arrivals (the same numbers as ``n`` single draws)."""
    if arr.distribution == "fixed":
        return np.full(n, float(arr.mean_interarrival))
    if arr.distribution == "uniform":
        return rng.uniform(0.0, 2.0 * arr.mean_interarrival, size=n)
    return rng.exponential(arr.mean_interarrival, size=n)
