"""Simulate mode: run a scenario as fast as possible and write the run directory.

A runner that only wires: engine + event log + KPI collector (+ optional signal sampling and
extra subscribers such as telemetry sinks), then summary, snapshot and plots.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.engine.cell import Engine
from twin.engine.jobs import ENDED_STATES
from twin.engine.replay import Command, apply_checked, check_times
from twin.errors import ConfigError
from twin.events import Event, EventBus, EventLogWriter
from twin.files import open_private
from twin.kpi import KpiCollector, as_json
from twin.model.scenario import Scenario
from twin.model.sequence import MachineSequences
from twin.signals import SignalStore
from twin.text import plural

__all__ = ["RUN_FILES", "RunResult", "check_run_args", "resolve_sequence", "run_simulation"]

RUN_FILES = ("events.jsonl", "summary.json", "snapshot.json", "gantt.png", "kpis.png")
"""What ``run_simulation`` writes to its ``out_dir`` (the plots with ``plots`` only)."""

SignalConsumer = Callable[[float, SignalStore], None]
KpiConsumer = Callable[[float, dict[str, Any]], None]


@dataclass
class RunResult:
    """What a simulate run produced: ``kpis`` is the final KPI report (undefined KPIs are
    NaN, see ``twin.kpi``), ``summary`` what ``summary.json`` holds (the same KPIs, undefined
    ones as None: JSON null)."""

    engine: Engine
    kpis: dict[str, Any]
    summary: dict[str, Any]
    out_dir: Path | None


def resolve_sequence(
    scenario: Scenario, seq: MachineSequences, source: str = "sequence"
) -> dict[str, list[str]]:
    """Map machine indices (or ids) and job indices of a sequence file onto ids."""
    machines = [m.id for m in scenario.cell.machines]
    orders = [o.id for o in scenario.orders]
    out: dict[str, list[str]] = {}
    for key, jobs in seq.machine_sequences.items():
        if key in machines:
            mid = key
        elif key.isdigit() and int(key) < len(machines):
            mid = machines[int(key)]
        else:
            raise ConfigError(
                source,
                f"machine_sequences.{key}",
                f"no machine {key!r}: a machine's index (0..{len(machines) - 1}: the cell has"
                f" {plural(len(machines), 'machine')}) or its id, e.g. {machines[0]!r}",
            )
        ids = []
        for j in jobs:
            if not 0 <= j < len(orders):
                raise ConfigError(
                    source,
                    f"machine_sequences.{key}",
                    f"job index {j} out of range ({f'0..{len(orders) - 1}: ' if orders else ''}"
                    f"the scenario has {plural(len(orders), 'order')})",
                )
            ids.append(orders[j])
        out[mid] = ids
    return out


def _sampler(engine: Engine, period: float, consumers: Sequence[SignalConsumer]) -> Any:
    env = engine.env

    def proc() -> Any:
        while True:
            engine.sample_signals()
            for c in consumers:
                c(env.now, engine.store)
            yield env.timeout(period)

    return proc()


def _kpi_reporter(
    engine: Engine, kpi: KpiCollector, period: float, consumers: Sequence[KpiConsumer]
) -> Any:
    env = engine.env

    def proc() -> Any:
        while True:
            yield env.timeout(period)
            report = kpi.report(env.now)
            for c in consumers:
                c(env.now, report)

    return proc()


def check_run_args(
    scenario: Scenario,
    until: float | None = None,
    commands: Sequence[Command] = (),
    signal_period: float | None = None,
    kpi_period: float | None = None,
) -> float:
    """Reject bad arguments of ``run_simulation`` before anything is built or written (a
    caller that opens outputs first, like the telemetry pipeline, calls it before that);
    returns the end time."""
    if signal_period is not None and signal_period <= 0:
        raise ConfigError("signals", "period", "must be > 0")
    if kpi_period is not None and kpi_period <= 0:
        raise ConfigError("telemetry", "kpi_period", "must be > 0")
    end = scenario.horizon if until is None else until
    check_times(commands, 0.0, end)
    return end


def run_simulation(
    scenario: Scenario,
    *,
    until: float | None = None,
    seed: int | None = None,
    rule: str | None = None,
    sequence: dict[str, list[str]] | None = None,
    commands: Sequence[Command] = (),
    out_dir: Path | None = None,
    signal_period: float | None = None,
    signal_consumers: Sequence[SignalConsumer] = (),
    subscribers: Sequence[Callable[[Event], None]] = (),
    kpi_period: float | None = None,
    kpi_consumers: Sequence[KpiConsumer] = (),
    progress: Callable[[float, float], None] | None = None,
    plots: bool = True,
    stop: threading.Event | None = None,
    stop_when_done: bool = True,
) -> RunResult:
    """Run ``scenario`` to ``until`` (default: horizon) or, with ``stop_when_done``, until
    all orders are done if that comes first (without it, runs compared over one period).

    Writes ``events.jsonl``, ``summary.json``, ``snapshot.json`` and (with ``plots``)
    ``gantt.png`` and ``kpis.png`` to ``out_dir`` when given. ``kpi_consumers`` get a KPI
    report every ``kpi_period`` simulated seconds (when given) and the final one at the end.
    ``commands`` (e.g. ``read_commands`` of a recorded run's event log) are applied at their
    times as in ``twin.engine.replay``, so the recorded run is reproduced byte for byte.

    ``stop`` (set by ``twin simulate`` on Ctrl-C, from any thread) ends the run at its next
    step (``_run_with_progress``): what it writes is of the part that ran, its summary marked
    ``"interrupted": true`` with ``until``, the simulated time reached; no plots (writing
    them would hold up a user who asked to stop; ``twin report`` draws them).
    """
    end = check_run_args(scenario, until, commands, signal_period, kpi_period)
    bus = EventBus()
    engine = Engine(
        scenario,
        seed=seed,
        rule=rule,
        sequence=sequence,
        bus=bus,
        signals=signal_period is not None,
    )
    kpi = KpiCollector.for_cell(scenario.cell)
    bus.subscribe(kpi)
    for sub in subscribers:
        bus.subscribe(sub)
    log_fh = None
    writer = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        log_fh = open_private(out_dir / "events.jsonl")
        writer = EventLogWriter(log_fh)
        bus.subscribe(writer)
    if signal_period is not None:
        engine.env.process(_sampler(engine, signal_period, signal_consumers))
    if kpi_period is not None and kpi_consumers:
        engine.env.process(_kpi_reporter(engine, kpi, kpi_period, kpi_consumers))
    try:
        apply_checked(engine, commands)  # their times were checked above
        if progress is None and stop is None:
            t_end = engine.run(end, stop_when_done)
        else:
            t_end = _run_with_progress(engine, end, progress, stop, stop_when_done)
    finally:
        if writer is not None and log_fh is not None:
            writer.flush()
            log_fh.close()
    # stopped before the end (a stop set once the run was done changes nothing)
    done = stop_when_done and engine.all_done.triggered
    interrupted = bool(stop and stop.is_set()) and t_end < end and not done
    kpis = kpi.report(t_end)
    for consumer in kpi_consumers:
        consumer(t_end, kpis)
    summary = {
        "scenario": scenario.name,
        "seed": engine.seed,
        "rule": engine.rule.name,
        "end_time": t_end,
        "makespan": engine.makespan,
        "jobs_received": engine.received,  # customer orders
        "jobs_remade": engine.remade,  # remakes of scrapped parts (the same orders again)
        "jobs_completed": engine.completed,
        "jobs_scrapped": engine.scrapped,
        "jobs_cancelled": engine.cancelled,
        "jobs_stopped": engine.stopped,
        "jobs_in_progress": engine.wip,
        "jobs_backlog": len(engine.backlog),
        # tardiness rates completed jobs: at a fixed horizon these are late too, unrated
        "jobs_open_past_due": sum(
            j.due < t_end for j in engine.jobs.values() if j.state not in ENDED_STATES
        ),
        "simpy_events": engine.event_count(),
        "kpis": as_json(kpis),
        "interrupted": interrupted,
        **({"until": t_end} if interrupted else {}),
    }
    if out_dir is not None:
        _dump(out_dir / "summary.json", summary)
        _dump(out_dir / "snapshot.json", engine.snapshot())
        if plots and not interrupted:
            from twin.report.plots import plot_gantt, plot_kpis  # matplotlib only when plotting

            plot_gantt(
                out_dir / "events.jsonl",
                [m.id for m in scenario.cell.machines],
                out_dir / "gantt.png",
                t_end,
            )
            plot_kpis(kpis, out_dir / "kpis.png")
    return RunResult(engine, kpis, summary, out_dir)


def _run_with_progress(
    engine: Engine,
    end: float,
    progress: Callable[[float, float], None] | None,
    stop: threading.Event | None,
    stop_when_done: bool = True,
) -> float:
    # steps of a thousandth of the run, at most an hour of simulated time: how often progress
    # is told, and how soon a run can be stopped (Ctrl-C), whatever the horizon (a thousandth
    # of centuries is months: minutes of wall time with signals)
    step = min(end / 1000, 3600.0)
    t = engine.now
    while t < end and not (stop_when_done and engine.all_done.triggered):
        if stop and stop.is_set():
            break
        t = engine.run(min(t + step, end), stop_when_done)
        if progress is not None:
            progress(t, end)
    return engine.now


def _dump(path: Path, data: Any) -> None:
    path.write_text(
        json.dumps(data, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8"
    )
