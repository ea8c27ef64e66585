"""What the ISA-95 job management keeps of each twin job beyond ``engine.jobs``, followed from
the twin's events: when it was released into the cell, the operations it finished, when and
how it ended (the responses' StartTime, OperationsDone, EndTime, Good, Scrapped, Stopped,
Remake).

``JobRecords`` is an EventBus subscriber that needs neither a server nor the engine, like the
run's KPIs, so that ``twin run --resume`` can feed it through the replay from time 0 and give
it to the server (``BuildContext.job_records``): a restored twin's responses then keep their
StartTime, and the ended orders an MES had not cleared are still listed, with their results.
A server given none keeps its own from the engine's state when it starts (``JobRecords.of``):
the jobs in the cell then have no StartTime, and ended jobs are not listed.

An order aborted in the cell (Abort, or cancelled through the API) is Aborted from the
command on, with what it had done then, though the twin ends the step under way before the
part leaves (OPC 10031-4 FromRunningToAborted); that end changes nothing. At most
``2 * MAX_ENDED`` ended records are kept between two ``trim`` calls (the jobs family trims to
``MAX_ENDED`` whenever it writes the lists): a replay of a long run keeps the latest ones.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opcua_server.nodes import isa95
from opcua_server.nodes.job_results import Record
from twin import events as tev
from twin.engine.jobs import ENDED_STATES

if TYPE_CHECKING:
    from twin.engine.cell import Engine

__all__ = ["MAX_ENDED", "JobRecords"]

MAX_ENDED = 1000  # ended job orders kept for the MES until cleared (oldest drop out first)


class JobRecords:
    """The records of the twin's jobs: ``backlog`` (waiting for release), ``in_cell``
    (released, in order of release) and ``ended`` (in order of ending), by job id."""

    def __init__(self) -> None:
        self.backlog: dict[str, Record] = {}
        self.in_cell: dict[str, Record] = {}
        self.ended: OrderedDict[str, Record] = OrderedDict()
        # aborted in the cell, listed as Aborted since, while the twin ends the step under way
        self._leaving: set[str] = set()
        self._dropped: list[str] = []
        # a scrapped part's remake: the order's arrival, for the remake received next
        self._remade: dict[str, float] = {}
        self._handlers: dict[type[tev.Event], Callable[[Any], None]] = {
            tev.OrderReceived: self._received,
            tev.JobReleased: self._released,
            tev.OperationFinished: self._operation,
            tev.JobCompleted: self._completed,
            tev.JobScrapped: self._scrapped,
            tev.JobCancelled: self._cancelled,
            tev.JobStopped: self._stopped,
            tev.CommandApplied: self._command,
        }

    @classmethod
    def of(cls, engine: Engine) -> JobRecords:
        """Records of the jobs ``engine`` has now, for a server started on a twin whose
        events it did not follow: the backlog, and the jobs in the cell with the operations
        they finished (no release times; aborted ones from the command journal's time)."""
        records = cls()
        leaving = []
        for job in engine.jobs.values():
            if job.state == "backlog":
                records.backlog[job.id] = Record(job.id, arrival=job.arrival, due=job.due)
            elif job.state not in ENDED_STATES:
                rec = Record(job.id, ops_done=job.op_index, arrival=job.arrival, due=job.due)
                records.in_cell[job.id] = rec
                if job.leaving == "cancelled":  # its step under way not ended yet
                    leaving.append(job.id)
        if leaving:
            when = {ev.args["job"]: ev.t for ev in engine.journal if ev.command == "cancel_order"}
            for job_id in leaving:
                records.abort(job_id, when.get(job_id, engine.now))
        return records

    def __call__(self, ev: tev.Event) -> None:
        handler = self._handlers.get(type(ev))
        if handler is not None:
            handler(ev)

    def abort(self, job_id: str, t: float) -> None:
        """The job in the cell ``job_id`` is Aborted from ``t`` on, with what it did so far."""
        self._end(job_id, t, isa95.ABORTED)
        self._leaving.add(job_id)

    def trim(self, limit: int) -> list[str]:
        """Drop the oldest ended records beyond ``limit``; returns the ids dropped since the
        last call."""
        self._drop(limit)
        dropped, self._dropped = self._dropped, []
        return dropped

    def _drop(self, limit: int) -> None:
        while len(self.ended) > limit:
            self._dropped.append(self.ended.popitem(last=False)[0])

    def _received(self, ev: tev.OrderReceived) -> None:
        # a remake is the same customer order: it arrived when the order did (Job.arrival)
        arrival = self._remade.pop(ev.job, ev.t) if ev.source == "remake" else ev.t
        self.backlog[ev.job] = Record(ev.job, arrival=arrival, due=ev.due)

    def _released(self, ev: tev.JobReleased) -> None:
        rec = self.backlog.pop(ev.job, None)
        if rec is not None:
            rec.started = ev.t
            self.in_cell[ev.job] = rec

    def _operation(self, ev: tev.OperationFinished) -> None:
        rec = self.in_cell.get(ev.job)
        if rec is not None and not ev.aborted:
            rec.ops_done += 1
            rec.response = None  # its response in JobOrderResponseList changes

    def _completed(self, ev: tev.JobCompleted) -> None:
        self._end(ev.job, ev.t, isa95.ENDED).good = ev.good

    def _scrapped(self, ev: tev.JobScrapped) -> None:
        rec = self._end(ev.job, ev.t, isa95.ABORTED)
        rec.scrapped, rec.remake = True, ev.remake or ""
        if ev.remake:
            self._remade[ev.remake] = rec.arrival

    def _cancelled(self, ev: tev.JobCancelled) -> None:
        self._end(ev.job, ev.t, isa95.ABORTED)

    def _stopped(self, ev: tev.JobStopped) -> None:
        self._end(ev.job, ev.t, isa95.ENDED).stopped = True

    def _command(self, ev: tev.CommandApplied) -> None:
        job = ev.args.get("job")
        if not isinstance(job, str):  # a command about no job (faults, the clock)
            return
        if ev.command == "cancel_order" and job in self.in_cell:
            self.abort(job, ev.t)  # (one not released has ended already)
        elif ev.command == "revoke_start":  # AllowedToStart -> NotAllowedToStart (stored)
            self.backlog.pop(job, None)
        elif ev.command == "update_order" and job in self.backlog:
            due = ev.args["order"].get("due")
            rec = self.backlog[job]
            rec.entry = None  # rebuilt with the new order
            if due is not None:
                rec.due = due

    def _end(self, job_id: str, t: float, state: int) -> Record:
        if job_id in self._leaving:  # Aborted since its abort: its end changes nothing
            self._leaving.discard(job_id)
            return Record(job_id)  # (what the caller sets on it is not kept)
        rec = self.in_cell.pop(job_id, None) or self.backlog.pop(job_id, None) or Record(job_id)
        rec.state, rec.ended, rec.entry = state, t, None
        self.ended[job_id] = rec
        if len(self.ended) > 2 * MAX_ENDED:  # nobody trims during a replay
            self._drop(MAX_ENDED)
        return rec
