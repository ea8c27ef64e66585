"""``Cell/SimTime`` and ``Cell/SimDateTime`` follow the twin's clock every publishing interval
(0.1 s), not only at the KPI refresh (1 s): at speed 10⁵ a second of the twin is more than a
simulated day, and an MES reading the time twice in a second saw the same value."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from asyncua import ua

from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin, start_twin

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def slow_kpis(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Twin]:
    """A twin whose KPIs (and full cell refresh) come once an hour: only the time's own
    refresh can move SimTime."""
    twin = await start_twin(
        tmp_path_factory.mktemp("sim_time"), kpi_interval_s=3600.0, publish_interval_s=0.05
    )
    try:
        yield twin
    finally:
        await twin.server.stop()


class _Changes:
    def __init__(self) -> None:
        self.values: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.values.put_nowait((node.nodeid.Identifier, val))


async def test_sim_time_follows_the_clock_between_kpi_refreshes(slow_kpis: Twin) -> None:
    twin = slow_kpis
    ns = twin.ns(NS.TWIN)
    ctx = twin.server.ctx
    assert ctx is not None
    async with twin.session("vera") as client:
        changes = _Changes()
        sub = await client.create_subscription(20, changes)
        nodes = [client.get_node(ua.NodeId(f"Cell.{n}", ns)) for n in ("SimTime", "SimDateTime")]
        await sub.subscribe_data_change(nodes)
        await twin.step(10.0)  # 600 simulated seconds on, at speed 60
        target = twin.engine.now
        assert target >= 600.0
        seen: dict[str, Any] = {}
        async with asyncio.timeout(10):
            while seen.get("Cell.SimTime") != target:
                name, value = await changes.values.get()
                seen[name] = value
            while seen.get("Cell.SimDateTime") != ctx.now():
                name, value = await changes.values.get()
                seen[name] = value
        await sub.delete()
