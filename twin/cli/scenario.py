"""``twin scenario``: validate, show, and convert job-shop instances."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import tomli_w
import typer
from rich.console import Console
from rich.table import Table

from twin.jsp import jsp_scenario
from twin.model import load_scenario, parse_scenario
from twin.planning import Planner, check_plannable

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
        f"{scenario}: ok ({len(sc.cell.machines)} machines, {len(sc.orders)} orders, "
        f"{len(sc.catalogue)} catalogue entries)"
    )


@scenario_app.command("show")
def show(scenario: Annotated[Path, typer.Argument(help="scenario TOML file")]) -> None:
    """Print the cell, catalogue and the routings of the explicit orders."""
    sc = load_scenario(scenario)
    console = Console()
    console.print(f"[bold]{sc.name}[/bold]: {sc.description}")
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
    planner = Planner(sc.cell.machines)
    for o in sc.orders[:50]:
        route = " -> ".join(
            f"{op.req.name}[{', '.join(f'{m} {d:.0f}s' for m, d in op.durations.items())}]"
            for op in planner.plan(o.product)
        )
        console.print(f"order {o.id} ({o.product.type}): {route}")
    if len(sc.orders) > 50:
        console.print(f"... and {len(sc.orders) - 50} more orders")
    for f in sc.faults:
        console.print(f"fault: {f.machine} {f.kind} at {f.at:.0f} s for {f.duration:.0f} s")


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
    print(f"wrote {output}: {len(data['orders'])} jobs on {len(data['cell']['machines'])} machines")


def register(app: typer.Typer) -> None:
    app.add_typer(scenario_app, name="scenario")
