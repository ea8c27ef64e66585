"""``twin scenario``: validate, show, and convert job-shop instances."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import tomli_w
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twin.jsp import jsp_scenario
from twin.machines import REGISTRY
from twin.model import PRODUCT_FAMILIES, load_scenario, parse_scenario
from twin.model.machines import MachineConfig
from twin.model.reference import own_fields, value_text
from twin.model.scenario import Scenario, scenario_notes
from twin.model.units import duration_bound, duration_text
from twin.planning import (
    PlannedOp,
    Planner,
    check_plannable,
    operation_requests,
    plan_catalogue,
    plan_orders,
)
from twin.text import plural

__all__ = ["register"]

scenario_app = typer.Typer(
    help="Validate, inspect and create scenario files.", no_args_is_help=True
)


@scenario_app.command("validate")
def validate(scenario: Annotated[Path, typer.Argument(help="scenario TOML file")]) -> None:
    """Check SCENARIO, and that the cell can make every explicit order and every
    configuration the catalogue can draw."""
    sc = load_scenario(scenario)
    check_plannable(sc, str(scenario))
    print(
        f"{scenario}: ok ({plural(len(sc.cell.machines), 'machine')}, "
        f"{plural(len(sc.orders), 'order')}, "
        f"{plural(len(sc.catalogue), 'catalogue entry', 'catalogue entries')})"
    )
    for note in [*scenario_notes(sc), *material_notes(sc)]:
        print(f"{scenario}: note: {note}")


_VERBS = {"milling": "mill", "printing": "print"}


def material_notes(sc: Scenario) -> list[str]:
    """Per machine, the materials the catalogue draws for its kind of work that it cannot
    process (not in its rate table) while another machine can: valid, as the other machine
    takes that work, but maybe a slip. (When no machine can, planning refuses the scenario.)"""
    machines = sc.cell.machines
    lacking: dict[tuple[int, str], dict[str, dict[str, None]]] = {}  # -> material -> entries
    for entry in sc.catalogue:
        family = PRODUCT_FAMILIES[entry.family]
        for corner in entry.corners():
            for req in operation_requests(family.model_validate(corner), with_inspection=False):
                for i, m in enumerate(machines):
                    known = m.materials()
                    if req.process not in REGISTRY[m.kind].processes or known is None:
                        continue
                    if req.material is not None and req.material not in known:
                        by_material = lacking.setdefault((i, req.process), {})
                        by_material.setdefault(req.material, {})[entry.id] = None
    notes = []
    for (i, process), by_material in lacking.items():
        m = machines[i]
        for material, entries in by_material.items():
            able = [
                o.id
                for o in machines
                if process in REGISTRY[o.kind].processes and material in (o.materials() or ())
            ]
            drawn = ", ".join(repr(e) for e in entries)
            notes.append(
                f"cell.machines[{i}].{m.material_table}: {m.id} cannot {_VERBS[process]}"
                f" {material} (catalogue {drawn} draws it); only {', '.join(able)} can"
            )
    return notes


@scenario_app.command("show")
def show(scenario: Annotated[Path, typer.Argument(help="scenario TOML file")]) -> None:
    """Print the cell, the catalogue and the routings of its products and of the explicit
    orders (eligible machines and planned seconds per operation)."""
    sc = load_scenario(scenario)
    routings = _routings(sc, str(scenario))
    console = Console()
    # no "name: " with nothing after it when the scenario has no description; the texts are
    # the user's, printed as written (a "[red]" in a description is no markup)
    title = f"[bold]{escape(sc.name)}[/bold]"
    console.print(f"{title}: {escape(sc.description)}" if sc.description.strip() else title)
    console.print(
        f"seed {sc.seed}, horizon {sc.horizon:.0f} s, rule {sc.rule}, "
        f"max WIP {sc.max_wip or 'unbounded'}, start {sc.start.isoformat()}"
    )
    machines = Table(title=f"cell {sc.cell.name}")
    for col in ("id", "kind", "name", "input buffer", "breakdowns"):
        machines.add_column(col)
    for m in sc.cell.machines:
        b = m.breakdowns
        machines.add_row(
            m.id,
            m.kind,
            m.name,
            str(m.input_buffer or "unbounded"),
            f"MTBF {b.mtbf / 3600:.0f} h, MTTR {b.mttr / 60:.0f} min" if b else "-",
        )
    console.print(machines)
    console.print("machine parameters (defaults included; a duration in short form):")
    for m in sc.cell.machines:
        console.print(f"  {m.id}: {machine_parameters(m)}", markup=False, soft_wrap=True)
    if sc.catalogue:
        cat = Table(title="product catalogue")
        for col in ("id", "family", "weight", "varies"):
            cat.add_column(col)
        for c in sc.catalogue:
            cat.add_row(c.id, c.family, f"{c.weight:g}", ", ".join([*c.ranges, *c.choices]))
        console.print(cat)
    if sc.arrivals:
        console.print(
            f"arrivals: every {sc.arrivals.mean_interarrival:.0f} s "
            f"({sc.arrivals.distribution}), due factor {sc.arrivals.due_factor}"
        )
    if routings:
        console.print(
            "routings: operation (planned seconds on each machine that can run it; for a"
            " catalogue product, their range over its extreme configurations)",
            soft_wrap=True,
        )
    shown = len(sc.catalogue) + 50
    for label, plans in routings[:shown]:
        _print_route(console, label, plans)
    if len(routings) > shown:
        console.print(f"... and {len(routings) - shown} more orders")
    for f in sc.faults:
        console.print(f"fault: {f.machine} {f.kind} at {f.at:.0f} s for {f.duration:.0f} s")


def machine_parameters(m: MachineConfig) -> str:
    """The process parameters of ``m`` as they take effect (its kind's fields, defaults
    included, and its output buffer and duration variation), compactly: ``name value`` with a
    per-material table as ``name {material value, ...}`` and durations as "20s", "4h"."""
    parts = []
    for name in [*own_fields(type(m)), "output_buffer", "duration_cv"]:
        value = getattr(m, name)
        if name in ("kind", "input_buffer"):
            continue  # in the table
        if duration_bound(type(m).model_fields[name].metadata) is not None:
            text = duration_text(value)
        elif isinstance(value, dict):
            text = "{" + ", ".join(f"{k} {value_text(v)}" for k, v in value.items()) + "}"
        else:
            text = value_text(value)
        parts.append(f"{name} {text}")
    return ", ".join(parts)


def _routings(sc: Scenario, source: str) -> list[tuple[str, list[list[PlannedOp]]]]:
    """The routings of each catalogue product (one per extreme configuration) and of each
    explicit order, labelled; raises ConfigError for one the cell cannot make."""
    planner = Planner(sc.cell.machines)
    out = [
        (f"product {entry.id} ({entry.family})", plans)
        for entry, plans in plan_catalogue(sc, planner, source)
    ]
    for order, plan in plan_orders(sc, planner, source):
        out.append((f"order {order.id} ({order.product.type})", [plan]))
    return out


def _print_route(console: Console, label: str, plans: list[list[PlannedOp]]) -> None:
    """One line: the operations of ``plans`` (routings of one product, differing only in
    durations and maybe in machines) with each machine's planned seconds, or their range."""
    steps = []
    for ops in zip(*plans, strict=True):
        seconds: dict[str, list[float]] = {}
        for op in ops:
            for machine, duration in op.durations.items():
                seconds.setdefault(machine, []).append(duration)
        machines = ", ".join(f"{m} {_seconds(min(d), max(d))}" for m, d in seconds.items())
        steps.append(f"{ops[0].req.name} ({machines})")
    # no markup: an explicit operation's name is the user's text; no wrapping inside a step
    console.print(f"{label}: {' -> '.join(steps)}", markup=False, soft_wrap=True)


def _seconds(low: float, high: float) -> str:
    return f"{low:.0f} s" if round(low) == round(high) else f"{low:.0f}-{high:.0f} s"


@scenario_app.command("from-jsp")
def from_jsp(
    instance: Annotated[Path, typer.Argument(help="job-shop instance (JSPLIB format)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="scenario TOML to write")],
) -> None:
    """Convert a classic job-shop instance into a scenario (machines m0..m{M-1})."""
    data = jsp_scenario(instance)
    parse_scenario(data, str(instance))  # validate before writing anything
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(tomli_w.dumps(data), encoding="utf-8")
    jobs = plural(len(data["orders"]), "job")
    print(f"wrote {output}: {jobs} on {plural(len(data['cell']['machines']), 'machine')}")


def register(app: typer.Typer) -> None:
    app.add_typer(scenario_app, name="scenario")
