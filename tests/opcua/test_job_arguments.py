"""ISA-95 JobOrderControl and JobOrderResults calls a client gets wrong: too few or too many
arguments, arguments of another type than declared. Each is refused with a status code and a
message naming the method, the argument and what was expected, reported in
Cell/LastCommandResult like the Cell methods' refusals; the twin is unchanged and the server
logs no traceback."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from asyncua import Client, ua

from tests.opcua.conftest import Twin, job_order, last_result, mes_comment
from tests.opcua.jobs_client import (
    RUNNING,
    control_call,
    results_call,
    send,
    ua_state,
)
from twin.model import HousingSpec

pytestmark = pytest.mark.asyncio(loop_scope="module")

_S = ua.VariantType.String
_EXT = ua.VariantType.ExtensionObject


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


async def _stored(client: Client, twin: Twin, job_id: str) -> None:
    if job_id not in twin.engine.stored:
        await send(client, twin, "Store", job_order(twin, job_id, type="printed_housing"))


@pytest.mark.parametrize(
    ("method", "args", "status", "bad_arg", "message"),
    [
        pytest.param(
            "Start",
            [],
            ua.StatusCodes.BadArgumentsMissing,
            None,
            "Start: expects 1 or 2 arguments (JobOrderID, optional Comment), got 0",
            id="no-arguments",
        ),
        pytest.param(
            "Start",
            [ua.Variant("MES-ARG-1"), mes_comment(), ua.Variant(1, ua.VariantType.Int32)],
            ua.StatusCodes.BadTooManyArguments,
            2,
            "Start: expects 1 or 2 arguments (JobOrderID, optional Comment), got 3",
            id="too-many",
        ),
        pytest.param(
            "Store",
            [ua.Variant("not an order")],
            ua.StatusCodes.BadTypeMismatch,
            0,
            "Store: JobOrder: expected ISA95JobOrderDataType, got String",
            id="string-for-the-order",
        ),
        pytest.param(
            "Store",
            [ua.Variant(42)],
            ua.StatusCodes.BadTypeMismatch,
            0,
            "Store: JobOrder: expected ISA95JobOrderDataType, got Int64",
            id="number-for-the-order",
        ),
        pytest.param(
            "Start",
            [ua.Variant(42, ua.VariantType.Int32)],
            ua.StatusCodes.BadTypeMismatch,
            0,
            "Start: JobOrderID: expected String, got Int32",
            id="number-for-the-id",
        ),
        pytest.param(
            "Start",
            [ua.Variant(["MES-ARG-1"], _S), mes_comment()],
            ua.StatusCodes.BadTypeMismatch,
            0,
            "Start: JobOrderID: expected String, got String[]",
            id="array-for-the-id",
        ),
        pytest.param(
            "Start",
            [ua.Variant("MES-ARG-1"), ua.Variant("a comment")],
            ua.StatusCodes.BadTypeMismatch,
            1,
            "Start: Comment: expected LocalizedText[], got String",
            id="string-for-the-comment",
        ),
    ],
)
async def test_control_calls_with_bad_arguments_are_refused(
    twin: Twin,
    caplog: pytest.LogCaptureFixture,
    method: str,
    args: list[ua.Variant],
    status: int,
    bad_arg: int | None,
    message: str,
) -> None:
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        await _stored(client, twin, "MES-ARG-1")
        stored, received = dict(twin.engine.stored), twin.engine.received
        result = await control_call(client, twin, method, *args)
        assert result.StatusCode.value == status
        assert len(result.InputArgumentResults) == len(args)
        marked = [i for i, r in enumerate(result.InputArgumentResults) if not r.is_good()]
        assert marked == ([] if bad_arg is None else [bad_arg])
        if bad_arg is not None:
            assert result.InputArgumentResults[bad_arg].value == status
            assert result.InputArgumentDiagnosticInfos[bad_arg].AdditionalInfo == message
        assert await last_result(client, twin) == message
        assert (twin.engine.stored, twin.engine.received) == (stored, received)
        no_tracebacks(caplog)


async def test_the_comment_may_be_left_out(twin: Twin) -> None:
    """An MES that sends no Comment (node-opcua's does not) is not refused for it."""
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        await _stored(client, twin, "MES-ARG-2")
        result = await control_call(client, twin, "Cancel", ua.Variant("MES-ARG-2"))
        assert result.StatusCode.is_good()
        assert "MES-ARG-2" not in twin.engine.stored


@pytest.mark.parametrize(
    ("states", "status", "message"),
    [
        pytest.param(
            ua.Variant("Running"),
            ua.StatusCodes.BadTypeMismatch,
            "JobOrderState: expected ISA95StateDataType[], got String",
            id="string",
        ),
        pytest.param(
            lambda: ua.Variant(ua_state(RUNNING), _EXT),
            ua.StatusCodes.BadTypeMismatch,
            "JobOrderState: expected ISA95StateDataType[], got ISA95StateDataType",
            id="one-state-not-an-array",
        ),
        pytest.param(
            ua.Variant([], _EXT),
            ua.StatusCodes.BadInvalidArgument,
            "JobOrderState: give at least the top-level state (got none)",
            id="empty-array",
        ),
    ],
)
async def test_a_request_by_state_of_no_state_is_refused(
    twin: Twin, caplog: pytest.LogCaptureFixture, states: Any, status: int, message: str
) -> None:
    async with twin.session("vera") as client:
        await client.load_data_type_definitions()
        arg = states() if callable(states) else states
        result = await results_call(client, twin, "RequestJobResponseByJobOrderState", arg)
        assert result.StatusCode.value == status
        assert result.InputArgumentResults[0].value == status
        method = "RequestJobResponseByJobOrderState"
        assert result.InputArgumentDiagnosticInfos[0].AdditionalInfo == f"{method}: {message}"
        assert await last_result(client, twin) == f"{method}: {message}"
        no_tracebacks(caplog)


def _order(twin: Twin, job_id: str, params: list[tuple[str, ua.Variant]]) -> Any:
    order = job_order(twin, job_id)
    order.JobOrderParameters = [ua.ISA95ParameterDataType(ID=k, Value=v) for k, v in params]
    return order


_HOUSING = ("type", ua.Variant("printed_housing"))
_NUMBER = "expected a number (Double or an integer type)"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param(
            [_HOUSING, ("material", ua.Variant("pla")), ("material", ua.Variant("abs"))],
            "JobOrderParameters[2]: ID 'material' given twice (also JobOrderParameters[1])",
            id="duplicate",
        ),
        pytest.param(
            [_HOUSING, ("volume_cm3", ua.Variant(True))],
            f"JobOrderParameters[1] (volume_cm3): {_NUMBER}, got Boolean",
            id="boolean-for-a-number",
        ),
        pytest.param(
            [("volume_cm3", ua.Variant("20")), _HOUSING],
            f"JobOrderParameters[0] (volume_cm3): {_NUMBER}, got String",
            id="string-for-a-number",
        ),
        pytest.param(
            [_HOUSING, ("openings", ua.Variant([1, 2]))],
            "JobOrderParameters[1] (openings): expected an integer (an integer type, or a"
            " Double with no fraction), got Int64[]",
            id="array-for-an-integer",
        ),
        pytest.param(
            [_HOUSING, ("material", ua.Variant(3))],
            "JobOrderParameters[1] (material): expected String, got Int64",
            id="number-for-a-text",
        ),
        pytest.param(
            [("type", ua.Variant(7, ua.VariantType.Int32))],
            "JobOrderParameters[0] (type): expected String, got Int32",
            id="number-for-the-type",
        ),
        pytest.param(
            [_HOUSING, ("", ua.Variant("pla"))],
            "JobOrderParameters[1]: ID is required",
            id="no-id",
        ),
        # the model's errors name the parameter as the checks of variant types do
        pytest.param(
            [_HOUSING, ("openings", ua.Variant(2.5))],
            "JobOrderParameters[1] (openings): Input should be a valid integer, got a number"
            " with a fractional part\n",
            id="fraction-for-an-integer",
        ),
        pytest.param(
            [_HOUSING, ("materal", ua.Variant("pla"))],
            "JobOrderParameters[1] (materal): unknown field\n",
            id="misspelt-id",
        ),
        pytest.param(
            [("volume_cm3", ua.Variant(20.0)), _HOUSING, ("material", ua.Variant("plaa"))],
            "JobOrderParameters[2] (material): Input should be 'pla', 'petg', 'abs' or 'pa12'\n",
            id="not-an-option",
        ),
        pytest.param(
            [("type", ua.Variant("machined_bracket")), ("length_mm", ua.Variant(5000.0))],
            "JobOrderParameters[1] (length_mm): Input should be less than or equal to 1000\n",
            id="out-of-range",
        ),
        pytest.param(
            [("type", ua.Variant("spaceship"))],
            "JobOrderParameters[0] (type): unknown type 'spaceship' (known: machined_bracket,",
            id="unknown-type",
        ),
        pytest.param(
            [("material", ua.Variant("pla"))],
            "JobOrderParameters (no parameter 'type'): type required (one of: machined_bracket,",
            id="no-type",
        ),
        pytest.param(
            [("type", ua.Variant("explicit"))],
            "JobOrderParameters (no parameter 'operations'): field required\n",
            id="a-required-field-not-given",
        ),
    ],
)
async def test_job_order_parameters_that_do_not_fit_are_refused(
    twin: Twin, request: pytest.FixtureRequest, params: list[tuple[str, ua.Variant]], message: str
) -> None:
    """A parameter given twice (the last one won) or of a variant type that does not fit its
    product field (a Boolean was taken as a number, a String parsed as one) is refused,
    naming the parameter; the order is neither stored nor started."""
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        received = twin.engine.received
        for method in ("Store", "StoreAndStart"):
            order = _order(twin, f"MES-PAR-{method}-{request.node.callspec.id}", params)
            result = await control_call(client, twin, method, ua.Variant(order), mes_comment())
            assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
            expected = f"{method}: JobOrder: {message}"
            # a message that ends in a newline is the whole message
            shown = result.InputArgumentDiagnosticInfos[0].AdditionalInfo + "\n"
            assert shown.startswith(expected), shown
            assert order.JobOrderID not in twin.engine.stored
            assert order.JobOrderID not in twin.engine.jobs
        assert twin.engine.received == received


