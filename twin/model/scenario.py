"""The scenario: the cell, its product catalogue, orders, faults and run parameters."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from twin.model.base import StrictModel
from twin.model.machines import MachineConfig
from twin.model.products import PRODUCT_FAMILIES, ExplicitSpec, ProductSpec
from twin.model.units import (
    NonNegDuration,
    PositiveDuration,
    SecondOrMore,
    meant_option,
    number_text,
)

__all__ = [
    "ARRIVAL_ID",
    "DISPATCH_RULES",
    "EARLIEST_START",
    "FAULT_KINDS",
    "LATEST_START",
    "Arrivals",
    "CatalogueEntry",
    "CellConfig",
    "FaultConfig",
    "OrderConfig",
    "Scenario",
    "fault_misfit",
    "scenario_notes",
]

DISPATCH_RULES = ("FIFO", "SPT", "EDD", "ATC", "CR")
ARRIVAL_ID = re.compile(r"A\d{6,}")  # the ids the arrival process gives: A000001, A000002, ...
#: the range of a scenario's ``start``: telemetry timestamps are int64 nanoseconds since the
#: Unix epoch, from 1970 up to 2262-04-11T23:47:16Z; a run's end is checked against that
EARLIEST_START = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_START = datetime(2262, 1, 1, tzinfo=UTC)
FAULT_KINDS = ("breakdown", "tool_breakage", "emergency_stop", "print_failure", "maintenance")


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


#: any case, as ``twin simulate --rule`` takes it; stored in capitals
RuleName = Annotated[Literal["FIFO", "SPT", "EDD", "ATC", "CR"], BeforeValidator(_upper)]
FaultKind = Literal["breakdown", "tool_breakage", "emergency_stop", "print_failure", "maintenance"]
#: the fault kinds that only one machine kind can have
_FAULT_MACHINE_KIND = {"tool_breakage": "cnc", "print_failure": "printer"}


def fault_misfit(kind: str, machine: MachineConfig) -> str | None:
    """Why a fault of ``kind`` cannot happen on ``machine`` (a tool breakage on a machine
    without a cutting tool, a print failure on one that does not print), or None."""
    needs = _FAULT_MACHINE_KIND.get(kind)
    if needs is None or machine.kind == needs:
        return None
    return f"a {kind} happens on a {needs} machine only; {machine.id!r} is of kind {machine.kind}"


class CellConfig(StrictModel):
    """The cell: its machines (with their buffers) and which robot serves transfers.

    ``transport`` names the robot that moves every part; without one (e.g. a converted job-shop
    instance) transfers take no time. Parts that cannot go on to a full machine wait in the
    cell's central ``storage`` so that finite buffers block but never deadlock.
    """

    name: str = Field(
        "cell-1", pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$", description="the cell's name (OPC UA)"
    )
    machines: list[MachineConfig] = Field(
        min_length=1, description="`[[cell.machines]]`, one table per machine (below)"
    )
    transport: str | None = Field(
        None,
        description="the robot that moves every part; none: the first robot, and with no"
        " robot transfers take no time",
    )
    storage_position: tuple[float, float] = Field(
        (0.0, 0.0),
        description="the central storage [x, y], where parts enter, wait and leave",
        json_schema_extra={"unit": "m"},
    )

    @model_validator(mode="after")
    def _check(self) -> CellConfig:
        seen: set[str] = set()
        for i, m in enumerate(self.machines):
            if m.id in seen:
                raise ValueError(f"machines[{i}].id: duplicate machine id {m.id!r}")
            seen.add(m.id)
        if self.transport is not None:
            robot = next((m for m in self.machines if m.id == self.transport), None)
            if robot is None:
                has = ", ".join(m.id for m in self.machines)
                raise ValueError(f"transport: unknown machine {self.transport!r} (cell has: {has})")
            if robot.kind != "robot":
                raise ValueError(
                    f"transport: {self.transport!r} is of kind {robot.kind}, not a robot"
                )
        return self

    def machine(self, machine_id: str) -> MachineConfig:
        for m in self.machines:
            if m.id == machine_id:
                return m
        raise KeyError(machine_id)

    @property
    def transport_robot(self) -> str | None:
        """The robot serving transfers: ``transport`` or else the first robot, if any."""
        if self.transport is not None:
            return self.transport
        return next((m.id for m in self.machines if m.kind == "robot"), None)


class CatalogueEntry(StrictModel):
    """A product family with how its unique configurations vary.

    ``fixed`` values are the same for every order, ``ranges`` are drawn uniformly (integers
    when both bounds are integers), ``choices`` are drawn from the list; a parameter is in one
    of the three at most (in two, one would be silently ignored).
    """

    id: str = Field(description="unique in the catalogue; arrivals.mix names it")
    family: str = Field(
        description="machined_bracket, printed_housing, hybrid_part or module_assembly"
    )
    weight: float = Field(1.0, gt=0, description="the family's share of the arrivals")
    fixed: dict[str, float | int | str] = Field(
        default_factory=dict, description="parameter = value, the same for every order"
    )
    ranges: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="parameter = [min, max], drawn uniformly (integers for integer parameters)",
    )
    choices: dict[str, list[float | int | str]] = Field(
        default_factory=dict, description="parameter = [options], one drawn uniformly"
    )

    def corners(self) -> list[dict[str, object]]:
        """Extreme configurations: every range at its low and at its high end, each with the
        first option of every choice and with every single option in turn."""
        base: dict[str, object] = {"type": self.family, **self.fixed}
        base.update({n: opts[0] for n, opts in self.choices.items()})
        out = []
        for end in (0, 1):
            ends = {**base, **{n: bounds[end] for n, bounds in self.ranges.items()}}
            out.append(ends)
            out.extend({**ends, n: o} for n, opts in self.choices.items() for o in opts[1:])
        return out

    @model_validator(mode="after")
    def _check(self) -> CatalogueEntry:
        family = PRODUCT_FAMILIES.get(self.family)
        if family is None or family is ExplicitSpec:
            known = ", ".join(k for k in PRODUCT_FAMILIES if k != "explicit")
            raise ValueError(f"unknown product family {self.family!r} (known: {known})")
        fields = set(family.model_fields) - {"type"}
        groups: dict[str, Iterable[str]] = {
            "fixed": self.fixed,
            "choices": self.choices,
            "ranges": self.ranges,
        }
        where: dict[str, str] = {}
        for group_name, group in groups.items():
            for name in group:
                if name not in fields:
                    has = ", ".join(sorted(fields))
                    raise ValueError(f"{self.family} has no parameter {name!r} (has: {has})")
                if name in where:
                    raise ValueError(
                        f"{group_name}.{name}: also in {where[name]}; give a parameter in one"
                        " of fixed, choices and ranges"
                    )
                where[name] = group_name
        for name, (lo, hi) in self.ranges.items():
            if lo > hi:
                raise ValueError(
                    f"ranges.{name}: [{number_text(lo)}, {number_text(hi)}] has min > max"
                )
        for name, options in self.choices.items():
            if not options:
                raise ValueError(f"choices {name} is empty")
        # every drawn configuration must be a valid spec: check the corners once, here
        corners = self.corners()
        for corner in corners:
            try:
                family.model_validate(corner)
            except ValidationError as exc:
                raise ValueError(self._corner_error(exc)) from None
        return self

    def _corner_error(self, exc: ValidationError) -> str:
        """``group.name: why, got value`` for a drawn configuration ``family`` refuses: named
        where the user wrote the value (``ranges``, ``choices`` or ``fixed``)."""
        err = exc.errors(include_url=False)[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["loc"]:
            name, got = str(err["loc"][0]), f", got {number_text(err['input'])}{meant_option(err)}"
        else:  # the spec's check of its numbers names the field and says what it got
            name, _, msg = msg.partition(": ")
            got = ""
        if name in self.ranges:
            end = "low" if err["input"] == self.ranges[name][0] else "high"
            return f"ranges.{name}: {msg}{got} at the range's {end} end"
        if name in self.choices:
            return f"choices.{name}: {msg}{got}"
        if name in self.fixed:
            return f"fixed.{name}: {msg}{got}"
        loc = ".".join(str(x) for x in err["loc"])
        return f"{loc}: {msg} (a {self.family} drawn from ranges/choices)"


class Arrivals(StrictModel):
    """A seeded arrival process of random product configurations from the catalogue."""

    mean_interarrival: SecondOrMore = Field(description="mean time between two orders")
    distribution: Literal["exponential", "fixed", "uniform"] = Field(
        "exponential", description="of the time between orders; uniform: 0 to twice the mean"
    )
    count: int | None = Field(None, ge=0, description="stop after this many orders; none: no limit")
    until: NonNegDuration | None = Field(
        None, description="no arrivals after this time; none: up to the end of the run"
    )
    due_factor: float = Field(
        3.0, gt=0, description="due = arrival + factor x planned work (shortest machines)"
    )
    mix: dict[str, float] = Field(
        default_factory=dict,
        description="catalogue id = weight: only these entries, with these weights; empty:"
        " every entry, by its weight",
        json_schema_extra={"allowed": "values ≥ 0, one > 0"},
    )

    @field_validator("mix")
    @classmethod
    def _weights_draw(cls, mix: dict[str, float]) -> dict[str, float]:
        # the draw divides by the sum: a negative weight would be used as a ratio, weights
        # summing to 0 would make every arrival the first entry
        for name, weight in mix.items():
            if weight < 0:
                raise ValueError(f"{name!r} has a negative weight ({number_text(weight)})")
        if mix and not any(mix.values()):
            raise ValueError("every weight is 0: give at least one entry a weight above 0")
        return mix


class OrderConfig(StrictModel):
    """One explicit order: a unique product configuration, release time and due date."""

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        max_length=64,
        description="unique; A and 6 or more digits are the arrival process's ids",
    )
    product: ProductSpec = Field(description="the product: its family's `type` and parameters")
    release: NonNegDuration = Field(0.0, description="time from the scenario start")
    due: NonNegDuration | None = Field(
        None,
        description="due time from the scenario start (not from the release); none: release"
        " + due_factor (the arrivals', else 3) x planned work",
    )
    weight: float = Field(
        1.0,
        gt=0,
        description="the order's weight in the ATC rule's index (w / p); other rules ignore it",
    )


class FaultConfig(StrictModel):
    """A scheduled fault: the machine goes out of service at ``at`` for ``duration``."""

    machine: str = Field(description="the machine's id")
    at: NonNegDuration = Field(description="time from the scenario start")
    duration: PositiveDuration = Field(description="how long the machine is out of service")
    kind: FaultKind = Field(
        "breakdown", description="tool_breakage on a CNC only, print_failure on a printer only"
    )


class Scenario(StrictModel):
    """Everything one run needs; pure data, validated on load."""

    name: str = Field("scenario", description="the scenario's name")
    description: str = Field("", description="free text")
    # strict: the seed is the run's identity (recorded with it, the same for a replay), an
    # integer TOML writes as one; a quoted number or a boolean is a slip, not a seed
    seed: StrictInt = Field(
        0, ge=0, description="all randomness derives from it; an integer, not quoted"
    )
    horizon: PositiveDuration = Field(7 * 86400.0, description="the run's length")
    start: datetime = Field(
        datetime(2026, 1, 5, 6, 0, tzinfo=UTC),
        description="date-time of simulated time 0, with a time zone (timestamps = start + time)",
    )
    rule: RuleName = Field(
        "EDD", description="dispatching rule: FIFO, SPT, EDD, ATC or CR, in any case"
    )
    atc_k: float = Field(2.0, gt=0, description="ATC's look-ahead parameter")
    max_wip: int | None = Field(
        12,
        ge=0,
        description="jobs in the cell at once (released and not yet completed, scrapped,"
        " stopped or cancelled; a paused job counts); 0: no cap; the others wait in the backlog",
    )
    cell: CellConfig = Field(description="`[cell]` (below)")
    catalogue: list[CatalogueEntry] = Field(
        default_factory=list, description="`[[catalogue]]`: the product families arrivals draw"
    )
    arrivals: Arrivals | None = Field(
        None, description="`[arrivals]`: the seeded arrival process; none: explicit orders only"
    )
    orders: list[OrderConfig] = Field(default_factory=list, description="`[[orders]]`")
    faults: list[FaultConfig] = Field(
        default_factory=list, description="`[[faults]]`: scheduled faults"
    )

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        machines = {m.id: m for m in self.cell.machines}
        seen: set[str] = set()
        for i, order in enumerate(self.orders):
            if order.id in seen:
                raise ValueError(f"orders[{i}].id: duplicate order id {order.id!r}")
            if self.arrivals is not None and ARRIVAL_ID.fullmatch(order.id):
                raise ValueError(
                    f"orders[{i}].id: {order.id!r} is reserved for the arrival process (A and"
                    " 6 or more digits)"
                )
            seen.add(order.id)
            unknown = (
                order.product.unknown_machine(machines)
                if isinstance(order.product, ExplicitSpec)
                else None
            )
            if unknown is not None:
                raise ValueError(f"orders[{i}].product.{unknown[0]}: {unknown[1]}")
        for i, fault in enumerate(self.faults):
            if fault.machine not in machines:
                raise ValueError(f"faults[{i}].machine: unknown machine {fault.machine!r}")
            misfit = fault_misfit(fault.kind, machines[fault.machine])
            if misfit is not None:
                raise ValueError(f"faults[{i}].kind: {misfit}")
        cat = {c.id for c in self.catalogue}
        if len(cat) != len(self.catalogue):
            raise ValueError("catalogue: duplicate catalogue id")
        if self.arrivals is not None:
            if not self.catalogue:
                raise ValueError("arrivals: needs a [[catalogue]] to draw products from")
            for name in self.arrivals.mix:
                if name not in cat:
                    raise ValueError(f"arrivals.mix: unknown catalogue id {name!r}")
        if self.start.tzinfo is None:
            raise ValueError("start: give a time zone, e.g. 2026-01-05T06:00:00Z")
        if not EARLIEST_START <= self.start < LATEST_START:
            raise ValueError(
                f"start: {self.start.isoformat()} is out of range: give a time from"
                f" {EARLIEST_START:%Y-%m-%d} and before {LATEST_START:%Y-%m-%d} (telemetry"
                " timestamps are nanoseconds since 1970 in 64 bits, which end on 2262-04-11)"
            )
        return self


_CELL_SPAN_M = 100.0  # farther than this from the origin, a machine's position is a slip


def scenario_notes(sc: Scenario, until: float | None = None) -> list[str]:
    """What is valid in ``sc`` but probably not meant, for a run to ``until`` (default: the
    horizon): things that cannot happen in the run, and orders late before they start."""
    end = sc.horizon if until is None else until
    notes = []
    for i, fault in enumerate(sc.faults):
        if fault.at >= end:
            notes.append(
                f"faults[{i}].at: {fault.at:g} s is not before the end of the run ({end:g} s);"
                " this fault does not happen"
            )
    for i, order in enumerate(sc.orders):
        if order.release >= end:
            notes.append(
                f"orders[{i}].release: {order.id!r} is released at {order.release:g} s, not"
                f" before the end of the run ({end:g} s); it does not start"
            )
        if order.due is not None and order.due < order.release:
            notes.append(
                f"orders[{i}].due: {order.id!r} is due at {order.due:g} s, before its release"
                f" ({order.release:g} s): it is late from the start (due is a time from the"
                " scenario start, not from the release)"
            )
    for i, m in enumerate(sc.cell.machines):
        x, y = m.position
        if max(abs(x), abs(y)) > _CELL_SPAN_M:
            notes.append(
                f"cell.machines[{i}].position: [{x:g}, {y:g}] is over {_CELL_SPAN_M:g} m from"
                " the floor's origin: positions are in metres (millimetres would make every"
                " robot transfer a thousand times longer)"
            )
    after = [o.id for o in sc.orders if o.due is not None and o.release < end < o.due]
    if after:  # one note for them all: a scenario may list hundreds
        shown = ", ".join(repr(i) for i in after[:5]) + (", ..." if len(after) > 5 else "")
        notes.append(
            f"orders: {len(after)} due after the end of the run ({end:g} s): {shown}; if"
            " unfinished then, they count neither as late nor as open past due"
        )
    return notes
