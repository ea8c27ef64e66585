"""The nodes of the ``opcua`` adapter as a real asyncua PLC has them: NodeIds that differ in
the file but name one node on the server; data types that are subtypes of numbers (a PLC's
ENUM) or abstract (Number)."""

from __future__ import annotations

from typing import Any

import pytest
from asyncua import ua
from asyncua.common.structures104 import new_enum

from adapters.opcua import adapter as adapter_module
from tests.adapters.conftest import Twin
from tests.adapters.opcua.conftest import after, build, entry, running
from tests.adapters.opcua.plc import URI, VT, Plc
from twin.events import STATE_CODES

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_one_node_named_by_ns_and_by_nsu_is_written_by_one_output_only(
    plc: Plc, twin: Twin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ns=N;s=Speed`` and ``nsu=URI;s=Speed`` pass the file's check (they differ as text);
    at connect, with the namespaces known, the second output and an input reading a node an
    output writes are bad tags, named with both NodeIds; the others go on. An alias stays
    one for the link: its node is not checked again each cycle (it was, with a namespace
    array read, a Read and a Browse a cycle, to be refused again)."""
    checks: list[int] = []
    original = adapter_module.check_nodes

    async def counted(client: Any, ins: list[str], outs: list[str]) -> Any:
        checks.append(len(ins) + len(outs))
        return await original(client, ins, outs)

    monkeypatch.setattr(adapter_module, "check_nodes", counted)
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
        assert checks == [4]  # every mapping at the connect, none in the cycles after


async def _typed_variables(plc: Plc) -> None:
    """Variables as TwinCAT or CODESYS expose them, once: an ENUM (a subtype of Enumeration,
    an Int32 on the wire), a subtype of Double, and the abstract Number and UInteger."""
    if "Mode" in plc.nodes:
        return
    server, ns = plc.server, plc.ns
    mode = await new_enum(server, ua.NodeId("E_Mode", ns), "E_Mode", ["Off", "Auto", "Hand"])
    celsius = await server.get_node(ua.NodeId(ua.ObjectIds.Double)).add_data_type(
        ua.NodeId("Celsius", ns), "Celsius"
    )
    folder = await server.nodes.objects.get_child(f"{ns}:PLC")
    for name, data_type, value in [
        ("Mode", mode.nodeid, ua.Variant(1, VT.Int32)),
        ("Temp", celsius.nodeid, ua.Variant(21.5, VT.Double)),
        ("Level", ua.NodeId(ua.ObjectIds.Number), ua.Variant(12.5, VT.Double)),
        ("Count", ua.NodeId(ua.ObjectIds.UInteger), ua.Variant(7, VT.UInt16)),
        ("Empty", ua.NodeId(ua.ObjectIds.Number), ua.Variant()),
    ]:
        node = await folder.add_variable(ua.NodeId(name, ns), name, value, datatype=data_type)
        await node.set_writable()
        plc.nodes[name] = node


async def test_subtypes_of_numbers_enumerations_and_abstract_numbers_are_used(
    plc: Plc, twin: Twin
) -> None:
    """An ENUM variable took a state code, a Double subtype and an abstract Number holding a
    Double were read, an abstract UInteger holding a UInt16 written, each as its value's
    type; they were refused ('data type Number (i=26) is not a number or boolean')."""
    await _typed_variables(plc)
    twin.step(100.0)
    store = twin.engine.store
    ns = plc.ns
    (adapter,) = build(
        twin,
        entry(
            plc.url,
            read=[
                {"signal": "cnc1.coolant_temp", "node": f"ns={ns};s=Temp"},
                {"signal": "printer1.bed_temp", "node": f"ns={ns};s=Level", "offset": 50},
            ],
            write=[{"signal": "cnc1.spindle_speed", "node": f"ns={ns};s=Count"}],
            state=[{"machine": "cnc1", "node": f"ns={ns};s=Mode"}],
        ),
    )
    async with running(adapter):
        st = await adapter.wait_until(lambda st: st.written >= 2)
        await adapter.wait_until(lambda st: store.get("printer1.bed_temp") == 62.5)
        assert st.bad_tags == {}
        assert store.get("cnc1.coolant_temp") == 21.5
        mode = (await plc.nodes["Mode"].read_data_value()).Value
        assert (mode.VariantType, mode.Value) == (VT.Int32, STATE_CODES["Executing"])
        count = (await plc.nodes["Count"].read_data_value()).Value
        speed = store.get("cnc1.spindle_speed")
        assert (count.VariantType, count.Value) == (VT.UInt16, round(speed))


async def test_an_abstract_output_holding_no_value_is_a_bad_tag(plc: Plc, twin: Twin) -> None:
    await _typed_variables(plc)
    node = f"ns={plc.ns};s=Empty"
    (adapter,) = build(twin, entry(plc.url, state=[{"machine": "cnc1", "node": node}]))
    async with running(adapter):
        st = await adapter.wait_until(lambda st: bool(st.bad_tags))
    assert st.bad_tags == {
        "state[0] (cnc1)": f"node '{node}': data type Number (i=26) is abstract and the"
        " variable holds no value: cannot tell which number type to write"
    }
