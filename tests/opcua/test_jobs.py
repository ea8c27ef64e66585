"""ISA-95 Job Control (Machinery Jobs) on the cell: an MES stores, starts and cancels orders."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from asyncua import Client, ua

from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _job_order(job_id: str, **product: Any) -> Any:
    order = ua.ISA95JobOrderDataType()
    order.JobOrderID = job_id
    order.EndTime = dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)
    order.JobOrderParameters = [
        ua.ISA95ParameterDataType(ID=key, Value=ua.Variant(value)) for key, value in product.items()
    ]
    return order


async def _call(client: Client, twin: Twin, method: str, *args: ua.Variant) -> Any:
    control = client.get_node(ua.NodeId("Cell.JobManagement.JobOrderControl", twin.ns(NS.TWIN)))
    request = ua.CallMethodRequest()
    request.ObjectId = control.nodeid
    request.MethodId = (await control.get_child(f"{twin.ns(NS.ISA95_JOBCONTROL)}:{method}")).nodeid
    request.InputArguments = list(args)
    (result,) = await client.uaclient.call([request])
    return result


def _comment() -> ua.Variant:
    return ua.Variant([ua.LocalizedText("from the MES")], ua.VariantType.LocalizedText)


async def test_browse_path_and_types(twin: Twin) -> None:
    client = await twin.client("vera")
    try:
        jobs = twin.ns(NS.MACHINERY_JOBS)
        cell = await client.nodes.objects.get_child(f"{twin.ns(NS.TWIN)}:Cell")
        management = await cell.get_child(f"{jobs}:JobManagement")
        type_node = client.get_node(await management.read_type_definition())
        assert (await type_node.read_browse_name()).Name == "JobManagementType"
        control = await management.get_child(f"{jobs}:JobOrderControl")
        names = {(await c.read_browse_name()).Name for c in await control.get_methods()}
        assert {"Store", "StoreAndStart", "Start", "Cancel", "Clear"} <= names
    finally:
        await client.disconnect()


async def test_store_start_and_cancel_as_operator(twin: Twin) -> None:
    client = await twin.client("otto")
    try:
        await client.load_data_type_definitions()
        order = _job_order(
            "MES-JC-1",
            type="printed_housing",
            material="petg",
            volume_cm3=18.0,
            height_mm=25.0,
            layer_height_mm=0.2,
            openings=2,
        )
        stored = await _call(client, twin, "Store", ua.Variant(order), _comment())
        assert stored.StatusCode.is_good()
        assert stored.OutputArguments[0].Value == 0
        assert "MES-JC-1" not in twin.engine.jobs  # stored, not started
        again = await _call(client, twin, "Store", ua.Variant(order), _comment())
        assert again.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert "already exists" in again.InputArgumentDiagnosticInfos[0].AdditionalInfo
        started = await _call(client, twin, "Start", ua.Variant("MES-JC-1"), _comment())
        assert started.StatusCode.is_good()
        job = twin.engine.jobs["MES-JC-1"]
        # EndTime maps to simulated time like every timestamp: wall origin + simulated seconds
        expected = (order.EndTime - twin.driver.wall_time(0.0)).total_seconds()
        assert job.due == pytest.approx(expected, abs=1e-3)
        cancelled = await _call(client, twin, "Cancel", ua.Variant("MES-JC-1"), _comment())
        assert cancelled.StatusCode.is_good()
        direct = _job_order("MES-JC-2", type="printed_housing", material="pla", volume_cm3=9.0)
        result = await _call(client, twin, "StoreAndStart", ua.Variant(direct), _comment())
        assert result.StatusCode.is_good()
        assert "MES-JC-2" in twin.engine.jobs
    finally:
        await client.disconnect()


async def test_bad_job_orders_are_refused(twin: Twin) -> None:
    client = await twin.client("otto")
    try:
        await client.load_data_type_definitions()
        unknown = _job_order("MES-JC-3", type="spaceship")
        result = await _call(client, twin, "StoreAndStart", ua.Variant(unknown), _comment())
        assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert "MES-JC-3" not in twin.engine.jobs
        start = await _call(client, twin, "Start", ua.Variant("nope"), _comment())
        assert start.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert "no stored job order 'nope'" in start.InputArgumentDiagnosticInfos[0].AdditionalInfo
    finally:
        await client.disconnect()


async def test_viewer_cannot_control_jobs(twin: Twin) -> None:
    client = await twin.client("vera")
    try:
        with pytest.raises(ua.UaStatusCodeError) as err:
            await _call(client, twin, "Start", ua.Variant("x"), _comment())
        assert err.value.code == ua.StatusCodes.BadUserAccessDenied
    finally:
        await client.disconnect()