async def test_a_bad_job_order_id_is_named_as_sent(twin: Twin) -> None:
    """The order's id is the job order's JobOrderID: named so, not as the model's ``id``."""
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        order = _order(twin, "MES PAR 1", [_HOUSING])
        result = await control_call(client, twin, "Store", ua.Variant(order), mes_comment())
        assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert result.InputArgumentDiagnosticInfos[0].AdditionalInfo == (
            "Store: JobOrder: JobOrderID: String should match pattern"
            " '^[A-Za-z0-9][A-Za-z0-9_.\\-]*$'"
        )
        assert "MES PAR 1" not in twin.engine.stored


async def test_job_order_parameters_of_any_number_type_are_taken(twin: Twin) -> None:
    """Numbers as an MES may send them: an integer type or a Float for a real field, a whole
    Double for an integer field (a JavaScript client sends every number as a Double)."""
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        params = [
            _HOUSING,
            ("material", ua.Variant("petg")),
            ("volume_cm3", ua.Variant(20, ua.VariantType.UInt16)),
            ("layer_height_mm", ua.Variant(0.25, ua.VariantType.Float)),
            ("openings", ua.Variant(3.0, ua.VariantType.Double)),
        ]
        await send(client, twin, "Store", _order(twin, "MES-PAR-OK", params))
        product = twin.engine.stored["MES-PAR-OK"].product
        assert isinstance(product, HousingSpec)
        assert (product.material, product.volume_cm3, product.openings) == ("petg", 20.0, 3)
        assert product.layer_height_mm == 0.25
        cancelled = await control_call(client, twin, "Cancel", ua.Variant("MES-PAR-OK"))
        assert cancelled.StatusCode.is_good()
