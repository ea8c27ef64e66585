"""ISO 22400 KPIs computed from events, per machine and for the cell.

Time elements per machine follow from its MachineryItemState and operation mode:

============================  ===================================================
APT  actual production time   Executing + Processing
AUST actual unit setup time   Executing + Setup (changeovers, tool replacement)
ADOT actual unit down time    OutOfService (breakdowns, faults, print failures)
PDT  planned down time        NotAvailable (planned maintenance)
PBT  planned busy time        period - PDT
============================  ===================================================

The KPIs (ISO 22400-2), with PQ the produced quantity (operations finished, not aborted) and
GQ the good quantity:

- availability = APT / PBT
- effectiveness = planned run time of the PQ items / APT (ISO: planned run time per item x
  PQ / APT); above 1 when operations run faster than planned, as ISO 22400 allows. The
  transport robot's transfers count in its planned run time (each as the move itself), so
  that APT spent moving parts does not lower it, but not in its PQ: they make no part. The
  APT of an operation still under way is left out until it ends: its output is not in PQ yet,
  and counting its time would make a machine running to plan read, say, 25 % in the middle
  of a 4-hour print (a live twin reports every few seconds). Aborted operations' APT counts.
- quality ratio = GQ / PQ
- OEE = availability x effectiveness x quality ratio
- utilisation = (APT + AUST) / PBT

Undefined is NaN, never 0: a KPI with nothing to rate. Effectiveness, quality ratio and OEE
rate what was produced: with PQ = 0 (a printer on its first part, a robot that only moved
parts) they are NaN; 0 % would read as a machine doing badly when it is simply mid-job (APT
spent on a part not finished yet). Likewise availability and utilisation with PBT = 0, the
job statistics (lead time, tardiness, job quality ratio) before any job finished, and
throughput and mean WIP over an empty period. NaN keeps every KPI a float, and OEE is NaN as
soon as one factor is; ``defined`` tells a value from NaN (and from None), ``as_json`` turns
NaN into None (JSON null); line protocol leaves NaN fields out.

Cell values add the time elements and counts of all machines except the transport robot
(the report's ``cell_excludes``) before dividing. Job KPIs: throughput (completed jobs per
hour), lead time (arrival to completion), tardiness (completion - due, >= 0), late jobs, WIP
(time average and maximum of jobs released and not finished) and backlog (of orders received
and not released yet: waiting for a ``max_wip`` slot). Lead time runs from the order's
arrival, so Little's law over a long run reads throughput x lead time = WIP + backlog.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.events import (
    CommandApplied,
    Event,
    JobCancelled,
    JobCompleted,
    JobReleased,
    JobScrapped,
    JobStopped,
    MachineStateChanged,
    OperationFinished,
    OperationStarted,
    OrderReceived,
    TransferFinished,
    TransferStarted,
)
from twin.model.scenario import CellConfig

__all__ = ["KpiCollector", "MachineTimes", "as_json", "compute_kpis", "defined"]


@dataclass(slots=True)
class MachineTimes:
    """Accumulated time elements and counts of one machine."""

    processing: float = 0.0
    setup: float = 0.0
    down: float = 0.0
    planned_down: float = 0.0
    idle: float = 0.0
    planned_output: float = 0.0
    produced: int = 0
    good: int = 0
    op_from: float = -1.0  # processing when the operation under way started (-1: none)
    state: str = "NotExecuting"
    mode: str = "Processing"
    since: float = 0.0

    def close(self, t: float) -> None:
        dt = t - self.since
        if dt > 0:
            if self.state == "Executing":
                if self.mode == "Setup":
                    self.setup += dt
                else:
                    self.processing += dt
            elif self.state == "OutOfService":
                self.down += dt
            elif self.state == "NotAvailable":
                self.planned_down += dt
            else:
                self.idle += dt
        self.since = t

    def running(self) -> float:
        """APT of the operation under way (0 with none), up to the last ``close``."""
        return self.processing - self.op_from if self.op_from >= 0 else 0.0


def _ratio(a: float, b: float) -> float:
    """a / b; undefined (NaN) when there is nothing to divide by."""
    return a / b if b > 0 else math.nan


def defined(value: float | None) -> bool:
    """Whether a KPI has a value: False for NaN (a report) and None (a report read back
    from JSON, e.g. ``summary.json``)."""
    return value is not None and not math.isnan(value)


def as_json(report: Mapping[str, Any]) -> dict[str, Any]:
    """``report`` with its undefined KPIs (NaN) as None: JSON has no NaN, its null says
    "no value" (``json.dumps`` would write ``NaN``, which JSON parsers refuse)."""
    return {key: _json_value(value) for key, value in report.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return as_json(value)
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


@dataclass
class KpiCollector:
    """EventBus subscriber accumulating what the KPIs need; ``report(t_end)`` computes them."""

    machines: list[str]
    exclude: set[str] = field(default_factory=set)
    start: float = 0.0
    times: dict[str, MachineTimes] = field(init=False)
    completed: int = 0
    completed_good: int = 0
    scrapped: int = 0
    cancelled: int = 0
    stopped: int = 0
    late: int = 0
    # 8 bytes a completed job (a twin serving for weeks completes millions): the lead times
    # for their 95th percentile; the means and the maximum as running values
    lead_times: array[float] = field(default_factory=lambda: array("d"))
    lead_time_sum: float = 0.0
    tardiness_sum: float = 0.0
    tardiness_max: float = -math.inf
    _p95: tuple[int, float] = field(default=(0, math.nan), init=False, repr=False)
    wip: int = 0
    wip_max: int = 0
    # orders received and not yet released (waiting for a max_wip slot): time average
    backlog: int = 0
    backlog_max: int = 0
    backlog_area: float = 0.0
    backlog_since: float = 0.0
    wip_area: float = 0.0
    wip_since: float = 0.0

    @classmethod
    def for_cell(cls, cell: CellConfig, start: float = 0.0) -> KpiCollector:
        """A collector for every machine of ``cell``; the transport robot stays out of the
        cell totals (its production is moving parts, not making them)."""
        robot = cell.transport_robot
        return cls([m.id for m in cell.machines], {robot} if robot else set(), start)

    def __post_init__(self) -> None:
        self.times = {m: MachineTimes(since=self.start) for m in self.machines}
        self.wip_since = self.start
        self._in_cell: set[str] = set()
        self._waiting: set[str] = set()
        self.backlog_since = self.start
        self._transfers: dict[str, float] = {}
        self._handlers: dict[type[Event], Callable[[Any], None]] = {
            MachineStateChanged: self._state,
            OperationStarted: self._operation_started,
            OperationFinished: self._operation,
            TransferStarted: self._transfer_started,
            TransferFinished: self._transfer_finished,
            OrderReceived: self._received,
            CommandApplied: self._command,
            JobReleased: self._released,
            JobCompleted: self._completed,
            JobScrapped: self._scrapped,
            JobCancelled: self._cancelled,
            JobStopped: self._stopped,
        }

    def _wip(self, t: float, delta: int) -> None:
        self.wip_area += self.wip * (t - self.wip_since)
        self.wip_since = t
        self.wip += delta
        self.wip_max = max(self.wip_max, self.wip)

    def __call__(self, ev: Event) -> None:
        # most events are of no interest here: one dict lookup, then the handler of the type
        handler = self._handlers.get(type(ev))
        if handler is not None:
            handler(ev)

    def _state(self, ev: MachineStateChanged) -> None:
        mt = self.times[ev.machine]
        mt.close(ev.t)
        mt.state, mt.mode = ev.state, ev.mode

    def _operation_started(self, ev: OperationStarted) -> None:
        mt = self.times[ev.machine]
        mt.close(ev.t)
        mt.op_from = mt.processing

    def _operation(self, ev: OperationFinished) -> None:
        mt = self.times[ev.machine]
        mt.op_from = -1.0
        if not ev.aborted:
            mt.produced += 1
            mt.good += ev.good
            mt.planned_output += ev.planned

    def _transfer_started(self, ev: TransferStarted) -> None:
        self._transfers[ev.job] = ev.t

    def _transfer_finished(self, ev: TransferFinished) -> None:
        # a transfer is the robot's production: its planned time is the move itself
        t0 = self._transfers.pop(ev.job, ev.t)
        self.times[ev.robot].planned_output += ev.t - t0

    def _backlog(self, t: float, delta: int) -> None:
        self.backlog_area += self.backlog * (t - self.backlog_since)
        self.backlog_since = t
        self.backlog += delta
        self.backlog_max = max(self.backlog_max, self.backlog)

    def _received(self, ev: OrderReceived) -> None:
        if ev.job not in self._waiting:
            self._waiting.add(ev.job)
            self._backlog(ev.t, +1)

    def _command(self, ev: CommandApplied) -> None:
        # RevokeStart: an order waiting for release goes back to the stored orders (no event
        # of its own; started again, it is received again)
        if ev.command == "revoke_start":
            self._unwait(ev.args.get("job"), ev.t)

    def _unwait(self, job: object, t: float) -> None:
        """``job`` leaves the backlog, if it is there (released, cancelled or revoked)."""
        if job in self._waiting:
            self._waiting.discard(job)
            self._backlog(t, -1)

    def _released(self, ev: JobReleased) -> None:
        self._unwait(ev.job, ev.t)
        self._in_cell.add(ev.job)
        self._wip(ev.t, +1)

    def _completed(self, ev: JobCompleted) -> None:
        self._leave(ev.job, ev.t)
        self.completed += 1
        self.completed_good += ev.good
        self.lead_times.append(ev.lead_time)
        self.lead_time_sum += ev.lead_time
        self.tardiness_sum += ev.tardiness
        self.tardiness_max = max(self.tardiness_max, ev.tardiness)
        self.late += ev.tardiness > 0

    def _scrapped(self, ev: JobScrapped) -> None:
        self._leave(ev.job, ev.t)
        self.scrapped += 1

    def _cancelled(self, ev: JobCancelled) -> None:
        self._unwait(ev.job, ev.t)  # cancelled in the backlog: it never entered
        self._leave(ev.job, ev.t)
        self.cancelled += 1

    def _stopped(self, ev: JobStopped) -> None:
        # ended early: not a finished product (no throughput, lead time or job quality); its
        # operations done count as the machines' production
        self._leave(ev.job, ev.t)
        self.stopped += 1

    def _leave(self, job: str, t: float) -> None:
        if job in self._in_cell:
            self._in_cell.discard(job)
            self._wip(t, -1)

    def feed(self, events: Iterable[Event]) -> KpiCollector:
        for ev in events:
            self(ev)
        return self

    def report(self, t_end: float) -> dict[str, Any]:
        """All KPIs over [start, t_end] as plain data: ``machines`` (per machine id),
        ``cell`` (its machines' KPIs and the job KPIs) and ``cell_excludes`` (the machines
        left out of the cell values). Undefined KPIs are NaN (see the module)."""
        period = max(t_end - self.start, 0.0)
        machines: dict[str, dict[str, float]] = {}
        total = MachineTimes()
        running = 0.0
        for mid, mt in self.times.items():
            mt.close(t_end)
            machines[mid] = _machine_kpis(mt, period, mt.running())
            if mid not in self.exclude:
                running += mt.running()
                for name in (
                    "processing",
                    "setup",
                    "down",
                    "planned_down",
                    "idle",
                    "planned_output",
                ):
                    setattr(total, name, getattr(total, name) + getattr(mt, name))
                total.produced += mt.produced
                total.good += mt.good
        n = max(len(self.times) - len(self.exclude & set(self.times)), 1)
        cell = _machine_kpis(total, period * n, running)
        self.wip_area += self.wip * (t_end - self.wip_since)
        self.wip_since = t_end
        self._backlog(t_end, 0)
        n = len(self.lead_times)
        cell.update(
            period_s=period,
            jobs_completed=self.completed,
            jobs_good=self.completed_good,
            jobs_scrapped=self.scrapped,
            jobs_cancelled=self.cancelled,
            jobs_stopped=self.stopped,
            jobs_late=self.late,
            throughput_per_h=_ratio(self.completed, period / 3600.0),
            lead_time_mean_s=_ratio(self.lead_time_sum, n),
            lead_time_p95_s=self._lead_time_p95(),
            tardiness_mean_s=_ratio(self.tardiness_sum, n),
            tardiness_max_s=self.tardiness_max if n else math.nan,
            wip_mean=_ratio(self.wip_area, period),
            wip_max=self.wip_max,
            wip_end=self.wip,
            backlog_mean=_ratio(self.backlog_area, period),
            backlog_max=self.backlog_max,
            backlog_end=self.backlog,
            quality_ratio_jobs=_ratio(self.completed_good, self.completed + self.scrapped),
        )
        excluded = [m for m in self.times if m in self.exclude]
        return {"cell": cell, "machines": machines, "cell_excludes": excluded}

    def _lead_time_p95(self) -> float:
        """The 95th percentile lead time (the value of rank int(0.95 n) in order), computed
        again only when jobs completed since (reports come every second while serving): a
        partition, O(n), not a sort."""
        n = len(self.lead_times)
        if n != self._p95[0]:
            k = min(int(0.95 * n), n - 1)
            values = np.array(self.lead_times, dtype=np.float64)  # a copy: the array may grow
            self._p95 = (n, float(np.partition(values, k)[k]))
        return self._p95[1]


def _machine_kpis(mt: MachineTimes, period: float, running: float) -> dict[str, float]:
    pbt = period - mt.planned_down
    availability = _ratio(mt.processing, pbt)
    # nothing produced, nothing to rate: the robot's transfers alone (planned = actual) or a
    # part still in work would make it 100 % or 0 %, neither of which says anything; the
    # operation under way (``running`` of the APT) is rated when it ends
    effectiveness = _ratio(mt.planned_output, mt.processing - running) if mt.produced else math.nan
    quality = _ratio(mt.good, mt.produced)
    return {
        "pbt_s": pbt,
        "apt_s": mt.processing,
        "setup_s": mt.setup,
        "down_s": mt.down,
        "idle_s": mt.idle,
        "planned_down_s": mt.planned_down,
        "produced": mt.produced,
        "good": mt.good,
        "availability": availability,
        "effectiveness": effectiveness,
        "quality_ratio": quality,
        "oee": availability * effectiveness * quality,
        "utilisation": _ratio(mt.processing + mt.setup, pbt),
    }


def compute_kpis(
    events: Iterable[Event], machines: list[str], t_end: float, exclude: set[str] | None = None
) -> dict[str, Any]:
    """KPIs from a finished list of events (e.g. read back from ``events.jsonl``)."""
    return KpiCollector(machines, exclude or set()).feed(events).report(t_end)
