"""Values of the ``opcua`` adapter against a real asyncua PLC: what is read that is no
reading, and when an output is written."""

from __future__ import annotations

import numpy as np
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


async def test_outputs_are_written_when_the_variables_value_changes_not_the_signals(
    plc: Plc, twin: Twin
) -> None:
    """An Int16 and a Boolean variable are written when their value changes, not at each
    change of the signal they show (noise)."""
    store = twin.engine.store
    bed, power = store.index("printer1.bed_temp"), store.index("cnc1.power")

    def put(bed_temp: float, cnc_power: float) -> None:
        store.write(np.array([bed, power]), np.array([bed_temp, cnc_power]), twin.engine.now)

    put(60.1, 5.0)
    (adapter,) = build(
        twin,
        entry(
            plc.url,
            refresh_s=0,
            write=[
                {"signal": "printer1.bed_temp", "node": f"ns={plc.ns};s=BedTemp"},
                {"signal": "cnc1.power", "node": f"ns={plc.ns};s=CncFault"},
            ],
        ),
    )
    async with running(adapter):
        await adapter.wait_until(lambda st: st.written == 2)
        assert (await plc.get("BedTemp"), await plc.get("CncFault")) == (60, True)
        put(60.2, 5.5)
        await adapter.wait_until(after(adapter, 3))
        assert adapter.status.written == 2  # 60 and true all the same
        put(60.7, 5.5)
        await adapter.wait_until(lambda st: st.written == 3)
        assert await plc.get("BedTemp") == 61
        await adapter.wait_until(after(adapter, 3))
        assert adapter.status.written == 3
