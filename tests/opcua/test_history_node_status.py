"""HistoryRead answers each node's problem in that node's result (OPC 10000-4, 5.10.3), not
as a fault of the whole request, and refuses continuation points it did not issue: before, a
used or unknown point failed every node of the request (BadContinuationPointInvalid as a
ServiceFault), 7 garbage bytes gave BadInternalError with a traceback, 16 garbage bytes were
read as a start time and answered with data; a node with no history answered Good and no
values (an MES developer's findings)."""

from __future__ import annotations

import datetime as dt

import pytest
from asyncua import Client, ua
from asyncua.common.events import get_filter_from_event_type

from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVER = ua.NodeId(ua.ObjectIds.Server)


def _raw(start: dt.datetime, end: dt.datetime, n: int = 0) -> ua.ReadRawModifiedDetails:
    details = ua.ReadRawModifiedDetails()
    details.IsReadModified = False
    details.StartTime, details.EndTime, details.NumValuesPerNode = start, end, n
    return details


async def _read(
    client: Client, details: object, *items: tuple[ua.NodeId, bytes | None], release: bool = False
) -> list[ua.HistoryReadResult]:
    params = ua.HistoryReadParameters()
    params.HistoryReadDetails = details
    params.TimestampsToReturn = ua.TimestampsToReturn.Both
    params.ReleaseContinuationPoints = release
    for node, point in items:
        item = ua.HistoryReadValueId()
        item.NodeId = node
        item.ContinuationPoint = point
        params.NodesToRead.append(item)
    results: list[ua.HistoryReadResult] = await client.uaclient.history_read(params)
    return results


async def test_a_bad_continuation_point_is_that_nodes_status(twin: Twin) -> None:
    signal = twin.server.signal_nodes[twin.engine.store.index("cnc1.coolant_temp")]
    await twin.step(30.0)
    assert twin.server.history is not None
    twin.server.history.flush()
    start, end = twin.driver.wall_time(0.0), twin.driver.wall_time(twin.engine.now + 1)
    async with twin.session() as client:
        (first,) = await _read(client, _raw(start, end, 1), (signal, None))
        assert first.StatusCode.is_good()
        assert first.ContinuationPoint
        point = first.ContinuationPoint
        garbage = [b"\x01" * 7, b"\x02" * 16, b"\x00" * 8]
        results = await _read(
            client, _raw(start, end, 1), (signal, point), *((signal, g) for g in garbage)
        )
        assert results[0].StatusCode.is_good()  # the good one is read, beside the bad ones
        assert len(results[0].HistoryData.DataValues) == 1
        for bad in results[1:]:
            assert bad.StatusCode.value == ua.StatusCodes.BadContinuationPointInvalid
            assert not bad.HistoryData or not getattr(bad.HistoryData, "DataValues", None)
        # a point once used is spent; released ones too
        (again,) = await _read(client, _raw(start, end, 1), (signal, point))
        assert again.StatusCode.value == ua.StatusCodes.BadContinuationPointInvalid
        nxt = results[0].ContinuationPoint
        assert nxt
        (released,) = await _read(client, _raw(start, end, 1), (signal, nxt), release=True)
        assert released.StatusCode.is_good()
        (gone,) = await _read(client, _raw(start, end, 1), (signal, nxt))
        assert gone.StatusCode.value == ua.StatusCodes.BadContinuationPointInvalid


async def test_a_node_without_history_says_so(twin: Twin) -> None:
    start, end = twin.driver.wall_time(0.0), twin.driver.wall_time(twin.engine.now + 1)
    async with twin.session() as client:
        stored = client.get_node(ua.NodeId("Cell.Stored", twin.ns(NS.TWIN)))
        signal = twin.server.signal_nodes[twin.engine.store.index("cnc1.coolant_temp")]
        results = await _read(
            client,
            _raw(start, end),
            (stored.nodeid, None),
            (ua.NodeId("nope", 2), None),
            (signal, None),
        )
        assert results[0].StatusCode.value == ua.StatusCodes.BadHistoryOperationUnsupported
        assert results[1].StatusCode.value == ua.StatusCodes.BadNodeIdUnknown
        assert results[2].StatusCode.is_good()
        # events of a node that is no event notifier with history
        evfilter = await get_filter_from_event_type([client.nodes.base_event_type])
        details = ua.ReadEventDetails()
        details.StartTime, details.EndTime, details.Filter = start, end, evfilter
        (events,) = await _read(client, details, (stored.nodeid, None))
        assert events.StatusCode.value == ua.StatusCodes.BadHistoryOperationUnsupported
        (server,) = await _read(client, details, (SERVER, None))
        assert server.StatusCode.is_good()
        # and the Server object says it has event history (asyncua's event generators had
        # left its EventNotifier at SubscribeToEvents alone)
        notifier = await client.nodes.server.read_attribute(ua.AttributeIds.EventNotifier)
        assert notifier.Value.Value & ua.EventNotifier.HistoryRead.mask
