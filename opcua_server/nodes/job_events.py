"""Job order status events (OPC 10031-4 ISA95JobOrderStatusEventType): an MES learns of every
change of a job order's state from an event instead of reading JobOrderList again.

ISA95JobOrderStatusEventType is abstract, so the events are of ``JobOrderStatusEventType`` in
the twin's namespace, its subtype, with its three fields (``JobOrder``, the order as received
or as the twin knows it; ``JobState``, the ISA95StateDataType[] of the new state; ``JobResponse``,
the order's response in that state, whose JobState is the same) and ``SimTime``. One event per
change: AllowedToStart when an order is received (or started after Store), NotAllowedToStart
when stored or revoked, Running when released, Interrupted/Held while its machine is down,
Interrupted/Suspended while paused, Ended/Completed and Aborted when it ends (also for an
order withdrawn by Cancel, which leaves the lists). Updating an order changes no state and
sends none.

They are sent from the Server object and from ``JobOrderResults`` (the response provider, which
GeneratesEvent ISA95JobOrderStatusEventType), and recorded in the history. A filter with
OfType ISA95JobOrderStatusEventType selects them (``opcua_server.event_filter``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from asyncua import ua
from asyncua.server.event_generator import EventGenerator

from opcua_server.nodes import isa95
from opcua_server.nodes.events import NOTIFIER, SERVER, trigger_on
from opcua_server.nodes.job_results import JobOrderRecords, Record
from opcua_server.nodesets import NS

__all__ = ["STATUS_EVENT_TYPE", "JobStatusEvents"]

STATUS_EVENT_TYPE = "JobOrderStatusEventType"
_ISA95_STATUS_EVENT_TYPE = 1006  # ISA95JobOrderStatusEventType (abstract)


class JobStatusEvents(JobOrderRecords):
    """Sends a status event for each change of a job order's state (a base of ``JobsFamily``,
    which implements ``_job_order`` and ``_response``)."""

    results: ua.NodeId | None

    def _job_order(self, job_id: str) -> Any:
        raise NotImplementedError

    def _response(self, rec: Record, state: isa95.State) -> Any:
        raise NotImplementedError

    async def _build_status_events(self) -> None:
        ctx = self.ctx
        base = ua.NodeId(_ISA95_STATUS_EVENT_TYPE, ctx.ns[NS.ISA95_JOBCONTROL])
        etype = await ctx.server.create_custom_event_type(
            ctx.twin, STATUS_EVENT_TYPE, base, properties=[("SimTime", ua.VariantType.Double)]
        )
        ctx.event_types[STATUS_EVENT_TYPE] = etype.nodeid
        gen = await ctx.server.get_event_generator(etype, SERVER)
        ext = ua.VariantType.ExtensionObject
        for name in ("JobOrder", "JobState", "JobResponse"):  # no default value to learn from
            gen.event.add_property(name, None, ext)
        self._status_events: EventGenerator = gen
        assert self.results is not None
        results = ctx.server.get_node(self.results)
        await results.write_attribute(
            ua.AttributeIds.EventNotifier, ua.DataValue(ua.Variant(NOTIFIER, ua.VariantType.Byte))
        )
        await ctx.server.get_node(SERVER).add_reference(self.results, ua.ObjectIds.HasNotifier)
        if ctx.history is not None:
            ctx.history.set_event_scope(self.results, self.results)

    def _know_states(self, job_ids: list[str]) -> None:
        """The states of orders the twin had before the server started: not changes."""
        for job_id in job_ids:
            found = self._find(job_id)
            if found is not None:
                found[0].told = found[1]

    def _tell(self, job_id: str) -> None:
        """Queue a status event if the order's state is not the one last told."""
        found = self._find(job_id)
        if found is None or found[0].told == found[1]:
            return
        rec, state = found
        rec.told = state
        # built now: the event tells the state of this moment, whenever the outbox sends it
        send = partial(
            self._send_status,
            self._job_order(job_id),
            self._states(state),
            self._response(rec, state),
            self.ctx.engine.now,
            f"job order {job_id} {isa95.state_text(state)}",
        )
        self.ctx.outbox.put(send)

    async def _send_status(
        self, job_order: Any, states: list[Any], response: Any, sim_t: float, message: str
    ) -> None:
        assert self.results is not None
        event = self._status_events.event
        event.SourceNode = self.results
        event.SourceName = "JobOrderResults"
        event.Severity = 100
        event.SimTime = sim_t
        event.JobOrder, event.JobState, event.JobResponse = job_order, states, response
        await trigger_on(self.ctx, self._status_events, self.results, sim_t, message)
