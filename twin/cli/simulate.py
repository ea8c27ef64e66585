"""``twin simulate``: run a scenario as fast as possible and write the run directory."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from twin.cli.common import parse_rule, parse_until
from twin.cli.rundir import DEFAULT_RUN_DIRS
from twin.cli.telemetry import (
    InfluxBucketOption,
    InfluxOrgOption,
    InfluxTokenOption,
    InfluxUrlOption,
    TelemetryOption,
    settings_from_cli,
    simulation_runner,
)
from twin.engine.dispatch import RULES
from twin.engine.replay import Command, read_log
from twin.errors import ConfigError
from twin.files import directory_problem, staged
from twin.kpi import defined
from twin.model import load_scenario, load_sequence
from twin.model.scenario import Scenario, scenario_notes
from twin.simulation import RUN_FILES, RunResult, resolve_sequence, run_simulation
from twin.telemetry import FILE_NAME, SPOOL_DIR

__all__ = ["kpi_table", "register"]


def kpi_table(kpis: dict[str, Any]) -> Table:
    """A rich table of the per-machine and cell KPIs, readable at 80 columns (a log file):
    short headers, explained in the caption; values never wrap, long machine ids may.

    An undefined KPI (``twin.kpi``: nothing produced to rate, e.g. a printer on its first
    part) reads ``-``, not 0 %. The caption names the machines the cell row leaves out (the
    transport robot): its ``produced`` is not the sum of the rows above it then."""
    excluded = kpis.get("cell_excludes") or []
    caption = (
        "avail. = availability, effect. = effectiveness, util. = utilisation;"
        "\n- = nothing produced to rate"
    )
    if excluded:  # a line of its own: it explains the cell row's produced
        caption += f"\ncell = all machines but {', '.join(excluded)} (the transport robot)"
    table = Table(title="ISO 22400 KPIs", caption=caption)
    table.add_column("machine", overflow="fold")
    for col in ("avail.", "effect.", "quality", "OEE", "util.", "produced"):
        table.add_column(col, justify="right", no_wrap=True)
    rows = [*kpis["machines"].items(), ("cell", kpis["cell"])]
    for name, k in rows:
        table.add_row(
            name,
            *(_percent(k[key]) for key in _RATES),
            str(k["produced"]),
        )
    return table


_RATES = ("availability", "effectiveness", "quality_ratio", "oee", "utilisation")


def _percent(value: float | None) -> str:
    return f"{value:.1%}" if defined(value) else "-"


def simulate(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file")],
    until: Annotated[
        str | None, typer.Option(help="simulated time, e.g. 30d (default: horizon)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="override the scenario seed")] = None,
    rule: Annotated[str | None, typer.Option(help=f"dispatching rule: {', '.join(RULES)}")] = None,
    sequence: Annotated[
        Path | None, typer.Option(help="JSON file forcing each machine's order")
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option(help="event log of a recorded run whose commands are applied again"),
    ] = None,
    out: Annotated[Path, typer.Option(help="run directory")] = DEFAULT_RUN_DIRS["twin simulate"],
    signals: Annotated[str | None, typer.Option(help="sample process signals every PERIOD")] = None,
    plots: Annotated[bool, typer.Option(help="write gantt.png and kpis.png")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    telemetry: TelemetryOption = None,
    influx_url: InfluxUrlOption = None,
    influx_org: InfluxOrgOption = None,
    influx_bucket: InfluxBucketOption = None,
    influx_token: InfluxTokenOption = None,
) -> None:
    """Run SCENARIO as fast as possible; print KPIs; write events.jsonl, summary.json, plots.

    With --replay, the commands of a recorded run's event log are applied again at their
    times: the run's event log is reproduced byte for byte (same scenario, seed and rule).
    A log that ends where twin run stopped ends the replay there too, unless --until.

    Ctrl-C (or SIGTERM) ends the run where it is: summary.json and the KPIs are of the part
    that ran (no plots), exit code 130 (143); Ctrl-C again stops at once.
    """
    console = Console()
    if rule is not None:
        parse_rule(rule)  # checked; the run records it as given (summary.json)
    if seed is not None and seed < 0:
        raise ConfigError("command line", "--seed", "must be >= 0")
    sc = load_scenario(scenario)
    seq = resolve_sequence(sc, load_sequence(sequence), str(sequence)) if sequence else None
    log = read_log(replay) if replay else None
    commands = log.commands if log is not None else []
    horizon = parse_until(until)
    if log is not None and log.stopped_at is not None and horizon is None:
        horizon = log.stopped_at  # a replay goes as far as the recorded run went
        console.print(
            f"{replay}: note: the recorded run stopped at {log.stopped_at:g} s; the replay "
            "ends there too (--until to go on)",
            style="yellow",
            soft_wrap=True,
            markup=False,
        )
    period = parse_until(signals, "--signals")
    tsettings = settings_from_cli(
        telemetry=telemetry,
        influx_url=influx_url,
        influx_org=influx_org,
        influx_bucket=influx_bucket,
        influx_token=influx_token,
    )
    problem = directory_problem(out)
    if problem is not None:
        raise ConfigError("command line", "--out", problem)
    for note in scenario_notes(sc, horizon):
        console.print(f"{scenario}: note: {note}", style="yellow", soft_wrap=True, markup=False)
    # the run is written beside --out and moved into it only when it succeeded: a rejected
    # run (even one found mid-run, like a replayed command that does not apply) leaves the
    # directory as it was; Ctrl-C keeps what the run wrote so far
    spool = () if tsettings.spool_dir else (SPOOL_DIR,)
    caught: list[int] = []  # the signal that stopped the run early (Ctrl-C, SIGTERM)
    with staged(out, (*RUN_FILES, FILE_NAME, SPOOL_DIR), carry=spool) as stage:
        try:
            runner = simulation_runner(tsettings, sc, stage, console, moved_to=out)
            result = _run(
                sc,
                horizon,
                seed,
                rule,
                seq,
                commands,
                stage,
                period,
                plots,
                quiet,
                console,
                runner,
                stop_when_done=until is None,  # --until: that period, for comparable KPIs
                caught=caught,
            )
        except ConfigError as exc:
            named = {"scenario": scenario, "sequence": sequence}  # planning, --sequence errors
            path = named.get(exc.source)
            if path is not None:
                raise ConfigError(str(path), exc.field, exc.reason) from exc
            raise
        except KeyboardInterrupt:  # Ctrl-C again: the stage still moves into --out
            console.print(f"interrupted: {out} keeps what the run wrote so far", soft_wrap=True)
            raise
    s = result.summary
    console.print(kpi_table(result.kpis))
    cell = result.kpis["cell"]
    console.print(
        f"makespan {s['makespan']:.1f} s | completed {s['jobs_completed']} "
        f"(scrapped {s['jobs_scrapped']}, in cell {s['jobs_in_progress']}, backlog "
        f"{s['jobs_backlog']}) | throughput {cell['throughput_per_h']:.2f}/h | "
        f"lead time {_hours(cell['lead_time_mean_s'])} | late {cell['jobs_late']}"
        f" (and {s['jobs_open_past_due']} open past due)",
        soft_wrap=True,  # one line whatever the width: a log is read with grep
        markup=False,
    )
    if s["interrupted"]:
        console.print(
            f"interrupted at simulated time {s['until']:.1f} s: the KPIs and {out / 'summary.json'}"
            f" are of the run up to then; no plots (twin report {out} draws them)",
            soft_wrap=True,
            markup=False,
        )
    elif until is None and s["end_time"] < (horizon if horizon is not None else sc.horizon):
        console.print(
            f"all work done at simulated time {s['end_time']:.1f} s: the run ended there, and"
            " its KPIs are over that period (--until runs to a fixed time, to compare runs"
            " over one period)",
            soft_wrap=True,
            markup=False,
        )
    console.print(f"run directory: {out}", soft_wrap=True)
    if s["interrupted"]:  # as the signal that would have stopped the command at once
        raise typer.Exit(128 + (caught[0] if caught else signal.SIGINT))
    if runner.undelivered:  # telemetry lost or refused: its line above says what and why
        raise typer.Exit(1)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if defined(seconds) else "-"  # no job finished yet


#: the signals that stop a run as Ctrl-C does, with the handler each has by default
_STOPPING: dict[signal.Signals, Callable[[int, FrameType | None], Any] | int] = {
    signal.SIGINT: signal.default_int_handler,
    signal.SIGTERM: signal.SIG_DFL,
}


@contextlib.contextmanager
def _first_signal_sets(stop: threading.Event, caught: list[int]) -> Iterator[None]:
    """Within the block, the first Ctrl-C (SIGINT) or SIGTERM (``timeout``, a CI job
    cancelled, ``kill``) sets ``stop`` instead of ending the process, and is added to
    ``caught``: the run ends at its next step and writes its summary (a run stopped mid-step
    would leave its state half changed). A second one of either raises KeyboardInterrupt,
    as a second Ctrl-C, to stop at once whatever is being written (the run directory still
    keeps what was written).

    Only in the main thread (no other can catch signals), and only for a signal with its
    default handler (someone else's is left alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    ours = [s for s, default in _STOPPING.items() if signal.getsignal(s) is default]

    def first(signum: int, frame: FrameType | None) -> None:
        stop.set()
        caught.append(signum)
        for s in ours:
            signal.signal(s, signal.default_int_handler)  # the next: KeyboardInterrupt

    for s in ours:
        signal.signal(s, first)
    try:
        yield
    finally:
        for s in ours:
            signal.signal(s, _STOPPING[s])


def _run(
    sc: Scenario,
    horizon: float | None,
    seed: int | None,
    rule: str | None,
    seq: dict[str, list[str]] | None,
    commands: list[Command],
    out: Path,
    period: float | None,
    plots: bool,
    quiet: bool,
    console: Console,
    runner: Callable[..., RunResult] = run_simulation,
    *,
    stop_when_done: bool = True,
    caught: list[int] | None = None,
) -> RunResult:
    """The run; ``caught`` gets the signal that stopped it early, if one did."""
    stop = threading.Event()  # set by the first Ctrl-C: the run ends and writes its summary
    caught = [] if caught is None else caught
    kwargs: dict[str, Any] = {
        "until": horizon,
        "seed": seed,
        "rule": rule,
        "sequence": seq,
        "commands": commands,
        "out_dir": out,
        "signal_period": period,
        "plots": plots,
        "stop": stop,
        "stop_when_done": stop_when_done,
    }
    with _first_signal_sets(stop, caught):
        # a bar only where one is drawn: on output that is not a terminal (a pipe, a log
        # file) rich draws none, and writes a blank line when it ends, before a KPI table or
        # alone on stdout when the run is refused (a --sequence that does not fit)
        if quiet or not console.is_interactive:
            return runner(sc, **kwargs)
        return _with_progress_bar(sc, console, runner, kwargs)


def _with_progress_bar(
    sc: Scenario, console: Console, runner: Callable[..., RunResult], kwargs: dict[str, Any]
) -> RunResult:
    with Progress(
        TextColumn("[bold]simulating[/bold] {task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(sc.name, total=1.0)
        return runner(sc, progress=lambda t, end: bar.update(task, completed=t / end), **kwargs)


def register(app: typer.Typer) -> None:
    app.command()(simulate)
