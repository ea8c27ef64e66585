"""ISA-95 Abort of an order whose operation is under way (OPC 10031-4 FromRunningToAborted):
listed as Aborted at once, in JobOrderList, JobOrderResponseList and by state, with its
status event, while the cell finishes the operation before the part leaves; its response is
the one of the abort (the operation finished after it is not among its OperationsDone), and
the job's end changes nothing, also once the order was cleared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua

from tests.opcua.conftest import Twin, mes_comment, start_twin
from tests.opcua.jobs_client import (
    ABORTED,
    RUNNING,
    Watch,
    by_state,
    control_call,
    job_orders,
    response_data,
    responses,
    send,
    states_of,
    step_until,
)
from tests.opcua.test_job_status_events import StatusEvents, at_sim_time, housing, subscribe
from twin import events as tev
from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.links import LinkRegistry

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _listed(client: Client, twin: Twin, job_id: str) -> tuple[Any, Any]:
    """The order's entry in JobOrderList and its response in JobOrderResponseList (None: not
    listed), as a client reads them now."""
    await twin.server.settle()
    entry = (await job_orders(client, twin)).get(job_id)
    return entry, (await responses(client, twin)).get(job_id)


async def _running(client: Client, twin: Twin, watch: Watch, job_id: str) -> tev.OperationStarted:
    """StoreAndStart ``job_id`` and drive the twin until its first operation is under way."""
    await send(client, twin, "StoreAndStart", housing(twin, job_id, volume_cm3=30.0))
    return await step_until(twin, watch, tev.OperationStarted)


async def test_abort_lists_the_order_aborted_at_once(twin: Twin) -> None:
    job_id = "MES-AB-1"
    handler = StatusEvents(job_id)
    async with twin.session("otto") as client:
        sub, _ = await subscribe(client, twin, handler)
        with Watch(twin, job_id) as watch:
            started = await _running(client, twin, watch, job_id)
            assert await handler.states(job_id, 2) == [[(2, "")], [(RUNNING, "")]]
            job = twin.engine.jobs[job_id]
            done_before = job.op_index
            at = twin.engine.now
            aborted = await control_call(client, twin, "Abort", ua.Variant(job_id), mes_comment())
            assert aborted.StatusCode.is_good()
            # at once, before the operation under way has ended
            assert job.state == "processing"
            entry, response = await _listed(client, twin, job_id)
            assert states_of(entry.State) == [(ABORTED, "")]
            assert states_of(response.JobState) == [(ABORTED, "")]
            assert at_sim_time(twin, response.EndTime, at)
            data = response_data(response)
            assert data["OperationsDone"] == done_before
            assert data["LeadTime"] == pytest.approx(at - job.arrival)
            (told,) = await handler.told(job_id, 1)
            assert states_of(told.JobState) == [(ABORTED, "")]
            assert response_data(told.JobResponse)["OperationsDone"] == done_before
            assert job_id in await by_state(client, twin, ABORTED)
            assert job_id not in await by_state(client, twin, RUNNING)
            late = await control_call(client, twin, "Abort", ua.Variant(job_id), mes_comment())
            assert late.StatusCode.value == ua.StatusCodes.BadInvalidState
            assert f"{job_id!r} is Aborted;" in late.InputArgumentDiagnosticInfos[0].AdditionalInfo

            # the cell finishes the operation, then the part leaves: nothing changes
            await step_until(twin, watch, tev.JobCancelled)
            finished = watch.first(tev.OperationFinished)
            assert (finished.op, finished.aborted) == (started.op, False)
            assert finished.t > at
            assert job.op_index == done_before + 1  # the twin counts it as done
            later_entry, later = await _listed(client, twin, job_id)
            assert states_of(later_entry.State) == [(ABORTED, "")]
            assert response_data(later) == data
            assert later.EndTime == response.EndTime
        await twin.server.settle()
        assert handler.queue.empty()  # no second Aborted
        await sub.delete()


async def test_an_order_aborted_and_cleared_does_not_come_back(twin: Twin) -> None:
    job_id = "MES-AB-2"
    async with twin.session("otto") as client:
        with Watch(twin, job_id) as watch:
            await _running(client, twin, watch, job_id)
            for method in ("Abort", "Clear"):  # cleared before its operation ends
                result = await control_call(client, twin, method, ua.Variant(job_id), mes_comment())
                assert result.StatusCode.is_good(), (method, result.InputArgumentDiagnosticInfos)
            assert await _listed(client, twin, job_id) == (None, None)
            await step_until(twin, watch, tev.JobCancelled)
            assert await _listed(client, twin, job_id) == (None, None)


async def test_a_job_cancelled_through_the_api_is_aborted_at_once(twin: Twin) -> None:
    job_id = "MES-AB-3"
    async with twin.session("otto") as client:
        with Watch(twin, job_id) as watch:
            await _running(client, twin, watch, job_id)
            twin.api.cancel_order(job_id)
            entry, response = await _listed(client, twin, job_id)
            assert states_of(entry.State) == [(ABORTED, "")]
            assert states_of(response.JobState) == [(ABORTED, "")]
            await step_until(twin, watch, tev.JobCancelled)


async def test_an_order_aborted_before_the_server_started_is_listed_aborted(
    tmp_path: Path,
) -> None:
    """A restored twin (``--resume``) may hold a job aborted whose operation is still under
    way: listed as Aborted since its abort (the command journal's time), as it was."""
    job_id = "API-AB-4"
    aborted_at: list[float] = []

    def abort_first(engine: Engine, api: TwinAPI) -> LinkRegistry:
        api.submit_order({"id": job_id, "product": {"type": "printed_housing"}})
        job = engine.jobs[job_id]
        while job.state != "processing":
            engine.run_through(engine.now + 60.0)
        api.cancel_order(job_id)
        aborted_at.append(engine.now)
        engine.run_through(engine.now + 1.0)  # the operation goes on
        assert job.state == "processing"
        return LinkRegistry()

    twin = await start_twin(tmp_path, bind=abort_first)
    try:
        async with twin.session() as client:
            await client.load_data_type_definitions()
            entry, response = await _listed(client, twin, job_id)
            assert states_of(entry.State) == [(ABORTED, "")]
            assert at_sim_time(twin, response.EndTime, aborted_at[0])
            assert response_data(response)["OperationsDone"] == 0
            job = twin.engine.jobs[job_id]
            while job.state != "cancelled":
                twin.engine.run_through(twin.engine.now + 60.0)
            assert job.op_index == 1
            entry, later = await _listed(client, twin, job_id)
            assert states_of(entry.State) == [(ABORTED, "")]
            assert response_data(later)["OperationsDone"] == 0
    finally:
        await twin.server.stop()
