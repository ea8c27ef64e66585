"""ISA-95 JobOrderControl and JobOrderResults calls a client gets wrong. Each is refused with a
status code and a message naming the method, the argument and what was expected, reported in
Cell/LastCommandResult like the Cell methods' refusals; the twin is unchanged and the server
logs no traceback."""

from __future__ import annotations

import logging

import pytest
from asyncua import Client, ua

from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin, job_order, mes_comment
from tests.opcua.jobs_client import control_call, results_call, send

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def last_result(client: Client, twin: Twin) -> str:
    await twin.server.settle()  # the write is queued, as every value's
    node = client.get_node(ua.NodeId("Cell.LastCommandResult", twin.ns(NS.TWIN)))
    return str(await node.read_value())


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logged = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not logged, [r.getMessage() for r in logged]


async def test_refusals_and_commands_are_reported_in_last_command_result(twin: Twin) -> None:
    """As for the Cell methods: a control method's result ("<method>: ok" or why it was
    refused) in LastCommandResult; a response request answered is no command and leaves it."""
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        refused = await control_call(client, twin, "Start", ua.Variant("nope"), mes_comment())
        assert refused.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        message = "Start: JobOrderID: no job order 'nope' in JobOrderList"
        assert refused.InputArgumentDiagnosticInfos[0].AdditionalInfo == message
        assert await last_result(client, twin) == message

        order = job_order(twin, "MES-LCR-1", type="printed_housing", volume_cm3=9.0)
        await send(client, twin, "Store", order)
        assert await last_result(client, twin) == "Store: ok"
        answered = await results_call(
            client, twin, "RequestJobResponseByJobOrderID", ua.Variant("MES-LCR-1")
        )
        assert answered.StatusCode.is_good()
        assert await last_result(client, twin) == "Store: ok"
        unknown = await results_call(
            client, twin, "RequestJobResponseByJobOrderID", ua.Variant("nope")
        )
        assert unknown.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert await last_result(client, twin) == (
            "RequestJobResponseByJobOrderID: JobOrderID: no job order 'nope' in JobOrderList"
        )
        cancelled = await control_call(
            client, twin, "Cancel", ua.Variant("MES-LCR-1"), mes_comment()
        )
        assert cancelled.StatusCode.is_good()
        assert await last_result(client, twin) == "Cancel: ok"
