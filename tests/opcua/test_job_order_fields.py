"""Job order fields and request arguments the twin cannot honour are refused, not accepted
silently: a StartTime still to come (the twin starts an order when it is started, so it
would run before it), EquipmentRequirements naming equipment the cell does not have, a
request for responses by a state number OPC 10031-4 does not define."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from asyncua import ua

from tests.opcua.conftest import Twin, job_order, last_result, mes_comment
from tests.opcua.jobs_client import (
    ENDED,
    INTERRUPTED,
    RUNNING,
    control_call,
    results_call,
    send,
    ua_state,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _housing(twin: Twin, job_id: str) -> Any:
    return job_order(twin, job_id, type="printed_housing", material="pla")


def _equipment(*ids: str) -> list[Any]:
    return [ua.ISA95EquipmentDataType(ID=i) for i in ids]


async def _refused(twin: Twin, method: str, order: Any, message: str) -> None:
    """``method`` with ``order`` is refused as a bad argument with ``message``; the twin does
    not have the order."""
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        received = twin.engine.received
        result = await control_call(client, twin, method, ua.Variant(order), mes_comment())
        assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert result.InputArgumentResults[0].value == ua.StatusCodes.BadInvalidArgument
        said = result.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert said.startswith(f"{method}: JobOrder: {message}"), said
        assert await last_result(client, twin) == said
        assert order.JobOrderID not in twin.engine.stored
        assert order.JobOrderID not in twin.engine.jobs
        assert twin.engine.received == received


@pytest.mark.parametrize("method", ["Store", "StoreAndStart"])
async def test_a_start_time_to_come_is_refused(twin: Twin, method: str) -> None:
    order = _housing(twin, f"MES-ST-{method}")
    start = twin.driver.wall_time(twin.engine.now) + dt.timedelta(hours=6)
    order.StartTime = start
    text = start.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    await _refused(twin, method, order, f"StartTime: {text} is later than the twin's time now")


async def test_a_start_time_come_starts_the_order_now(twin: Twin) -> None:
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        order = _housing(twin, "MES-ST-PAST")
        order.StartTime = twin.driver.wall_time(twin.engine.now) - dt.timedelta(minutes=5)
        await send(client, twin, "StoreAndStart", order)
        assert twin.engine.jobs["MES-ST-PAST"].arrival == twin.engine.now


@pytest.mark.parametrize("method", ["Store", "StoreAndStart", "Update"])
async def test_equipment_the_cell_does_not_have_is_refused(twin: Twin, method: str) -> None:
    job_id = f"MES-EQ-{method}"
    if method == "Update":
        async with twin.session("otto") as client:
            await client.load_data_type_definitions()
            await send(client, twin, "Store", _housing(twin, job_id))
    order = _housing(twin, job_id)
    order.EquipmentRequirements = _equipment("printer1", "cnc9")
    machines = ", ".join(twin.engine.machines)
    message = (
        f"EquipmentRequirements[1] (ID): 'cnc9' is no equipment of the cell (its machines:"
        f" {machines}; the cell: {twin.engine.scenario.cell.name})"
    )
    if method != "Update":
        await _refused(twin, method, order, message)
        return
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        before = twin.engine.stored[job_id]
        result = await control_call(client, twin, method, ua.Variant(order), mes_comment())
        assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        said = result.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert said.startswith(f"Update: JobOrder: {message}"), said
        assert twin.engine.stored[job_id] is before


async def test_equipment_of_the_cell_is_taken(twin: Twin) -> None:
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        order = _housing(twin, "MES-EQ-OK")
        order.EquipmentRequirements = _equipment("printer1", twin.engine.scenario.cell.name)
        await send(client, twin, "Store", order)
        assert "MES-EQ-OK" in twin.engine.stored


@pytest.mark.parametrize(
    ("numbers", "message"),
    [
        pytest.param(
            [42],
            "JobOrderState[0]: StateNumber 42 is no job order state (states: 1"
            " NotAllowedToStart, 2 AllowedToStart, 3 Running, 4 Interrupted, 5 Ended, 6 Aborted)",
            id="top-level",
        ),
        pytest.param([0], "JobOrderState[0]: StateNumber 0 is no job order state", id="zero"),
        pytest.param(
            [ENDED, 7],
            "JobOrderState: StateNumber 7 is no substate of Ended (its substates: 1 Completed,"
            " 2 Closed)",
            id="substate",
        ),
        pytest.param(
            [RUNNING, 1],
            "JobOrderState: StateNumber 1 is no substate of Running (its substates: none)",
            id="running-has-none",
        ),
        pytest.param(
            [INTERRUPTED, 1, 3],
            "JobOrderState: StateNumber 3 is no substate of Interrupted",
            id="one-of-two",
        ),
    ],
)
async def test_a_request_by_an_unknown_state_number_is_refused(
    twin: Twin, numbers: list[int], message: str
) -> None:
    method = "RequestJobResponseByJobOrderState"
    async with twin.session("vera") as client:
        await client.load_data_type_definitions()
        states = ua.Variant([ua_state(n) for n in numbers])
        result = await results_call(client, twin, method, states)
        assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert result.InputArgumentResults[0].value == ua.StatusCodes.BadInvalidArgument
        said = result.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert said.startswith(f"{method}: {message}"), said


async def test_a_substate_the_twin_does_not_report_is_no_error(twin: Twin) -> None:
    # defined by OPC 10031-4 (Ended/Closed, AllowedToStart/Ready): no order is in it
    async with twin.session("vera") as client:
        await client.load_data_type_definitions()
        for numbers in ([ENDED, 2], [2, 2]):
            states = ua.Variant([ua_state(n) for n in numbers])
            result = await results_call(client, twin, "RequestJobResponseByJobOrderState", states)
            assert result.StatusCode.is_good()
            assert result.OutputArguments[0].Value == []
