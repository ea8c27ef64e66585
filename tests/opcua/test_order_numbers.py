"""The two ways an MES sends an order over OPC UA agree on numbers: a quoted number is
refused by the Cell's SubmitOrder (the order as JSON text) as by ISA-95 Store (a String
parameter), naming the field, and the twin's orders stay as they were; numbers are taken by
both (a JSON number, an integer variant)."""

from __future__ import annotations

import json

import pytest
from asyncua import ua

from tests.opcua.conftest import Twin, cell_call, job_order, mes_comment
from tests.opcua.jobs_client import control_call

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _s(value: str) -> ua.Variant:
    return ua.Variant(value, ua.VariantType.String)


async def test_a_quoted_number_is_refused_by_both_order_methods(twin: Twin) -> None:
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        engine = twin.engine
        received = engine.received
        order = {"id": "NUM-JSON", "product": {"type": "machined_bracket", "holes": "6"}}
        result = await cell_call(client, twin, "SubmitOrder", _s(json.dumps(order)))
        assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert (
            "order: product.holes: expected an integer, got the string '6': write the number"
            " without quotes" in result.InputArgumentDiagnosticInfos[0].AdditionalInfo
        )
        isa95 = job_order(twin, "NUM-ISA95", type="machined_bracket", holes="6")
        result = await control_call(client, twin, "Store", ua.Variant(isa95), mes_comment())
        assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert "JobOrderParameters[1] (holes): expected an integer" in (
            result.InputArgumentDiagnosticInfos[0].AdditionalInfo
        )
        assert engine.received == received
        assert not {"NUM-JSON", "NUM-ISA95"} & (set(engine.jobs) | set(engine.stored))

        order["product"]["holes"] = 6  # type: ignore[index]
        result = await cell_call(client, twin, "SubmitOrder", _s(json.dumps(order)))
        assert result.StatusCode.is_good()
        isa95 = job_order(twin, "NUM-ISA95", type="machined_bracket", holes=6)
        result = await control_call(client, twin, "Store", ua.Variant(isa95), mes_comment())
        assert result.StatusCode.is_good()
        assert "NUM-JSON" in engine.jobs
        assert "NUM-ISA95" in engine.stored
        assert engine.jobs["NUM-JSON"].spec == engine.stored["NUM-ISA95"].product
