"""A HistoryRead request is bounded as a whole: at most 100 nodes (BadTooManyOperations
beyond, and the limit published in the server's OperationLimits), and at most 10,000 rows for
all its nodes together: the nodes it has no room for get continuation points, which read the
rest. The reported case: 3,000 nodes in one request took 10.4 s and stalled other clients."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from asyncua import Client, ua
from asyncua.ua.ua_binary import variant_to_binary

from opcua_server.history import SqliteHistory
from tests.opcua.conftest import Twin

pytestmark = pytest.mark.asyncio(loop_scope="module")

_NODES = 30
_ROWS = 1_000  # per node: 30,000 in all, three times what one request may return


def _ids(n: int) -> list[ua.NodeId]:
    return [ua.NodeId(f"limits-test-{i}", 1) for i in range(n)]


def _signals(twin: Twin) -> list[ua.NodeId]:
    """_NODES process variables with history (a HistoryRead of a node with none is refused)."""
    nodes = list(twin.server.signal_nodes.values())[:_NODES]
    assert len(nodes) == _NODES
    return nodes


def _window(twin: Twin) -> tuple[dt.datetime, dt.datetime]:
    """The hour the fixture's rows are in, before the twin's own (its time 0 on)."""
    start = twin.server.epoch - dt.timedelta(hours=2)
    return start, start + dt.timedelta(seconds=_ROWS)


def _params(
    nodes: list[ua.HistoryReadValueId], window: tuple[dt.datetime, dt.datetime] | None = None
) -> ua.HistoryReadParameters:
    details = ua.ReadRawModifiedDetails()
    details.StartTime, details.EndTime = window or (ua.get_win_epoch(), ua.get_win_epoch())
    details.NumValuesPerNode = 0
    details.IsReadModified = False
    params = ua.HistoryReadParameters()
    params.ReleaseContinuationPoints = False  # asyncua's default is True: release
    params.HistoryReadDetails = details
    params.NodesToRead = nodes
    return params


def _items(ids: list[ua.NodeId]) -> list[ua.HistoryReadValueId]:
    return [ua.HistoryReadValueId(NodeId=i) for i in ids]


@pytest.fixture
def history(twin: Twin) -> Iterator[SqliteHistory]:
    history = twin.server.history
    assert history is not None
    start = _window(twin)[0].timestamp()
    blob = variant_to_binary(ua.Variant(1.0, ua.VariantType.Double))
    history.record_values(
        [(i.to_string(), start + k, blob, 0) for i in _signals(twin) for k in range(_ROWS)]
    )
    page_s = history.page_s
    history.page_s = 3600.0  # only rows cut the pages, however slow the machine
    yield history
    history.page_s = page_s


async def test_more_than_100_nodes_are_refused(twin: Twin) -> None:
    async with twin.session() as client:
        with pytest.raises(ua.UaStatusCodeError) as err:
            await client.uaclient.history_read(_params(_items(_ids(101))))
        assert err.value.code == ua.StatusCodes.BadTooManyOperations
        assert len(await client.uaclient.history_read(_params(_items(_ids(100))))) == 100
        for limit in (
            ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerHistoryReadData,
            ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerHistoryReadEvents,
        ):
            assert await client.get_node(limit).read_value() == 100


async def _read_all(client: Client, twin: Twin) -> tuple[int, int]:
    """Reads every node's rows, following continuation points; returns the rows and the most
    one response held."""
    items = _items(_signals(twin))
    rows, most = 0, 0
    while items:
        results = await client.uaclient.history_read(_params(items, _window(twin)))
        got = sum(len(r.HistoryData.DataValues) for r in results)
        rows, most = rows + got, max(most, got)
        following = []
        for item, result in zip(items, results, strict=True):
            result.StatusCode.check()
            if result.ContinuationPoint:
                item.ContinuationPoint = result.ContinuationPoint
                following.append(item)
        items = following
    return rows, most


async def test_one_request_returns_at_most_10000_rows(twin: Twin, history: SqliteHistory) -> None:
    async with twin.session() as client:
        rows, most = await _read_all(client, twin)
    assert rows == _NODES * _ROWS
    assert most == 10_000
