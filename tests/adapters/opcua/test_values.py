"""Values of the ``opcua`` adapter against a real asyncua PLC: what is read that is no
reading."""

from __future__ import annotations

import pytest

from tests.adapters.conftest import Twin
from tests.adapters.opcua.conftest import after, build, entry, running
from tests.adapters.opcua.plc import Plc

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
async def test_a_fault_variable_that_is_no_number_is_a_bad_tag_not_a_fault(
    plc: Plc, twin: Twin, value: float
) -> None:
    """A Double fault variable holding NaN or infinity (both true as booleans) is no reading:
    a bad tag, the machine keeps its state."""
    fault = {"machine": "cnc1", "node": f"ns={plc.ns};s=Speed"}
    await plc.set("Speed", value)
    (adapter,) = build(twin, entry(plc.url, fault=[fault]))
    async with running(adapter):
        st = await adapter.wait_until(lambda st: "fault[0] (cnc1)" in st.bad_tags)
        assert st.bad_tags["fault[0] (cnc1)"].startswith(f"the PLC gives {value}, not a number")
        await adapter.wait_until(after(adapter, 3))
        assert twin.engine.journal == []
        await plc.set("Speed", 0.0)
        await adapter.wait_until(lambda st: not st.bad_tags)
    assert twin.engine.journal == []
