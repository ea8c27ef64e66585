"""Cell methods: delegation to twin.api, bad arguments, and roles."""

from __future__ import annotations

import json

import pytest
from asyncua import Client, Node, ua

from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin, cell_call, last_result

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _cell(client: Client, twin: Twin) -> Node:
    return await client.nodes.objects.get_child(f"{twin.ns(NS.TWIN)}:Cell")


def _s(value: str) -> ua.Variant:
    return ua.Variant(value, ua.VariantType.String)


def _d(value: float) -> ua.Variant:
    return ua.Variant(value, ua.VariantType.Double)


async def test_engineer_sets_speed_pauses_and_resumes(twin: Twin) -> None:
    async with twin.session("erin") as client:
        cell = await _cell(client, twin)
        await cell.call_method(f"{twin.ns(NS.TWIN)}:SetSpeed", _d(120.0))
        assert twin.driver.speed == 120.0
        await cell.call_method(f"{twin.ns(NS.TWIN)}:Pause")
        assert twin.driver.paused
        await twin.server.settle()
        paused = await (await cell.get_child(f"{twin.ns(NS.TWIN)}:Paused")).read_value()
        assert paused is True
        result = await cell_call(client, twin, "Pause")
        assert result.StatusCode.value == ua.StatusCodes.BadInvalidState
        assert "already paused" in await last_result(client, twin)
        await cell.call_method(f"{twin.ns(NS.TWIN)}:Resume")
        assert not twin.driver.paused
        await cell.call_method(f"{twin.ns(NS.TWIN)}:SetSpeed", _d(60.0))


async def test_inject_and_clear_fault(twin: Twin) -> None:
    async with twin.session("erin") as client:
        result = await cell_call(
            client, twin, "InjectFault", _s("printer1"), _s("breakdown"), _d(0)
        )
        assert result.StatusCode.is_good()
        assert twin.engine.machines["printer1"].state == "OutOfService"
        result = await cell_call(client, twin, "ClearFault", _s("printer1"))
        assert result.StatusCode.is_good()
        assert result.OutputArguments[0].Value == 1
        await twin.step(1.0)
        assert twin.engine.machines["printer1"].state != "OutOfService"


@pytest.mark.parametrize(
    ("method", "args", "status", "bad_arg", "message"),
    [
        ("SetSpeed", [_d(-5.0)], ua.StatusCodes.BadInvalidArgument, 0, "speed: must be"),
        (
            "InjectFault",
            [_s("mill9"), _s("breakdown"), _d(0)],
            ua.StatusCodes.BadInvalidArgument,
            0,
            "unknown machine 'mill9'",
        ),
        (
            "InjectFault",
            [_s("cnc1"), _s("meteor"), _d(0)],
            ua.StatusCodes.BadInvalidArgument,
            1,
            "unknown fault kind 'meteor'",
        ),
        (
            "InjectFault",
            [_s("cnc1"), _s("breakdown"), _d(-3)],
            ua.StatusCodes.BadInvalidArgument,
            2,
            "duration",
        ),
        (
            "InjectFault",
            [_s("cnc1"), _s("breakdown"), _d(1e300)],
            ua.StatusCodes.BadInvalidArgument,
            2,
            "duration: duration must be at most 1000 years",
        ),
        ("SetSpeed", [_s("fast")], ua.StatusCodes.BadTypeMismatch, 0, "expected Double"),
        # a state that does not allow it: the message is on what the command is about
        ("ClearFault", [_s("cnc1")], ua.StatusCodes.BadInvalidState, 0, "no injected fault"),
        (
            "SubmitOrder",
            [_s('{"id": "A123456", "product": {"type": "printed_housing"}}')],
            ua.StatusCodes.BadInvalidState,
            0,
            "'A123456' is reserved for the arrival process",
        ),
        ("ClearFault", [], ua.StatusCodes.BadArgumentsMissing, None, "expects 1 argument"),
    ],
)
async def test_bad_arguments_answer_bad_status_and_message(
    twin: Twin,
    method: str,
    args: list[ua.Variant],
    status: int,
    bad_arg: int | None,
    message: str,
) -> None:
    async with twin.session("erin") as client:
        before = twin.api.status()
        result = await cell_call(client, twin, method, *args)
        assert result.StatusCode.value == status
        if bad_arg is not None:
            assert result.InputArgumentResults[bad_arg].value == status
            assert message in result.InputArgumentDiagnosticInfos[bad_arg].AdditionalInfo
        assert message in await last_result(client, twin)
        after = twin.api.status()
        assert after["machines"] == before["machines"]
        assert after["speed"] == before["speed"]


async def test_operator_submits_and_cancels_orders(twin: Twin) -> None:
    async with twin.session("otto") as client:
        order = {
            "id": "MES-42",
            "due": "12h",
            "product": {
                "type": "printed_housing",
                "material": "pla",
                "volume_cm3": 20,
                "height_mm": 30,
                "layer_height_mm": 0.2,
                "openings": 1,
            },
        }
        result = await cell_call(client, twin, "SubmitOrder", _s(json.dumps(order)))
        assert result.StatusCode.is_good(), await last_result(client, twin)
        job = result.OutputArguments[0].Value
        assert job in twin.engine.jobs
        result = await cell_call(client, twin, "CancelOrder", _s(job))
        assert result.StatusCode.is_good(), await last_result(client, twin)
        bad = await cell_call(client, twin, "SubmitOrder", _s("{not json"))
        assert bad.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert "not valid JSON" in bad.InputArgumentDiagnosticInfos[0].AdditionalInfo


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        # JSON from an MES: Python's json (as many clients' parsers) reads 1e400 as infinity
        ("due", "1e300", "order: due: duration must be at most 1000 years"),
        ("due", '"100000000d"', "order: due: duration must be at most 1000 years"),
        ("due", "NaN", "order: due: duration must be a finite number"),
        ("weight", "1e400", "order: weight: Input should be a finite number"),
    ],
)
async def test_an_order_with_a_time_or_weight_off_the_scale_is_refused_whole(
    twin: Twin, field: str, text: str, message: str
) -> None:
    """Such an order was once accepted by the engine, then failed in the server's view (no
    timestamp so far ahead) or was logged as null: the client heard an error, the twin kept
    the job, the command was not recorded, and the log could no longer be replayed."""
    job_id = f"MES-OFF-{field}-{len(text)}"
    order = f'{{"id": "{job_id}", "product": {{"type": "printed_housing"}}, "{field}": {text}}}'
    async with twin.session("otto") as client:
        received = twin.engine.received
        result = await cell_call(client, twin, "SubmitOrder", _s(order))
        assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert message in result.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert job_id not in twin.engine.jobs
        assert twin.engine.received == received


