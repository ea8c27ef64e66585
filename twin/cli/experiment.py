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
from twin.experiment import (
    CSV_COLUMNS,
    MACHINE_METRICS,
    METRICS,
    Estimate,
    Variant,
    run_experiment,
)
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
        Path | None,
        typer.Option(help="JSON file: every run's values, the estimates and differences"),
    ] = None,
    csv: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="CSV file: every run's values, one per row (columns: "
            + ", ".join(CSV_COLUMNS)
            + ")",
        ),
    ] = None,
) -> None:
    """Run each SCENARIO with each rule for each seed; compare their KPIs over the seeds.

    Prints each KPI's mean and 95 % confidence interval over the seeds, of the cell and of
    each machine, and each variant against the first, seed by seed. Per machine:
    utilisation, availability, the shares of its planned busy time in setup and down (out
    of service), OEE. Give --until to compare over one period.

    The same seed draws the same orders whatever the rule or the machines added (common
    random numbers): the paired difference shows what the variant changes, with a narrower
    interval than the two intervals side by side.

    --csv writes long format, a header line then one row per run and value, for pandas
    (pandas.read_csv) or a spreadsheet: variant (the column of the tables), rule, scenario
    (its file), seed, scope ("cell" or a machine id), metric, value. Metrics: the cell's
    oee, availability, throughput_per_h, jobs_completed, lead_time_mean_s,
    lead_time_p95_s, tardiness_mean_s, jobs_late, jobs_open_past_due, wip_mean; a
    machine's utilisation, availability, setup_share, down_share, oee. Values in plain
    units: ratios 0..1, times in seconds (*_s), jobs per hour, counts; empty when
    undefined (nothing produced to rate, no job completed).
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
    if csv is not None and csv.is_dir():
        raise ConfigError("command line", "--csv", f"{csv} is a directory, not a CSV file")
    if out is not None and csv is not None and out.resolve() == csv.resolve():
        raise ConfigError("command line", "--csv", f"{csv} is the --out file too")
    if len({p.resolve() for p in scenarios}) != len(scenarios):
        raise ConfigError("command line", "SCENARIOS", "a scenario file is given twice")
    labels = [p.stem for p in scenarios]
    if len(set(labels)) != len(labels):  # cell.toml in two folders: the paths tell them apart
        labels = [str(p) for p in scenarios]
    variants = [
        Variant(_name(label, rule, len(scenarios), rules), sc, rule, str(path))
        for label, path, sc in zip(labels, scenarios, map(load_scenario, scenarios), strict=True)
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
    period = "to the horizon or until all work is done" if horizon is None else _duration(horizon)
    first = variants[0].name
    against = f"; differences against the first variant, {first}" if len(variants) > 1 else ""
    console.print(
        f"{plural(seeds, 'seed')} ({first_seed}..{first_seed + seeds - 1}) x"
        f" {plural(len(variants), 'variant')}, each run {period}{against}",
        soft_wrap=True,
    )
    # titles as lines of their own: a table's title wraps at its width
    console.print("mean ± 95 % CI over the seeds", soft_wrap=True)
    console.print(_table(result.estimates()))
    console.print(_machine_table(result.machines(), result.machine_estimates()))
    if len(variants) > 1:
        console.print(
            f"against the first variant: each variant - {first}, seed by seed (paired)",
            soft_wrap=True,
        )
        console.print(_table(result.differences(), signed=True))
        console.print(_machine_table(result.machines(), result.machine_differences(), signed=True))
    if out is not None:
        text = json.dumps(result.as_json(), indent=1, allow_nan=False) + "\n"
        write_durably(out, text.encode())
        console.print(f"written: {out}", soft_wrap=True)
    if csv is not None:
        write_durably(csv, result.csv().encode())
        console.print(f"written: {csv}", soft_wrap=True)


def _name(label: str, rule: str, files: int, rules: list[str]) -> str:
    """A variant's column: its rule, its file, or both (what tells the variants apart)."""
    if files == 1:
        return rule
    return label if len(rules) <= 1 else f"{label} {rule}"


def _duration(seconds: float) -> str:
    """A period as a planner reads it: in days, hours, minutes or seconds, the largest unit
    it has one of, with at most two decimals: "30 d", "1.5 h", "90 s" is "1.5 min"."""
    units = (("d", 86400.0), ("h", 3600.0), ("min", 60.0))
    unit, size = next(((u, n) for u, n in units if seconds >= n), ("s", 1.0))
    return f"{seconds / size:.2f}".rstrip("0").rstrip(".") + f" {unit}"


def _table(estimates: dict[str, dict[str, Estimate]], signed: bool = False) -> Table:
    table = Table()
    table.add_column("KPI")
    for rule in estimates:
        table.add_column(rule, justify="right")
    for key, label, unit in METRICS:
        cells = [_value(estimates[rule][key], unit, signed) for rule in estimates]
        table.add_row(f"{label}" + (f" ({unit})" if unit else ""), *cells)
    return table


def _machine_table(
    machines: list[str], estimates: dict[str, dict[str, dict[str, Estimate]]], signed: bool = False
) -> Table:
    """``MACHINE_METRICS`` per machine, a section each; ``-`` where a variant has no such
    machine (or, for a difference, the first variant has none)."""
    table = Table()
    table.add_column("machine")
    table.add_column("KPI")
    for rule in estimates:
        table.add_column(rule, justify="right")
    for machine in machines:
        for i, (key, label, unit) in enumerate(MACHINE_METRICS):
            cells = [
                _value(estimates[rule][machine][key], unit, signed)
                if machine in estimates[rule]
                else "-"
                for rule in estimates
            ]
            table.add_row(machine if i == 0 else "", f"{label} ({unit})", *cells)
        table.add_section()
    return table


#: (scale, fewest decimals) of the values of a unit as shown: percent for ratios, hours for
#: seconds
_SHOWN = {"%": (100.0, 1), "h": (1 / 3600, 2), "jobs/h": (1.0, 2)}
_MOST_DECIMALS = 6


def _value(e: Estimate, unit: str, signed: bool) -> str:
    """``mean ± half-width`` in the unit, with decimals enough for two significant digits of
    the half-width (three of the mean when there is none), at least the unit's fewest: a
    difference of 0.004 jobs/h is not +0.00; no difference in any seed reads so."""
    scale, fewest = _SHOWN.get(unit, (1.0, 1))
    if math.isnan(e.mean):
        return "-"
    mean, half = e.mean * scale, e.half_width * scale
    sign = "+" if signed else ""
    if half == 0 and mean == 0:  # not +0.00 ± 0.00, which may hide a difference of 0.004
        return "0 in every seed"
    if math.isfinite(half) and half > 0:
        digits = 1 - math.floor(math.log10(half))
    elif mean != 0:
        digits = 2 - math.floor(math.log10(abs(mean)))
    else:
        digits = fewest
    digits = min(max(digits, fewest), _MOST_DECIMALS)
    text = f"{mean:{sign}.{digits}f}"
    if not math.isnan(half):
        text += f" ± {half:.{digits}f}"
    return text


def register(app: typer.Typer) -> None:
    app.command("experiment")(experiment)
