"""Event filters of live subscriptions (``opcua_server.event_filter``): a filter the server
cannot evaluate is refused when the item is created or modified, with the status of each
clause, instead of an item that never delivers and a traceback in the log for every event;
an accepted where clause selects what a HistoryRead with the same filter selects."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import pytest
from asyncua import Client, ua
from asyncua.common.events import get_filter_from_event_type
from asyncua.common.subscription import Subscription

from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin
from tests.opcua.test_history_filter import field, lit, where
from tests.opcua.test_history_where import history_read_events
from tests.opcua.test_interop import _connection, _end, _line, _spawn

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVER = ua.NodeId(ua.ObjectIds.Server)
F = ua.FilterOperator
S = ua.StatusCodes


class _Events:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self._more = asyncio.Event()

    def event_notification(self, event: Any) -> None:
        self.events.append(event)
        self._more.set()

    async def at_least(self, count: int) -> None:
        """Wait until ``count`` events came (bounded: 10 s)."""
        async with asyncio.timeout(10):
            while len(self.events) < count:
                self._more.clear()
                await self._more.wait()


async def _filter(client: Client, clause: ua.ContentFilter | None) -> ua.EventFilter:
    evfilter = await get_filter_from_event_type(
        [client.nodes.base_event_type], where_clause_generation=False
    )
    evfilter.WhereClause = clause or ua.ContentFilter()
    return evfilter


async def _create(
    client: Client, sub: Subscription, *filters: Any
) -> list[ua.MonitoredItemCreateResult]:
    """CreateMonitoredItems on the Server object's events, one item per filter, as a raw
    request (the results with their FilterResult)."""
    items = []
    for handle, evfilter in enumerate(filters, start=1000):
        item = ua.MonitoredItemCreateRequest()
        item.ItemToMonitor = ua.ReadValueId(
            NodeId=SERVER, AttributeId=ua.AttributeIds.EventNotifier
        )
        item.MonitoringMode = ua.MonitoringMode.Reporting
        item.RequestedParameters = ua.MonitoringParameters(
            ClientHandle=handle, QueueSize=10, Filter=evfilter
        )
        items.append(item)
    params = ua.CreateMonitoredItemsParameters(
        SubscriptionId=sub.subscription_id,
        ItemsToCreate=items,
        TimestampsToReturn=ua.TimestampsToReturn.Both,
    )
    return await client.uaclient.create_monitored_items(params)


def _element_codes(result: Any) -> list[int]:
    return [r.StatusCode.value for r in result.FilterResult.WhereClauseResult.ElementResults]


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info is not None or r.levelno >= logging.ERROR]


async def _events_flow(twin: Twin) -> None:
    """Some events from the Server object: a machine down and up again, time running."""
    twin.api.inject_fault("vision1", "maintenance", None)
    await twin.step(1.0)
    twin.api.clear_fault("vision1")
    await twin.step(30.0)


async def _marker(twin: Twin, client: Client, sub: Subscription, handler: _Events) -> bytes:
    """An event every filter before it has been evaluated for: a maintenance of cnc1, through
    an item of its own on ``sub``; waits until ``handler`` has it and returns its EventId.
    What the other items of ``sub`` deliver for the events before it has come by then (one
    subscription publishes its items' notifications in order), so a test can assert that
    nothing else came, without sleeping."""
    fault_type = await client.nodes.base_event_type.get_child(
        [
            "0:SystemEventType",
            "0:DeviceFailureEventType",
            f"{twin.ns(NS.TWIN)}:MachineFaultEventType",
        ]
    )
    clause = where(
        (F.And, [ua.ElementOperand(1), ua.ElementOperand(2)]),
        (F.OfType, [lit(fault_type.nodeid)]),
        (F.Equals, [field("MachineId"), lit("cnc1")]),
    )
    await sub.subscribe_events(SERVER, evfilter=await _filter(client, clause))
    twin.api.inject_fault("cnc1", "maintenance", None)
    await twin.step(1.0)
    async with asyncio.timeout(10):
        while not (
            found := [
                e
                for e in handler.events
                if e.EventType == fault_type.nodeid and e.SourceName == "cnc1"
            ]
        ):
            await handler.at_least(len(handler.events) + 1)
    twin.api.clear_fault("cnc1")
    await twin.step(1.0)
    marker: bytes = found[0].EventId
    return marker


async def test_a_filter_it_cannot_evaluate_is_refused_at_creation(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    async with twin.session() as client:
        sub = await client.create_subscription(50, _Events())
        severity = field("Severity")
        bad_attribute = await _filter(client, None)
        bad_attribute.SelectClauses[0].AttributeId = 99
        no_select = await _filter(client, None)
        no_select.SelectClauses = []
        cases = [
            # (filter, element codes expected; None: no where clause result)
            (
                where((F.RelatedTo, [severity, lit(1), lit(1), lit(1)])),
                [S.BadFilterOperatorUnsupported],
            ),
            (where((F.Equals, [severity])), [S.BadFilterOperandCountMismatch]),
            (
                where(
                    (F.And, [ua.ElementOperand(1), ua.ElementOperand(5)]), (F.IsNull, [severity])
                ),
                [S.BadFilterElementInvalid, S.Good],
            ),
            (where((F.Not, [ua.ElementOperand(0)])), [S.BadFilterElementInvalid]),
            (
                where(
                    (F.Or, [ua.ElementOperand(1), ua.ElementOperand(2)]),
                    (F.IsNull, [severity]),
                    (F.Cast, [severity, lit(ua.NodeId(6))]),
                ),
                [S.Good, S.Good, S.BadFilterOperatorUnsupported],
            ),
            (
                where((F.Equals, [ua.AttributeOperand(NodeId=SERVER), lit(1)])),
                [S.BadFilterOperandInvalid],
            ),
            (where((F.OfType, [lit("BaseEventType")])), [S.BadFilterOperandInvalid]),
        ]
        filters = [await _filter(client, clause) for clause, _ in cases]
        results = await _create(client, sub, *filters, bad_attribute, no_select, None)
        for result, (_, codes) in zip(results, cases, strict=False):
            assert result.StatusCode.value == S.BadEventFilterInvalid
            assert _element_codes(result) == codes
        *_, attribute, nothing, missing = results
        assert attribute.StatusCode.value == S.BadEventFilterInvalid
        codes = [c.value for c in attribute.FilterResult.SelectClauseResults]
        assert codes[0] == S.BadAttributeIdInvalid
        assert set(codes[1:]) == {S.Good}
        assert nothing.StatusCode.value == S.BadEventFilterInvalid
        assert missing.StatusCode.value == S.BadEventFilterInvalid
        # nothing was created: the events flow and the log stays quiet
        caplog.clear()
        with caplog.at_level(logging.INFO):
            await _events_flow(twin)
        assert not _tracebacks(caplog)
        await sub.delete()


async def test_a_where_clause_never_raises_on_an_event(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    # valid clauses whose values do not compare, or fields events do not have: null, not an
    # exception (asyncua logged a traceback for every event, thousands a second at speed)
    async with twin.session() as client:
        handler = _Events()
        sub = await client.create_subscription(20, handler)
        for clause in (
            where((F.GreaterThan, [field("Message"), lit(5)])),
            where((F.Like, [field("Severity"), lit("9%")])),
            where((F.Equals, [field("NoSuchField", "Id"), lit(1)])),
        ):
            await sub.subscribe_events(SERVER, evfilter=await _filter(client, clause))
        caplog.clear()
        await _events_flow(twin)
        marker = await _marker(twin, client, sub, handler)
        assert [e.EventId for e in handler.events] == [marker]  # nothing but the marker
        assert not _tracebacks(caplog)
        await sub.delete()


async def test_live_events_are_those_the_history_returns(twin: Twin) -> None:
    async with twin.session() as client:
        base = client.nodes.base_event_type
        system = await base.get_child(["0:SystemEventType"])
        state_type = await base.get_child([f"{twin.ns(NS.TWIN)}:MachineStateChangedEventType"])
        clause = where(
            (F.Or, [ua.ElementOperand(1), ua.ElementOperand(2)]),
            (F.OfType, [lit(system.nodeid)]),  # subtypes too (fault cleared, device failure)
            (F.And, [ua.ElementOperand(3), ua.ElementOperand(4)]),
            (F.Like, [field("SourceName"), lit("vision_")]),
            (F.Equals, [field("ItemState"), lit("NotAvailable")]),
        )
        evfilter = await _filter(client, clause)
        handler = _Events()
        sub = await client.create_subscription(20, handler)
        await sub.subscribe_events(SERVER, evfilter=evfilter)
        start = twin.driver.wall_time(twin.engine.now)
        await _events_flow(twin)
        end = twin.driver.wall_time(twin.engine.now) + dt.timedelta(seconds=1)
        stored, _ = await history_read_events(client, SERVER, evfilter, start, end)
        await handler.at_least(len(stored))
        marker = await _marker(twin, client, sub, handler)  # and no more before it
        await sub.delete()
    live = sorted(e.EventId for e in handler.events if e.EventId != marker)
    assert live
    types = {e.EventType for e in handler.events}
    assert state_type.nodeid in types  # the Like branch
    assert types - {system.nodeid, state_type.nodeid}  # and a subtype of SystemEventType
    assert live == sorted(e.EventId for e in stored)


async def test_a_modified_filter_is_checked_and_applied(twin: Twin) -> None:
    async with twin.session() as client:
        handler = _Events()
        sub = await client.create_subscription(20, handler)
        state_type = await client.nodes.base_event_type.get_child(
            f"{twin.ns(NS.TWIN)}:MachineStateChangedEventType"
        )
        nothing = where((F.Equals, [field("Severity"), lit(-1)]))
        handle = await sub.subscribe_events(SERVER, evfilter=await _filter(client, nothing))
        item = sub._monitored_items[next(iter(sub._monitored_items))]

        async def modify(clause: ua.ContentFilter) -> Any:
            request = ua.MonitoredItemModifyRequest()
            request.MonitoredItemId = handle
            request.RequestedParameters = ua.MonitoringParameters(
                ClientHandle=item.client_handle,
                QueueSize=10,
                Filter=await _filter(client, clause),
            )
            params = ua.ModifyMonitoredItemsParameters(
                SubscriptionId=sub.subscription_id,
                ItemsToModify=[request],
                TimestampsToReturn=ua.TimestampsToReturn.Both,
            )
            (result,) = await client.uaclient.modify_monitored_items(params)
            return result

        refused = await modify(where((F.InView, [lit(SERVER)])))
        assert refused.StatusCode.value == S.BadEventFilterInvalid
        assert _element_codes(refused) == [S.BadFilterOperatorUnsupported]
        await _events_flow(twin)
        marker = await _marker(twin, client, sub, handler)
        assert [e.EventId for e in handler.events] == [marker]  # still its own filter
        handler.events.clear()
        applied = await modify(where((F.OfType, [lit(state_type.nodeid)])))
        assert applied.StatusCode.is_good()
        await _events_flow(twin)
        await handler.at_least(1)
        assert {e.EventType for e in handler.events} == {state_type.nodeid}
        unknown = ua.MonitoredItemModifyRequest(MonitoredItemId=999_999)
        params = ua.ModifyMonitoredItemsParameters(
            SubscriptionId=sub.subscription_id, ItemsToModify=[unknown]
        )
        (result,) = await client.uaclient.modify_monitored_items(params)
        assert result.StatusCode.value == S.BadMonitoredItemIdInvalid
        await sub.delete()


async def test_node_opcua_sees_malformed_filters_refused(twin: Twin) -> None:
    """node-opcua, as the MES that found it, creates event items with where clauses the
    server cannot evaluate: each is refused with the status of each element, in one request
    with a valid item, which is created."""
    work, config = _connection(twin, "node-event-filter", "vera")
    proc = await _spawn("event_filter.js", work, config)
    try:
        result = await _line(proc, "result")
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        await _end(proc)
    assert result["items"] == [
        {"status": "BadEventFilterInvalid", "elements": ["BadFilterOperatorUnsupported"]},
        {"status": "BadEventFilterInvalid", "elements": ["BadFilterOperandCountMismatch"]},
        {"status": "BadEventFilterInvalid", "elements": ["BadFilterElementInvalid"]},
        {"status": "Good", "elements": []},
    ]
