"""Cell/Backlog, Cell/WorkInProgress and the other job counters follow the twin's events: a
client subscribed to them is notified of each change without waiting for the periodic refresh
of the cell's values (an hour here), with the twin's own count."""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from asyncua import ua

from opcua_server.nodesets import NS
from tests.conftest import HOUSING
from tests.opcua.conftest import start_twin

FAILSAFE = 10.0  # seconds: only bounds a failing wait, never used to synchronise
COUNTERS = {
    "Backlog": "backlog",
    "WorkInProgress": "wip",
    "Completed": "completed",
    "Cancelled": "cancelled",
    "Stored": "stored",
}


class _Changes:
    """Subscription handler: the new values of each node, in order."""

    def __init__(self) -> None:
        self.values: defaultdict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)

    def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
        self.values[node.nodeid.Identifier.removeprefix("Cell.")].put_nowait(value)

    async def next(self, name: str) -> Any:
        return await asyncio.wait_for(self.values[name].get(), FAILSAFE)


async def test_backlog_and_wip_follow_the_twin_between_refreshes(tmp_path: Path) -> None:
    twin = await start_twin(tmp_path, kpi_interval_s=3600.0)
    twin.engine.max_wip = twin.engine.wip  # orders wait in the backlog for now
    try:
        async with twin.session("vera") as client:
            changes = _Changes()
            sub = await client.create_subscription(50, changes)
            ns = twin.ns(NS.TWIN)
            nodes = [client.get_node(ua.NodeId(f"Cell.{name}", ns)) for name in COUNTERS]
            await sub.subscribe_data_change(nodes, queuesize=1)
            before = twin.api.status()
            for name, key in COUNTERS.items():  # the values when subscribed
                assert await changes.next(name) == before[key], name

            async def follows(before: dict[str, Any]) -> None:
                """Each counter that changed since ``before`` is notified with the twin's
                count: after a burst of events, one notification with the count at its end."""
                status = twin.api.status()
                changed = [name for name, key in COUNTERS.items() if status[key] != before[key]]
                assert changed
                for name in changed:
                    assert await changes.next(name) == status[COUNTERS[name]], name

            # orders from an MES join the backlog
            for i in range(3):
                twin.api.submit_order({"id": f"CNT-{i}", "product": HOUSING})
            await follows(before)
            assert twin.api.status()["backlog"] >= 3

            # one cancelled while it waits; one stored (ISA-95 Store)
            before = twin.api.status()
            twin.api.cancel_order("CNT-0")
            twin.api.store_order({"id": "CNT-STORED", "product": HOUSING})
            await follows(before)

            # the cell takes the orders and works on them: released, completed
            twin.engine.max_wip = math.inf
            before = twin.api.status()
            await twin.step(600.0)  # ten simulated hours
            await follows(before)
            assert twin.api.status()["completed"] > before["completed"]
    finally:
        await twin.server.stop()


async def test_a_kpi_with_nothing_to_rate_is_null_waiting_for_initial_data(
    tmp_path: Path,
) -> None:
    # twin.kpi: a machine that has produced nothing has no OEE (not 0 %): over OPC UA a null
    # value with Bad_WaitingForInitialData, then a Good value once it has produced
    twin = await start_twin(tmp_path, kpi_interval_s=3600.0)
    try:
        async with twin.session("vera") as client:
            ns = twin.ns(NS.TWIN)

            async def oee(machine: str) -> ua.DataValue:
                node = client.get_node(ua.NodeId(f"Cell.KPIs.{machine}.OEE", ns))
                return await node.read_data_value(raise_on_bad_status=False)

            from opcua_server.nodes.cell import CellFamily

            cell = next(f for f in twin.server.families if isinstance(f, CellFamily))
            await twin.refresh_cell()
            report = cell.kpi.report(twin.engine.now)
            unrated = [m for m, v in report["machines"].items() if math.isnan(v["oee"])]
            assert unrated  # nothing produced yet at the start
            for machine in unrated:
                dv = await oee(machine)
                assert dv.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData, machine
                assert dv.Value.Value is None
            await twin.step(600.0)  # ten simulated hours of work: the machines have produced
            await twin.refresh_cell()
            report = cell.kpi.report(twin.engine.now)
            rated = [m for m in unrated if not math.isnan(report["machines"][m]["oee"])]
            assert rated
            for machine in rated:
                dv = await oee(machine)
                assert dv.StatusCode.is_good(), machine
                assert dv.Value.Value == report["machines"][machine]["oee"]
    finally:
        await twin.server.stop()
