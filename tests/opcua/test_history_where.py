"""The where clause of a HistoryRead of events, applied by the server to the stored events
(asyncua's HistoryManager passes it to the storage and ignores it): through real clients,
paging through the rows it leaves out, OfType with subtypes, a clear refusal of what it
cannot evaluate. The clause's evaluation: ``test_history_filter``."""

from __future__ import annotations

import datetime as dt

import pytest
from asyncua import Client, ua
from asyncua.common.event_objects import BaseEvent
from asyncua.common.events import Event, get_filter_from_event_type

from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin
from tests.opcua.test_history_filter import field, lit, where

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVER = ua.NodeId(ua.ObjectIds.Server)
F = ua.FilterOperator


async def history_read_events(
    client: Client, node: ua.NodeId, evfilter: ua.EventFilter, start: dt.datetime, end: dt.datetime
) -> tuple[list[Event], int]:
    """Every event of ``node`` the filter selects, following the continuation points."""
    details = ua.ReadEventDetails()
    details.StartTime, details.EndTime, details.Filter = start, end, evfilter
    item = ua.HistoryReadValueId()
    item.NodeId = node
    events: list[Event] = []
    pages = 0
    while True:
        params = ua.HistoryReadParameters()
        params.ReleaseContinuationPoints = False  # asyncua's default is True: release
        params.HistoryReadDetails = details
        params.NodesToRead = [item]
        (result,) = await client.uaclient.history_read(params)
        result.StatusCode.check()
        pages += 1
        events += [
            Event.from_event_fields(evfilter.SelectClauses, f.EventFields)
            for f in result.HistoryData.Events
        ]
        if not result.ContinuationPoint:
            return events, pages
        item.ContinuationPoint = result.ContinuationPoint


async def test_a_where_clause_filters_across_pages(twin: Twin) -> None:
    history = twin.server.history
    assert history is not None
    at = twin.driver.wall_time(0.0) - dt.timedelta(hours=2)  # before the twin's own events
    for i in range(1_000):
        event = BaseEvent(sourcenode=SERVER, message=f"w-{i}", severity=900 if i % 10 == 0 else 100)
        event.Time = at + dt.timedelta(milliseconds=i)
        history.record_event(SERVER, event)
    history.max_history_data_response_size = 40
    try:
        async with twin.session() as client:
            evfilter = await get_filter_from_event_type([client.nodes.base_event_type])
            evfilter.WhereClause = where(
                (F.GreaterThanOrEqual, [field("Severity"), lit(900, ua.VariantType.UInt16)])
            )
            events, pages = await history_read_events(
                client, SERVER, evfilter, at, at + dt.timedelta(seconds=1)
            )
    finally:
        history.max_history_data_response_size = 10_000
    assert [e.Message.Text for e in events] == [f"w-{i}" for i in range(0, 1_000, 10)]
    assert pages >= 3  # the limit counts the rows returned, not the rows looked at


async def test_of_type_an_abstract_parent_selects_its_subtypes(twin: Twin) -> None:
    twin.api.inject_fault("vision1", "maintenance", None)
    await twin.step(1.0)
    twin.api.clear_fault("vision1")
    await twin.step(1.0)
    async with twin.session() as client:
        base = client.nodes.base_event_type
        system = await base.get_child(["0:SystemEventType"])
        state_type = await base.get_child([f"{twin.ns(NS.TWIN)}:MachineStateChangedEventType"])
        evfilter = await get_filter_from_event_type([base], where_clause_generation=False)
        evfilter.WhereClause = where((F.OfType, [lit(system.nodeid)]))
        start, end = twin.driver.wall_time(0.0), twin.driver.wall_time(twin.engine.now + 1)
        events, _ = await history_read_events(client, SERVER, evfilter, start, end)
        subtypes = {n.nodeid for n in await system.get_children(refs=ua.ObjectIds.HasSubtype)}
        assert events
        assert state_type.nodeid not in {e.EventType for e in events}
        assert {e.EventType for e in events} <= subtypes | {system.nodeid} | {
            n.nodeid
            for s in subtypes
            for n in await client.get_node(s).get_children(refs=ua.ObjectIds.HasSubtype)
        }
        evfilter.WhereClause = where((F.OfType, [lit(state_type.nodeid)]))
        states, _ = await history_read_events(client, SERVER, evfilter, start, end)
        assert states
        assert {e.EventType for e in states} == {state_type.nodeid}


async def test_a_clause_it_cannot_evaluate_is_an_error_not_every_event(twin: Twin) -> None:
    async with twin.session() as client:
        evfilter = await get_filter_from_event_type([client.nodes.base_event_type])
        evfilter.WhereClause = where((F.Cast, [field("Severity"), lit(ua.NodeId(6))]))
        start = twin.driver.wall_time(0.0)
        with pytest.raises(ua.UaStatusCodeError) as err:
            await history_read_events(client, SERVER, evfilter, start, start + dt.timedelta(days=1))
        assert err.value.code == ua.StatusCodes.BadFilterOperatorUnsupported
