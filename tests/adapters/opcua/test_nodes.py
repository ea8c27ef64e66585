"""The nodes of the ``opcua`` adapter as a real asyncua PLC has them: NodeIds that differ in
the file but name one node on the server."""

from __future__ import annotations

import pytest

from tests.adapters.conftest import Twin
from tests.adapters.opcua.conftest import after, build, entry, running
from tests.adapters.opcua.plc import URI, Plc

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_one_node_named_by_ns_and_by_nsu_is_written_by_one_output_only(
    plc: Plc, twin: Twin
) -> None:
    """``ns=N;s=Speed`` and ``nsu=URI;s=Speed`` pass the file's check (they differ as text);
    at connect, with the namespaces known, the second output and an input reading a node an
    output writes are bad tags, named with both NodeIds; the others go on."""
    twin.step(100.0)
    speed, state = f"ns={plc.ns};s=Speed", f"ns={plc.ns};s=CncState"
    (adapter,) = build(
        twin,
        entry(
            plc.url,
            write=[
                {"signal": "cnc1.spindle_speed", "node": speed},
                {"signal": "cnc1.power", "node": f"nsu={URI};s=Speed"},
            ],
            state=[{"machine": "cnc1", "node": state}],
            read=[{"signal": "cnc1.coolant_temp", "node": f"nsu={URI};s=CncState"}],
        ),
    )
    async with running(adapter):
        st = await adapter.wait_until(lambda st: st.written >= 2)
        await adapter.wait_until(after(adapter, 2))
        assert st.bad_tags == {
            "write[1] (cnc1.power)": f"node 'nsu={URI};s=Speed' is node '{speed}' on this"
            " server, also written by write[0] (cnc1.spindle_speed)",
            "read[0] (cnc1.coolant_temp)": f"node 'nsu={URI};s=CncState' is node '{state}' on"
            " this server, written by state[0] (cnc1): the twin would read back what it writes",
        }
        assert await plc.get("Speed") == pytest.approx(twin.engine.store.get("cnc1.spindle_speed"))
        assert st.written == 2
        assert (st.connects, st.failures) == (1, 0)
