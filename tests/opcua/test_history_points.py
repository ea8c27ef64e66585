"""HistoryRead continuation points belong to the session that got them (OPC 10000-4 7.9):
another session cannot read on with one, a session making more than its share pushes out
its own oldest, not another's, and a closed session's are freed. Before, 1,024 points were
kept for all sessions together: one client making points pushed out everyone's, and any
session could use another's (points are numbered, easy to guess)."""

from __future__ import annotations

import pytest
from asyncua import ua

from tests.opcua.conftest import Twin
from tests.opcua.test_history_node_status import _raw, _read

pytestmark = pytest.mark.asyncio(loop_scope="module")

INVALID = ua.StatusCodes.BadContinuationPointInvalid


async def _signal_history(twin: Twin) -> tuple[ua.NodeId, ua.ReadRawModifiedDetails]:
    signal = twin.server.signal_nodes[twin.engine.store.index("cnc1.coolant_temp")]
    await twin.step(30.0)
    assert twin.server.history is not None
    twin.server.history.flush()
    start, end = twin.driver.wall_time(0.0), twin.driver.wall_time(twin.engine.now + 1)
    return signal, _raw(start, end, 1)  # one value a page: every read leaves a point


async def test_a_point_is_its_sessions_own(twin: Twin) -> None:
    signal, details = await _signal_history(twin)
    async with twin.session() as a, twin.session() as b:
        (first,) = await _read(a, details, (signal, None))
        point = first.ContinuationPoint
        assert point
        (stolen,) = await _read(b, details, (signal, point))
        assert stolen.StatusCode.value == INVALID
        (released,) = await _read(b, details, (signal, point), release=True)
        assert released.StatusCode.value == INVALID  # nor release it
        (on,) = await _read(a, details, (signal, point))
        assert on.StatusCode.is_good()
        assert len(on.HistoryData.DataValues) == 1


async def test_a_session_making_points_pushes_out_its_own_oldest(twin: Twin) -> None:
    signal, details = await _signal_history(twin)
    history = twin.server.history
    assert history is not None
    share = history.points.per_session
    history.points.per_session = 3
    try:
        async with twin.session() as a, twin.session() as b:
            (first,) = await _read(a, details, (signal, None))
            kept = first.ContinuationPoint
            made = [
                (await _read(b, details, (signal, None)))[0].ContinuationPoint for _ in range(5)
            ]
            results = await _read(b, details, *((signal, p) for p in made))
            assert [r.StatusCode.value == INVALID for r in results] == [True] * 2 + [False] * 3
            (on,) = await _read(a, details, (signal, kept))  # not pushed out by b's
            assert on.StatusCode.is_good()
            assert len(on.HistoryData.DataValues) == 1
    finally:
        history.points.per_session = share


async def test_a_closed_sessions_points_are_freed(twin: Twin) -> None:
    signal, details = await _signal_history(twin)
    history = twin.server.history
    assert history is not None
    async with twin.session() as a:
        await _read(a, details, *((signal, None) for _ in range(10)))
        before = len(history.points)
        assert before >= 10
    async with twin.session() as b:
        (first,) = await _read(b, details, (signal, None))  # a point kept: closed ones go
        assert first.ContinuationPoint
        assert len(history.points) <= before - 10 + 1


async def test_the_share_of_a_session_is_published(twin: Twin) -> None:
    assert twin.server.history is not None
    async with twin.session() as client:
        node = client.get_node(ua.ObjectIds.Server_ServerCapabilities_MaxHistoryContinuationPoints)
        assert await node.read_value() == twin.server.history.points.per_session == 100
        assert await node.read_data_type_as_variant_type() == ua.VariantType.UInt16
