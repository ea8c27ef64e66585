"""A lost PLC link as SCADA sees it: a real pymodbus PLC, the twin's OPC UA server and a real
asyncua client subscribed to the pinned signal and to the adapter's status object.

Never connected yet and after a failure, the signal the PLC feeds is UncertainLastUsableValue
(value and source timestamp of the last good reading) and ``Cell/Adapters/plc1`` says
Connected=false with the error; once the PLC is back and read, Good and Connected=true.
Tests wait on the adapter's status and on the notifications themselves, never on the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from asyncua import ua

from adapters import Adapter, build_adapters, parse_adapters
from adapters.modbus import ModbusAdapter
from opcua_server.nodesets import NS
from tests.adapters.conftest import UNCERTAIN, Watch, link_values
from tests.adapters.modbus.plc import Plc
from tests.conftest import free_port
from tests.opcua.conftest import start_twin
from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.links import LinkRegistry

KINDS: dict[str, type[Adapter]] = {"modbus": ModbusAdapter}


def binder(
    port: int, adapters: list[Adapter], *more: dict[str, object]
) -> Callable[[Engine, TwinAPI], LinkRegistry]:
    """Binds one Modbus adapter (input register 0 -> printer1.bed_temp, and ``more`` reads)
    to the twin."""

    def bind(engine: Engine, api: TwinAPI) -> LinkRegistry:
        entry = {"name": "plc1", "kind": "modbus", "host": "127.0.0.1", "port": port}
        entry |= {"period_s": 0.02, "timeout_s": 1.0, "backoff_s": 0.05, "backoff_max_s": 0.2}
        entry["read"] = [
            {"signal": "printer1.bed_temp", "table": "input", "address": 0, "scale": 0.1},
            *more,
        ]
        file = parse_adapters({"adapter": [entry]}, "plc.toml", KINDS)
        links = LinkRegistry()
        adapters.extend(build_adapters(file, engine, api, KINDS, links=links))
        return links

    return bind


async def test_a_lost_plc_is_uncertain_and_shown_disconnected_until_it_is_back(
    tmp_path: Path,
) -> None:
    plc = Plc(free_port())
    adapters: list[Adapter] = []
    twin = await start_twin(tmp_path, bind=binder(plc.port, adapters))
    (adapter,) = adapters
    ns = twin.ns(NS.TWIN)
    store = twin.engine.store
    signal = twin.server.signal_nodes[store.index("printer1.bed_temp")]
    connected = ua.NodeId("Cell.Adapters.plc1.Connected", ns)
    try:
        await adapter.start()  # the PLC is not there yet
        await adapter.wait_until(lambda st: st.failures >= 1)
        await twin.step(1.0)
        async with twin.session() as client:
            watch = Watch()
            sub = await client.create_subscription(50, watch)
            await sub.subscribe_data_change([client.get_node(signal), client.get_node(connected)])
            never = await watch.until(signal, lambda dv: dv.StatusCode == UNCERTAIN)
            assert (await watch.until(connected, lambda dv: True)).Value.Value is False
            link = await link_values(client, ns)
            assert link["Connected"] is False
            assert link["ConsecutiveFailures"] >= 1
            assert "no Modbus TCP server answers" in link["LastError"]
            assert link["Kind"] == "modbus"
            assert link["Endpoint"] == f"modbus://127.0.0.1:{plc.port}/1"
            assert never.Value is not None

            await plc.start()  # the PLC comes: read, Good
            st = await adapter.wait_until(lambda st: st.connected and st.cycles >= 1)
            await twin.step(1.0)
            good = await watch.until(signal, lambda dv: dv.StatusCode.is_good())
            assert good.Value is not None
            assert good.Value.Value == pytest.approx(65.5)  # input register 0 (655) x 0.1
            await watch.until(connected, lambda dv: dv.Value.Value is True)
            link = await link_values(client, ns)
            assert link["ConsecutiveFailures"] == 0
            assert link["Failures"] == st.failures
            up_since = link["LastChange"]

            await plc.stop()  # the PLC goes away
            await adapter.wait_until(lambda st: not st.connected)
            await twin.step(1.0)
            lost = await watch.until(signal, lambda dv: dv.StatusCode == UNCERTAIN)
            assert lost.Value is not None
            assert lost.Value.Value == pytest.approx(65.5)  # the last usable value ...
            assert lost.SourceTimestamp == good.SourceTimestamp  # ... as of its last reading
            await watch.until(connected, lambda dv: dv.Value.Value is False)
            link = await link_values(client, ns)
            assert link["Connected"] is False
            assert link["ConsecutiveFailures"] >= 1
            assert link["LastError"]
            assert link["LastChange"] > up_since

            done = adapter.status.cycles  # none while the link is down
            await plc.start()  # back again
            await adapter.wait_until(lambda st: st.connected and st.cycles > done)
            await twin.step(1.0)
            again = await watch.until(signal, lambda dv: dv.StatusCode.is_good())
            assert again.SourceTimestamp is not None
            assert good.SourceTimestamp is not None
            assert again.SourceTimestamp - good.SourceTimestamp >= timedelta(seconds=1)
            await watch.until(connected, lambda dv: dv.Value.Value is True)
    finally:
        await adapter.stop()
        await plc.stop()
        await twin.server.stop()


async def test_a_tag_the_plc_refuses_is_shown_and_the_link_stays_up(tmp_path: Path) -> None:
    plc = Plc(free_port())
    adapters: list[Adapter] = []
    wrong = {"signal": "cnc1.coolant_temp", "table": "input", "address": 50}
    twin = await start_twin(tmp_path, bind=binder(plc.port, adapters, wrong))
    (adapter,) = adapters
    ns = twin.ns(NS.TWIN)
    signal = twin.server.signal_nodes[twin.engine.store.index("printer1.bed_temp")]
    bad = ua.NodeId("Cell.Adapters.plc1.BadTags", ns)
    refused = (
        "read[1] (cnc1.coolant_temp): read input register 50: the PLC answers illegal data "
        "address (exception 2): check the address"
    )
    try:
        await plc.start()
        await adapter.start()
        await adapter.wait_until(lambda st: st.cycles >= 3)
        await twin.step(1.0)
        async with twin.session() as client:
            watch = Watch()
            sub = await client.create_subscription(50, watch)
            await sub.subscribe_data_change([client.get_node(signal), client.get_node(bad)])
            await watch.until(signal, lambda dv: dv.StatusCode.is_good())  # the others go on
            await watch.until(bad, lambda dv: dv.Value.Value == 1)
            link = await link_values(client, ns)
            assert link["Connected"] is True
            assert (link["ConsecutiveFailures"], link["Failures"]) == (0, 0)
            assert link["TagErrors"] == [refused]
            assert link["LastError"] == refused
    finally:
        await adapter.stop()
        await plc.stop()
        await twin.server.stop()
