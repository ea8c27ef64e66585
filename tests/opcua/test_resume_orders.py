"""After ``twin run --resume``, the job responses an MES reads are those it read before: a job
released before the restart keeps its StartTime, and an order that ended and was not cleared
is still listed with its result (an MES offline when it ended can still get it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua

from tests.opcua.conftest import job_order, mes_comment, raw_call
from tests.opcua.jobs_client import ENDED, RUNNING
from tests.opcua.test_resume import _before_and_after_resume, _job_list, _mes, _watch

PLA = {"type": "printed_housing", "material": "pla", "volume_cm3": 9.0}
ORDERS = [f"MES-RS-{i}" for i in range(6)]


async def _responses(url: str) -> dict[str, Any]:
    async with _mes(url) as (client, twin_ns, _, _):
        node = client.get_node(
            ua.NodeId("Cell.JobManagement.JobOrderResults.JobOrderResponseList", twin_ns)
        )
        return {r.JobOrderID: r for r in await node.read_value() if r.JobOrderID in ORDERS}


@pytest.mark.asyncio
async def test_responses_survive_a_resume(tmp_path: Path) -> None:
    async def run(url: str) -> dict[str, Any]:
        async with _mes(url) as (client, twin_ns, isa95, control):
            changes, sub = await _watch(client, _job_list(client, twin_ns))
            for job in ORDERS:
                isa = ua.Variant(job_order(None, job, **PLA))
                result = await raw_call(
                    client, control, f"{isa95}:StoreAndStart", isa, mes_comment()
                )
                assert result.StatusCode.is_good()
            async with asyncio.timeout(60):  # one ended, one running
                while True:
                    states = {
                        e.JobOrder.JobOrderID: e.State[0].StateNumber
                        for e in await changes.values.get()
                    }
                    mine = [states.get(job) for job in ORDERS]
                    if ENDED in mine and RUNNING in mine:
                        break
            await sub.delete()
        return await _responses(url)

    before, after = await _before_and_after_resume(tmp_path, run, _responses)
    for job, response in before.items():
        state = response.JobState[0].StateNumber
        if state not in (RUNNING, ENDED):
            continue
        assert job in after, f"{job} ({state}) is no longer listed"
        assert after[job].StartTime == response.StartTime
        if state == ENDED:
            assert after[job].EndTime == response.EndTime
            assert after[job].JobResponseData == response.JobResponseData