async def test_operator_forecasts_without_changing_the_twin(twin: Twin) -> None:
    async with twin.session("otto") as client:
        product = {"type": "printed_housing", "material": "pla", "volume_cm3": 12}
        order = {"id": "MES-F1", "due": "3d", "product": product}
        result = await cell_call(client, twin, "SubmitOrder", _s(json.dumps(order)))
        assert result.StatusCode.is_good(), await last_result(client, twin)
        twin.engine.run_through(twin.engine.now)  # as any command does first
        before = json.dumps(twin.engine.snapshot())
        result = await cell_call(client, twin, "Forecast", _s("4d"))
        assert result.StatusCode.is_good(), await last_result(client, twin)
        predicted = json.loads(result.OutputArguments[0].Value)
        assert predicted["sim_time"] == twin.engine.now
        assert predicted["forecast_time"] <= twin.engine.now + 4 * 86400
        row = predicted["jobs"]["MES-F1"]
        assert row["state"] == "done"
        assert twin.engine.now < row["completed_at"] <= predicted["forecast_time"]
        assert json.dumps(twin.engine.snapshot()) == before  # a fork ran, not the twin
        await twin.server.settle()
        assert await last_result(client, twin) == "SubmitOrder: ok"  # a query: no command
        bad = await cell_call(client, twin, "Forecast", _s("soon"))
        assert bad.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert "until:" in bad.InputArgumentDiagnosticInfos[0].AdditionalInfo


@pytest.mark.parametrize(
    ("user", "method", "args"),
    [
        ("vera", "Pause", []),
        ("vera", "SubmitOrder", [_s("{}")]),
        ("vera", "Forecast", [_s("8h")]),
        ("otto", "SetSpeed", [_d(10.0)]),
        ("otto", "InjectFault", [_s("cnc1"), _s("breakdown"), _d(0)]),
    ],
)
async def test_roles_deny_with_bad_user_access_denied(
    twin: Twin, user: str, method: str, args: list[ua.Variant]
) -> None:
    async with twin.session(user) as client:
        before = twin.api.status()
        last = await last_result(client, twin)
        result = await cell_call(client, twin, method, *args)
        assert result.StatusCode.value == ua.StatusCodes.BadUserAccessDenied
        assert twin.api.status()["machines"] == before["machines"]
        assert twin.driver.speed == before["speed"]
        assert await last_result(client, twin) == last  # a denied call leaves no trace
        # the session stays usable for what the role allows
        assert await (await _cell(client, twin)).read_browse_name()


async def test_each_method_of_a_call_request_answers_for_itself(twin: Twin) -> None:
    """OPC 10000-4: a Call request is a list of method calls, each with its own result. One
    the role may not make is BadUserAccessDenied in its result, the others run (a denied
    method once refused the whole request, a ServiceFault logged as a server ERROR); a
    method called on an object it is not a component of is BadMethodInvalid."""
    async with twin.session("otto") as client:
        cell = await _cell(client, twin)
        ns = twin.ns(NS.TWIN)
        speed = twin.driver.speed

        def call(obj: Node, method: Node, *args: ua.Variant) -> ua.CallMethodRequest:
            request = ua.CallMethodRequest()
            request.ObjectId, request.MethodId = obj.nodeid, method.nodeid
            request.InputArguments = list(args)
            return request

        order = _s('{"id": "MES-MIX-1", "product": {"type": "printed_housing"}}')
        requests = [
            call(cell, await cell.get_child(f"{ns}:SetSpeed"), _d(speed * 2)),  # engineer's
            call(cell, await cell.get_child(f"{ns}:SubmitOrder"), order),  # operator's
            # a method of the Cell called on the Objects folder
            call(client.nodes.objects, await cell.get_child(f"{ns}:CancelOrder"), _s("MES-MIX-1")),
        ]
        denied, submitted, misdirected = await client.uaclient.call(requests)
        assert denied.StatusCode.value == ua.StatusCodes.BadUserAccessDenied
        assert twin.driver.speed == speed
        assert submitted.StatusCode.is_good()
        assert submitted.OutputArguments[0].Value == "MES-MIX-1"
        assert misdirected.StatusCode.value == ua.StatusCodes.BadMethodInvalid
        assert twin.engine.jobs["MES-MIX-1"].state not in ("cancelled",)
        assert twin.engine.jobs["MES-MIX-1"].leaving is None


async def test_viewer_cannot_write(twin: Twin) -> None:
    async with twin.session("vera") as client:
        node = client.get_node(twin.server.signal_nodes[0])
        with pytest.raises(ua.UaStatusCodeError) as err:
            await node.write_value(ua.DataValue(ua.Variant(1.0, ua.VariantType.Double)))
        assert err.value.code == ua.StatusCodes.BadUserAccessDenied
