"""A resumed twin's machine counters go on from what they counted: OperationCounters
(OperationDuration, PowerOnDuration, OperationCycleCounter) are restored from the run's KPIs,
which the replay fed from time 0, not started again from 0 (OperationDuration went
backwards against PowerOnDuration after ``twin run --resume``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from asyncua import Client, ua

from opcua_server.nodesets import NS
from tests.conftest import SCENARIOS
from tests.opcua.conftest import run_args, start_cli

COUNTERS = ("OperationDuration", "PowerOnDuration", "OperationCycleCounter")


async def _counters(url: str, machine: str) -> dict[str, float]:
    """The machine's OperationCounters as a client reads them."""
    async with Client(url, timeout=10) as client:
        twin_ns = await client.get_namespace_index(NS.TWIN)
        base = f"{machine}.MachineryBuildingBlocks.OperationCounters"
        values = {}
        for name in COUNTERS:
            node = client.get_node(ua.NodeId(f"{base}.{name}", twin_ns))
            values[name] = await node.read_value()
        return values


class _Changes:
    def __init__(self) -> None:
        self.values: asyncio.Queue[int | None] = asyncio.Queue()

    def datachange_notification(self, node: object, value: int | None, data: object) -> None:
        self.values.put_nowait(value)


async def _cycles(url: str, machine: str, count: int) -> None:
    """Wait until ``machine`` has finished ``count`` operations (bounded: 60 s)."""
    async with Client(url, timeout=10) as client:
        twin_ns = await client.get_namespace_index(NS.TWIN)
        name = f"{machine}.MachineryBuildingBlocks.OperationCounters.OperationCycleCounter"
        changes = _Changes()
        sub = await client.create_subscription(50, changes)
        await sub.subscribe_data_change(client.get_node(ua.NodeId(name, twin_ns)))
        async with asyncio.timeout(60):
            while (await changes.values.get() or 0) < count:  # null until written
                pass
        await sub.delete()


@pytest.mark.asyncio
async def test_operation_counters_go_on_after_a_resume(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["--insecure-dev", *run_args(tmp_path, out), "--telemetry", "none"]
    scenario = str(SCENARIOS / "default.toml")
    first = await start_cli(scenario, "--speed", "3000", *args)
    try:
        await _cycles(first.url, "printer1", 2)
        before = await _counters(first.url, "printer1")
        await first.stop()
    finally:
        await first.kill()
    second = await start_cli(scenario, "--resume", "--speed", "1", *args)
    try:
        after = await _counters(second.url, "printer1")
        await second.stop()
    finally:
        await second.kill()
    assert after["PowerOnDuration"] >= before["PowerOnDuration"] > 0
    assert after["OperationDuration"] >= before["OperationDuration"] > 0
    assert after["OperationDuration"] <= after["PowerOnDuration"]
    assert after["OperationCycleCounter"] >= before["OperationCycleCounter"]
