"""ISA-95 job order status events: an MES subscribed with OfType ISA95JobOrderStatusEventType
(abstract: the events are of its subtype in the twin's namespace) hears of every change of
a job order's state, once, with the order, the new state and the response in that state."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from typing import Any

import pytest
from asyncua import Client, ua
from asyncua.common.events import get_filter_from_event_type

from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin, job_order, mes_comment
from tests.opcua.jobs_client import (
    ABORTED,
    ALLOWED_TO_START,
    COMPLETED,
    ENDED,
    INTERRUPTED,
    NOT_ALLOWED_TO_START,
    RUNNING,
    SUSPENDED,
    Watch,
    control_call,
    drive,
    response_data,
    send,
    states_of,
    step_until,
)
from twin import events as tev

pytestmark = pytest.mark.asyncio(loop_scope="module")

ISA95_STATUS_EVENT_TYPE = 1006  # ISA95JobOrderStatusEventType in the OPC 10031-4 nodeset


class StatusEvents:
    """The status events of the job orders a test is about (the cell runs others too)."""

    def __init__(self, *job_ids: str) -> None:
        self.job_ids = set(job_ids)
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def event_notification(self, event: Any) -> None:
        if event.JobOrder.JobOrderID in self.job_ids:
            self.queue.put_nowait(event)

    async def next(self) -> Any:
        return await asyncio.wait_for(self.queue.get(), 10)

    async def told(self, job_id: str, count: int) -> list[Any]:
        """The next ``count`` events, each checked: of ``job_id``, its response in the same
        state."""
        events = []
        for _ in range(count):
            event = await self.next()
            assert event.JobOrder.JobOrderID == event.JobResponse.JobOrderID == job_id
            assert states_of(event.JobResponse.JobState) == states_of(event.JobState)
            events.append(event)
        return events

    async def states(self, job_id: str, count: int) -> list[list[tuple[int, str]]]:
        """The states told by the next ``count`` events (checked as in ``told``)."""
        return [states_of(event.JobState) for event in await self.told(job_id, count)]


async def subscribe(client: Client, twin: Twin, handler: StatusEvents) -> tuple[Any, ua.NodeId]:
    """Subscribe on JobOrderResults with one OfType ISA95JobOrderStatusEventType element, as
    an MES written against the companion specification does; returns the subscription and
    the twin's event type."""
    await client.load_data_type_definitions()
    isa95 = client.get_node(ua.NodeId(ISA95_STATUS_EVENT_TYPE, twin.ns(NS.ISA95_JOBCONTROL)))
    ours = await isa95.get_child(f"{twin.ns(NS.TWIN)}:JobOrderStatusEventType")  # its subtype
    evfilter = await get_filter_from_event_type([isa95, ours], where_clause_generation=False)
    of_type = ua.ContentFilterElement(
        FilterOperator=ua.FilterOperator.OfType,
        FilterOperands=[ua.LiteralOperand(Value=ua.Variant(isa95.nodeid))],
    )
    evfilter.WhereClause = ua.ContentFilter(Elements=[of_type])
    results = client.get_node(ua.NodeId("Cell.JobManagement.JobOrderResults", twin.ns(NS.TWIN)))
    sub = await client.create_subscription(50, handler)
    await sub.subscribe_events(results, isa95, evfilter=evfilter)
    return sub, ours.nodeid


def at_sim_time(twin: Twin, when: dt.datetime, sim_t: float) -> bool:
    """``when`` is simulated time ``sim_t`` on the run's time axis (within a millisecond)."""
    at = twin.driver.wall_time(sim_t).replace(tzinfo=None)
    return abs(when.replace(tzinfo=None) - at) < dt.timedelta(milliseconds=1)


def housing(twin: Twin, job_id: str, **fields: Any) -> Any:
    return job_order(twin, job_id, type="printed_housing", material="pla", **fields)


