"""``twin experiment``: replications of scenarios and dispatching rules over seeds."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from twin.cli.common import parse_rule, parse_until
from twin.errors import ConfigError
from twin.experiment import METRICS, Estimate, Variant, run_experiment
from twin.files import write_durably
from twin.model import load_scenario
from twin.text import plural

__all__ = ["register"]


def experiment(
    scenarios: Annotated[
        list[Path], typer.Argument(help="scenario TOML files (variants of one cell)")
    ],
    seeds: Annotated[int, typer.Option(help="replications: seeds FIRST_SEED, +1, ...")] = 10,
    first_seed: Annotated[int, typer.Option(help="the first seed")] = 1,
    rule: Annotated[
        list[str] | None,
        typer.Option(help="dispatching rule to compare (repeat; default: the scenario's)"),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="every run over this simulated time, e.g. 30d (default: horizon)"),
    ] = None,
    jobs: Annotated[int, typer.Option(help="runs at once, in processes")] = 1,
    out: Annotated[
        Path | None, typer.Option(help="JSON file: every run's values and the estimates")
    ] = None,
) -> None:
    """Run each SCENARIO with each rule for each seed; print each KPI's mean and 95 %
    confidence interval over the seeds, and each variant against the first, seed by seed.

    The same seed draws the same orders whatever the rule or the machines
    added (common random numbers): the paired difference shows what the variant changes,
    with a narrower interval than the two intervals side by side. Give --until to compare
    over one period.
    """
    if seeds < 1:
        raise ConfigError("command line", "--seeds", "must be >= 1")
    if first_seed < 0:
        raise ConfigError("command line", "--first-seed", "must be >= 0")
    if jobs < 1:
        raise ConfigError("command line", "--jobs", "must be >= 1")
    rules = [parse_rule(r) for r in rule or []]
    if len(set(rules)) != len(rules):
        raise ConfigError("command line", "--rule", "a rule is given twice")
    horizon = parse_until(until)
    if out is not None and out.is_dir():
        raise ConfigError("command line", "--out", f"{out} is a directory, not a JSON file")
    if len({p.resolve() for p in scenarios}) != len(scenarios):
        raise ConfigError("command line", "SCENARIOS", "a scenario file is given twice")
    labels = [p.stem for p in scenarios]
    if len(set(labels)) != len(labels):  # cell.toml in two folders: the paths tell them apart
        labels = [str(p) for p in scenarios]
    variants = [
        Variant(_name(label, rule, len(scenarios), rules), sc, rule)
        for label, sc in zip(labels, map(load_scenario, scenarios), strict=True)
        for rule in (rules or [sc.rule.upper()])
    ]
    console = Console()
    runs = len(variants) * seeds
    with console.status(f"{plural(runs, 'run')} ...") as status:

        def progress(done: int, total: int) -> None:
            status.update(f"{done} of {plural(total, 'run')} ...")

        result = run_experiment(
            variants, range(first_seed, first_seed + seeds), horizon, jobs, progress
        )
    period = "to the horizon or until all work is done" if horizon is None else f"{horizon:g} s"
    console.print(
        f"{plural(seeds, 'seed')} ({first_seed}..{first_seed + seeds - 1}) x"
        f" {plural(len(variants), 'variant')}, each run {period}",
        soft_wrap=True,
    )
    # titles as lines of their own: a table's title wraps at its width
    console.print("mean ± 95 % CI over the seeds", soft_wrap=True)
    console.print(_table(result.estimates()))
    if len(variants) > 1:
        first = variants[0].name
        console.print(f"each variant - {first}, seed by seed (paired)", soft_wrap=True)
        console.print(_table(result.differences(), signed=True))
    if out is not None:
        text = json.dumps(result.as_json(), indent=1, allow_nan=False) + "\n"
        write_durably(out, text.encode())
        console.print(f"written: {out}", soft_wrap=True)


def _name(label: str, rule: str, files: int, rules: list[str]) -> str:
    """A variant's column: its rule, its file, or both (what tells the variants apart)."""
    if files == 1:
        return rule
    return label if len(rules) <= 1 else f"{label} {rule}"


def _table(estimates: dict[str, dict[str, Estimate]], signed: bool = False) -> Table:
    table = Table()
    table.add_column("KPI")
    for rule in estimates:
        table.add_column(rule, justify="right")
    for key, label, unit in METRICS:
        cells = [_value(estimates[rule][key], unit, signed) for rule in estimates]
        table.add_row(f"{label}" + (f" ({unit})" if unit else ""), *cells)
    return table


def _value(e: Estimate, unit: str, signed: bool) -> str:
    scale, digits = {"%": (100.0, 1), "h": (1 / 3600, 2), "jobs/h": (1.0, 2)}.get(unit, (1.0, 1))
    if math.isnan(e.mean):
        return "-"
    sign = "+" if signed else ""
    text = f"{e.mean * scale:{sign}.{digits}f}"
    if not math.isnan(e.half_width):
        text += f" ± {e.half_width * scale:.{digits}f}"
    return text


def register(app: typer.Typer) -> None:
    app.command("experiment")(experiment)
