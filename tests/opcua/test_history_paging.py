"""HistoryRead served off the event loop: other clients keep being answered during a large
event read; pages continue from a unique position (many rows at one timestamp: no duplicates,
no loss, the read ends)."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import time
from pathlib import Path

import pytest
from asyncua import Client, ua
from asyncua.common.event_objects import BaseEvent
from asyncua.common.events import Event, get_filter_from_event_type

from opcua_server.history import SqliteHistory
from tests.opcua.conftest import POLICY, ClientCert, Twin
from tests.opcua.test_history_where import history_read_events

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVER = ua.NodeId(ua.ObjectIds.Server)


async def read_events(
    client: Client, start: dt.datetime, end: dt.datetime
) -> tuple[list[Event], int]:
    """Every event of the Server object between ``start`` and ``end``, following the
    continuation points (asyncua's ``read_event_history`` reads only the first page); and how
    many pages that took."""
    evfilter = await get_filter_from_event_type([client.nodes.base_event_type])
    return await history_read_events(client, SERVER, evfilter, start, end)


def _record_events(twin: Twin, n: int, at: dt.datetime, tag: str) -> None:
    history = twin.server.history
    assert history is not None
    for i in range(n):
        event = BaseEvent(sourcenode=SERVER, message=f"{tag}-{i}", severity=100)
        event.Time = at
        history.record_event(SERVER, event)


async def test_events_sharing_one_timestamp_page_without_duplicates(twin: Twin) -> None:
    history = twin.server.history
    assert history is not None
    at = twin.driver.wall_time(0.0) - dt.timedelta(hours=1)  # before the twin's own events
    _record_events(twin, 2_500, at, "same")
    history.max_history_data_response_size = 300  # 9 pages, boundaries inside the tie
    history.page_s = 3600.0  # only the row limit cuts pages, however fast the decoding
    try:
        async with twin.session() as client:
            read = read_events(client, at - dt.timedelta(seconds=1), at + dt.timedelta(seconds=1))
            events, pages = await asyncio.wait_for(read, 30)  # the old cursor paged forever
    finally:
        history.max_history_data_response_size = 10_000
        history.page_s = 0.05
    assert pages == 9
    messages = [e.Message.Text for e in events]
    assert len(messages) == 2_500
    assert set(messages) == {f"same-{i}" for i in range(2_500)}


async def test_values_sharing_one_timestamp_page_without_duplicates(twin: Twin) -> None:
    history = twin.server.history
    assert history is not None
    index = twin.engine.store.index("cnc1.coolant_temp")
    nodeid = twin.server.signal_nodes[index]
    at = twin.driver.wall_time(0.0) - dt.timedelta(hours=2)
    blob = ua.ua_binary.variant_to_binary
    rows = [
        (nodeid.to_string(), at.timestamp(), blob(ua.Variant(float(i), ua.VariantType.Double)), 0)
        for i in range(2_500)
    ]
    history.record_values(rows)
    history.max_history_data_response_size = 300
    try:
        async with twin.session() as client:
            node = client.get_node(nodeid)
            window = {"starttime": at - dt.timedelta(seconds=1), "endtime": at}
            forward = await asyncio.wait_for(node.read_raw_history(**window, numvalues=0), 30)
            # newest first: from the end of the window back to its start
            backward = await asyncio.wait_for(
                node.read_raw_history(
                    starttime=at + dt.timedelta(seconds=1), endtime=at - dt.timedelta(seconds=1)
                ),
                30,
            )
    finally:
        history.max_history_data_response_size = 10_000
    assert [dv.Value.Value for dv in forward] == [float(i) for i in range(2_500)]
    assert [dv.Value.Value for dv in backward] == [float(i) for i in reversed(range(2_500))]


class _Ticking:
    """A clock whose monotonic time moves one second at each look: a page's time budget runs
    out at its first check, whatever the machine's speed."""

    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        self.t += 1.0
        return self.t

    def wall(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def test_a_page_ends_when_its_time_budget_is_spent(tmp_path: Path) -> None:
    history = SqliteHistory(
        tmp_path / "h.sqlite",
        retention_s=3600.0,
        max_values=1_000,
        max_events=10,
        page_s=0.5,
        clock=_Ticking(),
    )
    await history.init()
    try:
        node = ua.NodeId("x", 2)
        at = dt.datetime.now(dt.UTC)
        for i in range(200):
            history.record_value(node, ua.Variant(float(i)), at + dt.timedelta(milliseconds=i))
        page, cont = await history.read_node_history(node, None, None, 0)
        assert [dv.Value.Value for dv in page] == [float(i) for i in range(64)]  # first check
        assert cont is not None
        page, _ = await history.read_node_history(node, cont, None, 0)
        assert [dv.Value.Value for dv in page] == [float(i) for i in range(64, 128)]
    finally:
        await history.stop()


async def test_an_unknown_continuation_point_is_refused(twin: Twin) -> None:
    async with twin.session() as client:
        node = client.get_node(SERVER)
        details = ua.ReadEventDetails()
        details.StartTime = dt.datetime(9998, 6, 1, tzinfo=dt.UTC)  # a cursor's range
        details.EndTime = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
        details.Filter = ua.EventFilter()
        # that node's status, not a fault of the whole request
        result = await node.history_read_events(details)
        assert result.StatusCode.value == ua.StatusCodes.BadContinuationPointInvalid


async def _read_all_events(url: str, cert: ClientCert, at: dt.datetime) -> tuple[int, float]:
    """In a thread with its own loop: the client's own decoding must not stall the server's."""
    client = Client(url, timeout=30)
    client.application_uri = cert.uri
    await client.set_security(
        POLICY,
        certificate=str(cert.cert),
        private_key=str(cert.key),
        mode=ua.MessageSecurityMode.SignAndEncrypt,
    )
    client.set_user("vera")
    client.set_password("vera-pass")
    async with client:
        started = time.monotonic()
        events, _ = await read_events(
            client, at - dt.timedelta(seconds=1), at + dt.timedelta(hours=1)
        )
        return len(events), time.monotonic() - started


async def test_the_server_keeps_answering_during_a_large_event_read(twin: Twin) -> None:
    history = twin.server.history
    assert history is not None
    at = twin.driver.wall_time(0.0) - dt.timedelta(hours=5)
    n = 30_000
    for i in range(n):  # spread over an hour, a few dozen per second
        event = BaseEvent(sourcenode=SERVER, message=f"big-{i}", severity=100)
        event.Time = at + dt.timedelta(seconds=i * 0.12)
        history.record_event(SERVER, event)
    history.flush()
    gaps: list[float] = []
    # a full collection of this process's heap (pytest, the twin and the clients, 0.3-0.6 s)
    # stops every thread whatever the history does: measure the history, not the collector
    gc.collect()
    gc.freeze()
    async with twin.session() as probe:
        node = probe.get_node(ua.ObjectIds.Server_ServerStatus_CurrentTime)
        await node.read_value()
        reading = asyncio.create_task(
            asyncio.to_thread(asyncio.run, _read_all_events(twin.url, twin.cert, at))
        )
        last = time.monotonic()
        while not reading.done():
            await node.read_value()
            now = time.monotonic()
            gaps.append(now - last)
            last = now
            await asyncio.sleep(0.02)
        count, took = await reading
    gc.unfreeze()
    assert count == n
    # the old code answered nothing for 1.7-2.3 s a page (an asyncua client takes over a
    # second for a lost connection); a loaded CI machine may add a pause now and then
    gaps.sort()
    assert gaps[-1] < 1.0, (gaps[-1], took, len(gaps))
    assert gaps[int(0.9 * len(gaps))] < 0.3, (gaps[int(0.9 * len(gaps))], took, len(gaps))
