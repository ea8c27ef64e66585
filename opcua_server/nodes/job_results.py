"""The results side of the cell's job management: ``JobOrderResults``
(ISA95JobResponseProviderObjectType) with ``JobOrderResponseList`` and the two request
methods, built from the records the jobs family keeps of each job order (``Record``).

A job response (ISA95JobResponseDataType) has ``StartTime`` (release into the cell),
``EndTime``, ``JobState`` and ``JobResponseData``: ProductType, Operations, OperationsDone,
Reworks and, once ended, LeadTime and Tardiness (seconds), Good, Scrapped, Stopped (ended early
by Stop: Ended with fewer OperationsDone than Operations) and Remake (the id of the remake
order). Each record's response is cached until its state or its operations change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from asyncua import ua

from opcua_server.nodes import isa95
from opcua_server.nodes.base import BuildContext, eu_information
from opcua_server.nodesets import NS
from twin.errors import CommandError

__all__ = ["OK", "JobOrderRecords", "JobOrderResults", "Record", "ended_state"]

# ReturnStatus of a successful call: bit 0, No Error (OPC 10031-4 B.2). A refused call answers
# a Bad status code instead, which B.2 allows (a Bad call result carries no output arguments).
OK = [ua.Variant(1, ua.VariantType.UInt64)]


@dataclass(slots=True)
class Record:
    """What the interface keeps of one twin job beyond ``engine.jobs``."""

    id: str
    state: int = isa95.ALLOWED_TO_START  # top-level state once ended; live ones follow the engine
    key: isa95.State | None = None  # the state of the cached entry
    started: float | None = None  # released into the cell (simulated seconds)
    ended: float | None = None
    ops_done: int = 0
    arrival: float = 0.0  # received, and due (the engine's job has them while it keeps it)
    due: float = 0.0
    good: bool = False
    scrapped: bool = False
    stopped: bool = False
    remake: str = ""
    entry: Any = None  # cached ISA95JobOrderAndStateDataType (rebuilt when the state changes)
    response: Any = None  # cached ISA95JobResponseDataType (rebuilt when it changes)
    response_state: isa95.State | None = None  # the state of the cached response
    told: isa95.State | None = None  # the state its last status event told


def ended_state(rec: Record) -> isa95.State:
    """An ended order's state: Ended/Completed or Aborted."""
    return (rec.state, isa95.COMPLETED if rec.state == isa95.ENDED else None)


class JobOrderRecords:
    """What the JobOrderControl and JobOrderResults handlers share: the lookups of the job
    orders' records (``JobsFamily``, which keeps the records, implements ``_find`` and
    ``_listed``), their states and timestamps."""

    ctx: BuildContext

    def _find(self, job_id: str) -> tuple[Record, isa95.State] | None:
        """The record of a job order of the cell with its state; None for an unknown or
        cleared one."""
        raise NotImplementedError

    def _listed(self) -> Iterator[tuple[Record, isa95.State]]:
        """The records of JobOrderList with their state, in list order."""
        raise NotImplementedError

    def state_of(self, job_id: str) -> isa95.State | None:
        """ISA-95 state (StateNumber and substate) of a job order of the cell (listed, or in
        the backlog beyond the list); None for an unknown or cleared one."""
        found = self._find(job_id)
        return found[1] if found is not None else None

    def _states(self, state: isa95.State) -> list[Any]:
        return isa95.states(state, self.ctx.ns[NS.ISA95_JOBCONTROL])


class JobOrderResults(JobOrderRecords):
    """Handlers of JobOrderResults and the response list (a base of ``JobsFamily``)."""

    def _response(self, rec: Record, state: isa95.State) -> Any:
        """The job response of ``rec`` in ``state``, cached until its state or its operations
        change."""
        if rec.response is not None and rec.response_state == state:
            return rec.response
        response = isa95.structure("ISA95JobResponseDataType")()
        response.JobResponseID = f"{rec.id}.Response"
        response.JobOrderID = rec.id
        if rec.started is not None:
            response.StartTime = self.ctx.at(rec.started)
        if rec.ended is not None:
            response.EndTime = self.ctx.at(rec.ended)
        response.JobState = self._states(state)
        param = isa95.structure("ISA95ParameterDataType")
        seconds = eu_information("s")
        u32, dbl, b, s = (
            ua.VariantType.UInt32,
            ua.VariantType.Double,
            ua.VariantType.Boolean,
            ua.VariantType.String,
        )
        job = self.ctx.engine.jobs.get(rec.id)
        arrival, due = (job.arrival, job.due) if job is not None else (rec.arrival, rec.due)
        data = [param(ID="OperationsDone", Value=ua.Variant(rec.ops_done, u32))]
        if job is not None:
            data += [
                param(ID="ProductType", Value=ua.Variant(job.family, s)),
                param(ID="Operations", Value=ua.Variant(job.operations, u32)),
                param(ID="Reworks", Value=ua.Variant(job.reworks, u32)),
            ]
        if rec.ended is not None:
            lead_time, tardiness = rec.ended - arrival, max(0.0, rec.ended - due)
            data += [
                param(ID="LeadTime", Value=ua.Variant(lead_time, dbl), EngineeringUnits=seconds),
                param(ID="Tardiness", Value=ua.Variant(tardiness, dbl), EngineeringUnits=seconds),
                param(ID="Good", Value=ua.Variant(rec.good, b)),
                param(ID="Scrapped", Value=ua.Variant(rec.scrapped, b)),
                param(ID="Stopped", Value=ua.Variant(rec.stopped, b)),
            ]
            if rec.remake:
                data.append(param(ID="Remake", Value=ua.Variant(rec.remake, s)))
        response.JobResponseData = data
        rec.response, rec.response_state = response, state
        return response

    def _by_id(self, job_order_id: str) -> list[ua.Variant]:
        found = self._find(job_order_id)
        if found is None:
            raise CommandError(f"JobOrderID: no job order {job_order_id!r} in JobOrderList")
        return [ua.Variant(self._response(*found), ua.VariantType.ExtensionObject), *OK]

    def _by_state(self, states: list[Any] | None) -> list[ua.Variant]:
        # an ISA95StateDataType[] (the call checked it against the declaration), maybe empty
        if not states:
            raise CommandError("JobOrderState: give at least the top-level state (got none)")
        top = int(states[0].StateNumber)
        subs = {int(s.StateNumber) for s in states[1:]}  # any of them, or any if none given
        _check_states(top, subs)
        matching = [
            self._response(rec, (number, sub))
            for rec, (number, sub) in self._listed()
            if number == top and (not subs or sub in subs)
        ]
        return [ua.Variant(matching, ua.VariantType.ExtensionObject), *OK]


def _check_states(top: int, subs: set[int]) -> None:
    """Raise CommandError for a StateNumber OPC 10031-4 does not define: a top-level one not
    of ISA95JobOrderReceiverObjectType, or a substate not of that state (a request for
    such a state would answer an empty list, as if no order were in it)."""
    if top not in isa95.STATE_TEXT:
        known = ", ".join(f"{n} {text}" for n, text in isa95.STATE_TEXT.items())
        raise CommandError(
            f"JobOrderState[0]: StateNumber {top} is no job order state (states: {known})"
        )
    defined = isa95.SPEC_SUBSTATES[top]
    unknown = sorted(subs - defined.keys())
    if unknown:
        name = isa95.STATE_TEXT[top]
        known = ", ".join(f"{n} {text}" for n, text in defined.items()) or "none"
        raise CommandError(
            f"JobOrderState: StateNumber {unknown[0]} is no substate of {name}"
            f" (its substates: {known})"
        )
