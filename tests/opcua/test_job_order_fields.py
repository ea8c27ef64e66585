"""Job order fields and request arguments the twin cannot honour are refused, not accepted
silently: a request for responses by a state number OPC 10031-4 does not define."""

from __future__ import annotations

import pytest
from asyncua import ua

from tests.opcua.conftest import Twin
from tests.opcua.jobs_client import ENDED, INTERRUPTED, RUNNING, results_call, ua_state

pytestmark = pytest.mark.asyncio(loop_scope="module")


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
