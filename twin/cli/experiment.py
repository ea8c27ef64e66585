"""``twin experiment``: replications of a scenario over seeds and dispatching rules."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from twin.cli.common import parse_until
from twin.engine.dispatch import RULES
from twin.errors import ConfigError
from twin.experiment import METRICS, Estimate, Experiment, run_experiment
from twin.files import write_durably
from twin.model import load_scenario
from twin.text import plural

__all__ = ["register"]


def experiment(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file")],
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
    """Run SCENARIO for each seed and rule; print each KPI's mean and 95 % confidence
    interval over the seeds, and each rule against the first, seed by seed.

    The same seed draws the same orders and breakdowns whatever the rule (common random
    numbers): the paired difference shows what the rule changes, with a narrower interval
    than the two rules' intervals side by side. Give --until to compare over one period.
    """
    if seeds < 1:
        raise ConfigError("command line", "--seeds", "must be >= 1")
    if first_seed < 0:
        raise ConfigError("command line", "--first-seed", "must be >= 0")
    if jobs < 1:
        raise ConfigError("command line", "--jobs", "must be >= 1")
    rules = [r.upper() for r in rule or []]
    for r in rules:
        if r not in RULES:
            known = ", ".join(RULES)
            raise ConfigError("command line", "--rule", f"unknown rule {r!r} (known: {known})")
    if len(set(rules)) != len(rules):
        raise ConfigError("command line", "--rule", "a rule is given twice")
    horizon = parse_until(until)
    if out is not None and out.is_dir():
        raise ConfigError("command line", "--out", f"{out} is a directory, not a JSON file")
    sc = load_scenario(scenario)
    rules = rules or [sc.rule.upper()]
    console = Console()
    runs = len(rules) * seeds
    with console.status(f"{plural(runs, 'run')} ...") as status:

        def progress(done: int, total: int) -> None:
            status.update(f"{done} of {plural(total, 'run')} ...")

        result = run_experiment(
            sc, range(first_seed, first_seed + seeds), rules, horizon, jobs, progress
        )
    period = "to the horizon or until all work is done" if horizon is None else f"{horizon:g} s"
    console.print(
        f"{sc.name}: {plural(seeds, 'seed')} ({first_seed}..{first_seed + seeds - 1}) x"
        f" {plural(len(rules), 'rule')}, each run {period}",
        soft_wrap=True,
    )
    console.print(_table(result, "mean ± 95 % CI over the seeds", result.estimates()))
    if len(rules) > 1:
        title = f"each rule - {rules[0]}, seed by seed (paired)"
        console.print(_table(result, title, result.differences(), signed=True))
    if out is not None:
        text = json.dumps(result.as_json(), indent=1, allow_nan=False) + "\n"
        write_durably(out, text.encode())
        console.print(f"written: {out}", soft_wrap=True)


def _table(
    result: Experiment,
    title: str,
    estimates: dict[str, dict[str, Estimate]],
    signed: bool = False,
) -> Table:
    table = Table(title=title, title_justify="left")
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