async def test_a_job_order_is_followed_from_store_to_end(twin: Twin) -> None:
    handler = StatusEvents("MES-EV-1")
    async with twin.session("otto") as client:
        sub, event_type = await subscribe(client, twin, handler)
        with Watch(twin, "MES-EV-1") as watch:
            await send(client, twin, "Store", housing(twin, "MES-EV-1", volume_cm3=20.0))
            await twin.server.settle()
            stored = await handler.next()
            assert states_of(stored.JobState) == [(NOT_ALLOWED_TO_START, "")]
            assert stored.EventType == event_type
            assert stored.SourceNode == ua.NodeId(
                "Cell.JobManagement.JobOrderResults", twin.ns(NS.TWIN)
            )
            assert at_sim_time(twin, stored.Time, stored.SimTime)
            params = {p.ID: p.Value.Value for p in stored.JobOrder.JobOrderParameters}
            assert params["volume_cm3"] == 20.0

            # an update changes no state: no event; the next one carries the new order
            update = housing(twin, "MES-EV-1", volume_cm3=24.0)
            updated = await control_call(client, twin, "Update", ua.Variant(update), mes_comment())
            assert updated.StatusCode.is_good()
            started = await control_call(
                client, twin, "Start", ua.Variant("MES-EV-1"), mes_comment()
            )
            assert started.StatusCode.is_good()
            await step_until(twin, watch, tev.JobCompleted)
            await twin.server.settle()
            first = await handler.next()
            assert states_of(first.JobState) == [(ALLOWED_TO_START, "")]
            params = {p.ID: p.Value.Value for p in first.JobOrder.JobOrderParameters}
            assert params["volume_cm3"] == 24.0
            rest: list[list[tuple[int, str]]] = []
            while not rest or rest[-1][0][0] != ENDED:
                rest += await handler.states("MES-EV-1", 1)
        assert rest[0] == [(RUNNING, "")]
        assert rest[-1] == [(ENDED, ""), (COMPLETED, "EndedSubstates")]
        assert all(a != b for a, b in itertools.pairwise(rest))  # each change once
        assert handler.queue.empty()
        await sub.delete()
        # and in the history of JobOrderResults
        results = client.get_node(ua.NodeId("Cell.JobManagement.JobOrderResults", twin.ns(NS.TWIN)))
        history = await results.read_event_history(evtypes=[client.get_node(event_type)])
        mine = [states_of(e.JobState) for e in history if e.JobOrder.JobOrderID == "MES-EV-1"]
        assert mine == [[(NOT_ALLOWED_TO_START, "")], [(ALLOWED_TO_START, "")], *rest]


async def test_pause_resume_abort_and_cancel_are_told(twin: Twin) -> None:
    handler = StatusEvents("MES-EV-2", "MES-EV-3")
    async with twin.session("otto") as client:
        sub, _ = await subscribe(client, twin, handler)
        with Watch(twin, "MES-EV-2") as watch:
            await send(client, twin, "StoreAndStart", housing(twin, "MES-EV-2", volume_cm3=30.0))
            await step_until(twin, watch, tev.JobReleased)
            job = twin.engine.jobs["MES-EV-2"]
            assert await handler.states("MES-EV-2", 2) == [
                [(ALLOWED_TO_START, "")],
                [(RUNNING, "")],
            ]
            for method in ("Pause", "Resume", "Abort"):
                result = await control_call(
                    client, twin, method, ua.Variant("MES-EV-2"), mes_comment()
                )
                assert result.StatusCode.is_good(), method
                if method == "Pause":
                    await drive(twin, lambda: job.state == "held", "MES-EV-2 held")
            await drive(twin, lambda: job.state == "cancelled", "MES-EV-2 aborted")
            told = await handler.told("MES-EV-2", 3)
        assert [states_of(event.JobState) for event in told] == [
            [(INTERRUPTED, ""), (SUSPENDED, "InterruptedSubstates")],
            [(RUNNING, "")],
            [(ABORTED, "")],
        ]
        aborted = response_data(told[-1].JobResponse)
        assert aborted["Scrapped"] is False
        assert aborted["OperationsDone"] < aborted["Operations"]
        assert at_sim_time(twin, told[-1].JobResponse.EndTime, told[-1].SimTime)

        # Cancel withdraws a stored order from the lists: the MES still hears it ended
        await send(client, twin, "Store", housing(twin, "MES-EV-3", volume_cm3=12.0))
        cancelled = await control_call(
            client, twin, "Cancel", ua.Variant("MES-EV-3"), mes_comment()
        )
        assert cancelled.StatusCode.is_good()
        await twin.server.settle()
        assert await handler.states("MES-EV-3", 2) == [
            [(NOT_ALLOWED_TO_START, "")],
            [(ABORTED, "")],
        ]
        await sub.delete()
