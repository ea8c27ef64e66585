"""ISO 22400 KPIs computed from events, per machine and for the cell.

Time elements per machine follow from its MachineryItemState and operation mode:

============================  ===================================================
APT  actual production time   Executing + Processing
AUST actual unit setup time   Executing + Setup (changeovers, tool replacement)
ADOT actual unit down time    OutOfService (breakdowns, faults, print failures)
PDT  planned down time        NotAvailable (planned maintenance)
PBT  planned busy time        period - PDT
============================  ===================================================

availability = APT / PBT; effectiveness = sum of planned operation times of produced parts /
APT; quality ratio = good / produced operations; OEE = availability x effectiveness x quality;
utilisation = (APT + AUST) / PBT. Cell values add the time elements and counts of all machines
except the transport robot before dividing. Job KPIs: throughput (completed jobs per hour),
lead time (arrival to completion), tardiness (completion - due, >= 0), late jobs, WIP (time
average and maximum of jobs released and not finished).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from twin.events import (
    Event,
    JobCancelled,
    JobCompleted,
    JobReleased,
    JobScrapped,
    JobStopped,
    MachineStateChanged,
    OperationFinished,
    TransferFinished,
    TransferStarted,
)
from twin.model.scenario import CellConfig

__all__ = ["KpiCollector", "MachineTimes", "compute_kpis"]


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


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else 0.0


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
    lead_times: list[float] = field(default_factory=list)
    tardiness: list[float] = field(default_factory=list)
    wip: int = 0
    wip_max: int = 0
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
        self._transfers: dict[str, float] = {}
        self._handlers: dict[type[Event], Callable[[Any], None]] = {
            MachineStateChanged: self._state,
            OperationFinished: self._operation,
            TransferStarted: self._transfer_started,
            TransferFinished: self._transfer_finished,
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

    def _operation(self, ev: OperationFinished) -> None:
        if not ev.aborted:
            mt = self.times[ev.machine]
            mt.produced += 1
            mt.good += ev.good
            mt.planned_output += ev.planned

    def _transfer_started(self, ev: TransferStarted) -> None:
        self._transfers[ev.job] = ev.t

    def _transfer_finished(self, ev: TransferFinished) -> None:
        # a transfer is the robot's production: its planned time is the move itself
        t0 = self._transfers.pop(ev.job, ev.t)
        self.times[ev.robot].planned_output += ev.t - t0

    def _released(self, ev: JobReleased) -> None:
        self._in_cell.add(ev.job)
        self._wip(ev.t, +1)

    def _completed(self, ev: JobCompleted) -> None:
        self._leave(ev.job, ev.t)
        self.completed += 1
        self.completed_good += ev.good
        self.lead_times.append(ev.lead_time)
        self.tardiness.append(ev.tardiness)
        self.late += ev.tardiness > 0

    def _scrapped(self, ev: JobScrapped) -> None:
        self._leave(ev.job, ev.t)
        self.scrapped += 1

    def _cancelled(self, ev: JobCancelled) -> None:
        self._leave(ev.job, ev.t)  # a job cancelled in the backlog never entered
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
        """All KPIs over [start, t_end] as plain data."""
        period = max(t_end - self.start, 0.0)
        machines: dict[str, dict[str, float]] = {}
        total = MachineTimes()
        for mid, mt in self.times.items():
            mt.close(t_end)
            machines[mid] = _machine_kpis(mt, period)
            if mid not in self.exclude:
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
        cell = _machine_kpis(total, period * n)
        self.wip_area += self.wip * (t_end - self.wip_since)
        self.wip_since = t_end
        lead = sorted(self.lead_times)
        cell.update(
            period_s=period,
            jobs_completed=self.completed,
            jobs_good=self.completed_good,
            jobs_scrapped=self.scrapped,
            jobs_cancelled=self.cancelled,
            jobs_stopped=self.stopped,
            jobs_late=self.late,
            throughput_per_h=_ratio(self.completed, period / 3600.0),
            lead_time_mean_s=_ratio(sum(lead), len(lead)),
            lead_time_p95_s=lead[min(int(0.95 * len(lead)), len(lead) - 1)] if lead else 0.0,
            tardiness_mean_s=_ratio(sum(self.tardiness), len(self.tardiness)),
            tardiness_max_s=max(self.tardiness, default=0.0),
            wip_mean=_ratio(self.wip_area, period),
            wip_max=self.wip_max,
            wip_end=self.wip,
            quality_ratio_jobs=_ratio(self.completed_good, self.completed + self.scrapped),
        )
        return {"cell": cell, "machines": machines}


def _machine_kpis(mt: MachineTimes, period: float) -> dict[str, float]:
    pbt = period - mt.planned_down
    availability = _ratio(mt.processing, pbt)
    effectiveness = _ratio(mt.planned_output, mt.processing)
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
