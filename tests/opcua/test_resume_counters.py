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
from tests.opcua.test_resume import _before_and_after_resume, _watch

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


async def _cycles(url: str, machine: str, count: int) -> None:
    """Wait until ``machine`` has finished ``count`` operations (bounded: 60 s)."""
    async with Client(url, timeout=10) as client:
        twin_ns = await client.get_namespace_index(NS.TWIN)
        name = f"{machine}.MachineryBuildingBlocks.OperationCounters.OperationCycleCounter"
        changes, sub = await _watch(client, client.get_node(ua.NodeId(name, twin_ns)))
        async with asyncio.timeout(60):
            while (await changes.values.get() or 0) < count:  # null until written
                pass
        await sub.delete()


@pytest.mark.asyncio
async def test_operation_counters_go_on_after_a_resume(tmp_path: Path) -> None:
    async def run(url: str) -> dict[str, float]:
        await _cycles(url, "printer1", 2)
        return await _counters(url, "printer1")

    async def read(url: str) -> dict[str, float]:
        return await _counters(url, "printer1")

    before, after = await _before_and_after_resume(tmp_path, run, read)
    assert after["PowerOnDuration"] >= before["PowerOnDuration"] > 0
    assert after["OperationDuration"] >= before["OperationDuration"] > 0
    assert after["OperationDuration"] <= after["PowerOnDuration"]
