"""Line protocol of a simulated run, for loading into InfluxDB in the dashboard tests.

Preferred source: the telemetry file sink (``twin simulate --telemetry file`` writes
``RUN_DIR/telemetry.lp.gz``). Until ``twin simulate`` has that option, ``fallback_lines`` builds
the same schema from the run's events (the ones ``events.jsonl`` holds), its signal samples and
periodic KPI reports; it follows the schema agreed with the telemetry sink exactly, so the
dashboards are tested against the measurements, tags and field types they will see.
"""

from __future__ import annotations

import gzip
import inspect
from pathlib import Path
from typing import Any

from twin.events import (
    Event,
    FaultCleared,
    FaultRaised,
    InspectionDone,
    JobCancelled,
    JobCompleted,
    JobReleased,
    JobScrapped,
    MachineStateChanged,
    OperationFinished,
    OperationStarted,
    OrderReceived,
)
from twin.kpi import KpiCollector
from twin.model import load_scenario
from twin.signals import SignalStore
from twin.simulation import run_simulation

__all__ = ["fallback_lines", "file_sink_available", "sink_lines"]

STATE_CODES = {"NotAvailable": 0, "OutOfService": 1, "NotExecuting": 2, "Executing": 3}
KPI_FIELDS = ("availability", "effectiveness", "quality_ratio", "oee", "utilisation")
KPI_INT_FIELDS = ("produced", "good")
CELL_FIELDS = ("throughput_per_h", "wip_mean", "lead_time_mean_s", "tardiness_mean_s")
CELL_INT_FIELDS = ("jobs_completed", "jobs_late")
JOB_EVENTS = (
    OrderReceived,
    JobReleased,
    OperationStarted,
    OperationFinished,
    JobCompleted,
    JobScrapped,
    JobCancelled,
    InspectionDone,
)


def file_sink_available() -> bool:
    """True when ``twin simulate`` has the ``--telemetry`` option (the file sink exists)."""
    from twin.cli import simulate

    return "telemetry" in inspect.signature(simulate.simulate).parameters


def sink_lines(scenario: Path, run_dir: Path, until: str, signals: str) -> list[str]:
    """Lines written by the file sink of ``twin simulate``; fails when the file is missing."""
    from twin.cli import main

    code = main(
        [
            "simulate",
            str(scenario),
            "--telemetry",
            "file",
            "--signals",
            signals,
            "--until",
            until,
            "--out",
            str(run_dir),
            "--quiet",
            "--no-plots",
        ]
    )
    assert code == 0, f"twin simulate exited with {code}"
    with gzip.open(run_dir / "telemetry.lp.gz", "rt", encoding="utf-8") as fh:
        return [ln for ln in fh.read().splitlines() if ln]


def _str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return _str(str(value))


class _Encoder:
    """Events, signal samples and KPI reports -> lines (one writer, in time order)."""

    def __init__(self, cell: str, kinds: dict[str, str], origin_ns: int) -> None:
        self.cell = cell
        self.kinds = kinds
        self.origin_ns = origin_ns
        self.lines: list[str] = []
        self._last: dict[str, int] = {}
        self._family: dict[str, str] = {}
        self._faults: dict[tuple[str, str], tuple[int, str]] = {}

    def emit(self, series: str, fields: dict[str, Any], t: float) -> None:
        ts = self.origin_ns + round(t * 1e9)
        # two points of one series at one instant would overwrite each other: shift by 1 ns
        ts = max(ts, self._last.get(series, -1) + 1)
        self._last[series] = ts
        body = ",".join(f"{k}={_field(v)}" for k, v in fields.items())
        self.lines.append(f"{series} {body} {ts}")

    def event(self, ev: Event) -> None:
        cell = self.cell
        if isinstance(ev, MachineStateChanged):
            series = f"machine_state,cell={cell},machine={ev.machine},kind={self.kinds[ev.machine]}"
            self.emit(
                series,
                {
                    "state": ev.state,
                    "mode": ev.mode,
                    "state_code": STATE_CODES[ev.state],
                    "job": ev.job or "",
                },
                ev.t,
            )
        elif isinstance(ev, FaultRaised | FaultCleared):
            key = (ev.machine, ev.kind)
            if isinstance(ev, FaultRaised):
                self._faults[key] = (ev.severity, ev.source)
                severity, source, active = ev.severity, ev.source, True
            else:
                severity, source = self._faults.pop(key)
                active = False
            series = f"fault,cell={cell},machine={ev.machine},kind={ev.kind}"
            self.emit(series, {"severity": severity, "active": active, "source": source}, ev.t)
        elif isinstance(ev, JOB_EVENTS):
            if isinstance(ev, OrderReceived):
                self._family[ev.job] = ev.product
            family = self._family.get(ev.job, "none")
            machine = getattr(ev, "machine", None) or "none"
            fields: dict[str, Any] = {"job": ev.job}
            if isinstance(ev, OperationStarted | OperationFinished):
                fields["op"] = ev.op
            if isinstance(ev, JobCompleted):
                fields.update(
                    lead_time=float(ev.lead_time),
                    tardiness=float(ev.tardiness),
                    late=ev.tardiness > 0,
                    good=ev.good,
                )
            elif isinstance(ev, OperationFinished):
                fields["good"] = ev.good
            elif isinstance(ev, InspectionDone):
                fields["good"] = ev.passed
            series = f"job_event,cell={cell},event={ev.type},family={family},machine={machine}"
            self.emit(series, fields, ev.t)

    def signals(self, t: float, store: SignalStore) -> None:
        per_machine: dict[str, dict[str, Any]] = {}
        for path in store.paths:
            machine, _, name = path.partition(".")
            per_machine.setdefault(machine, {})[name] = float(store.get(path))
        for machine, fields in per_machine.items():
            fields["quality"] = 0
            series = f"machine_signal,cell={self.cell},machine={machine},kind={self.kinds[machine]}"
            self.emit(series, fields, t)

    def kpis(self, t: float, report: dict[str, Any]) -> None:
        scopes = [*report["machines"].items(), ("cell", report["cell"])]
        for scope, k in scopes:
            fields: dict[str, Any] = {f: float(k[f]) for f in KPI_FIELDS}
            fields |= {f: int(k[f]) for f in KPI_INT_FIELDS}
            if scope == "cell":
                fields |= {f: float(k[f]) for f in CELL_FIELDS}
                fields |= {f: int(k[f]) for f in CELL_INT_FIELDS}
            self.emit(f"kpi,cell={self.cell},scope={scope}", fields, t)


def fallback_lines(scenario: Path, until_s: float, signal_period_s: float) -> list[str]:
    """Lines of a simulated run built in-process (signals, events, KPIs every 10 samples)."""
    sc = load_scenario(scenario)
    kinds = {m.id: m.kind for m in sc.cell.machines}
    origin_ns = int(sc.start.timestamp()) * 1_000_000_000
    enc = _Encoder(sc.cell.name, kinds, origin_ns)
    robot = sc.cell.transport_robot
    kpi = KpiCollector(list(kinds), {robot} if robot else set())
    samples = 0

    def on_event(ev: Event) -> None:
        kpi(ev)
        enc.event(ev)

    def on_sample(t: float, store: SignalStore) -> None:
        nonlocal samples
        enc.signals(t, store)
        if samples % 10 == 9:
            enc.kpis(t, kpi.report(t))
        samples += 1

    run_simulation(
        sc,
        until=until_s,
        signal_period=signal_period_s,
        signal_consumers=[on_sample],
        subscribers=[on_event],
        plots=False,
    )
    return enc.lines
