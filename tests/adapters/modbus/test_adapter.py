"""The Modbus TCP adapter against a real pymodbus server playing the PLC, read back by an
independent pymodbus client: outputs written (only changes), inputs pinned into the
SignalStore, fault tags as journaled commands, reconnect after the PLC restarts, and config
errors naming file and field."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from adapters import Adapter, build_adapters, parse_adapters
from adapters.modbus import ModbusAdapter
from adapters.modbus.adapter import _plan_reads
from adapters.modbus.config import ModbusConfig
from tests.adapters.conftest import Twin
from tests.adapters.modbus.plc import Plc
from tests.conftest import free_port
from twin.errors import ConfigError
from twin.events import STATE_CODES
from twin.signals import GOOD, STALE

KINDS: dict[str, type[Adapter]] = {"modbus": ModbusAdapter}


def config(port: int, **maps: Any) -> dict[str, Any]:
    entry = {"name": "plc1", "kind": "modbus", "host": "127.0.0.1", "port": port}
    entry |= {"period_s": 0.02, "timeout_s": 1.0, "backoff_s": 0.05, "backoff_max_s": 0.2}
    return {"adapter": [entry | maps]}


def adapter_for(twin: Twin, data: dict[str, Any]) -> ModbusAdapter:
    (a,) = build_adapters(parse_adapters(data, "plc.toml", KINDS), twin.engine, twin.api, KINDS)
    assert isinstance(a, ModbusAdapter)
    return a


async def cycles_on(a: Adapter, n: int = 2) -> None:
    """Wait until ``n`` more cycles have completed (so a change made before was seen)."""
    done = a.status.cycles
    await a.wait_until(lambda st: st.cycles >= done + n)


OUTPUTS = {
    "write": [
        {"signal": "cnc1.spindle_speed", "table": "holding", "address": 0, "type": "float32"},
        {"signal": "printer1.nozzle_temp", "table": "holding", "address": 2, "scale": 0.1},
        {"signal": "cnc1.power", "table": "coil", "address": 3},
    ],
    "state": [{"machine": "cnc1", "address": 10}, {"machine": "printer1", "address": 11}],
}


async def test_outputs_reach_the_plc_and_only_changes_are_written_again(
    twin: Twin, plc: Plc
) -> None:
    twin.step(3600.0)  # the cell is busy: the cnc's spindle turns, the printer is hot
    store = twin.engine.store
    a = adapter_for(twin, config(plc.port, **OUTPUTS))
    await a.start()
    try:
        await a.wait_until(lambda st: st.cycles >= 1)
        assert a.status.written == 5  # every output once
        assert await plc.float32(0) == pytest.approx(store.get("cnc1.spindle_speed"), rel=1e-6)
        assert (await plc.holding(2))[0] == round(store.get("printer1.nozzle_temp") * 10)
        assert await plc.coil(3) == (store.get("cnc1.power") != 0)
        states = await plc.holding(10, 2)
        machines = twin.engine.machines
        assert states == [STATE_CODES[machines[m].state] for m in ("cnc1", "printer1")]
        await cycles_on(a, 3)
        assert a.status.written == 5  # nothing changed, nothing written
        twin.api.inject_fault("cnc1")  # cnc1's state (and signals) change
        twin.engine.sample_signals()
        await cycles_on(a)
        assert a.status.written > 5
        assert (await plc.holding(10))[0] == STATE_CODES["OutOfService"]
        assert await plc.float32(0) == 0.0  # a machine out of service does not turn
    finally:
        await a.stop()
    assert not a.status.connected
    assert a.status.failures == 0


async def test_inputs_are_pinned_and_fault_tags_are_journaled_commands(
    twin: Twin, plc: Plc
) -> None:
    maps = {
        "read": [
            {"signal": "printer1.bed_temp", "table": "input", "address": 0, "scale": 0.1},
            {"signal": "cnc1.coolant_temp", "table": "holding", "address": 20, "type": "int16"},
        ],
        "fault": [{"machine": "cnc1", "table": "coil", "address": 0}],
    }
    a = adapter_for(twin, config(plc.port, **maps))
    await plc.set_holding(20, 0xFFFF - 4)  # int16 -5
    await a.start()
    try:
        await a.wait_until(lambda st: st.cycles >= 1)
        store = twin.engine.store
        assert store.get("printer1.bed_temp") == pytest.approx(65.5)
        assert store.get("cnc1.coolant_temp") == -5.0
        twin.step(3600.0)  # the printer model heats the bed; the PLC's value stays
        assert store.get("printer1.bed_temp") == pytest.approx(65.5)
        assert store.get("cnc1.coolant_temp") == -5.0
        assert twin.engine.machines["cnc1"].state != "OutOfService"

        await plc.set_coil(0, True)
        await cycles_on(a)
        assert twin.engine.machines["cnc1"].state == "OutOfService"
        await plc.set_coil(0, False)
        await cycles_on(a)
        twin.step(0.0)  # the repair ends at the twin's next step
        assert twin.engine.machines["cnc1"].state != "OutOfService"
    finally:
        await a.stop()
    journal = [(c.command, c.args.get("machine")) for c in twin.engine.journal]
    assert journal == [("inject_fault", "cnc1"), ("clear_fault", "cnc1")]


async def test_a_restarted_plc_gets_every_output_again(twin: Twin, plc: Plc) -> None:
    twin.step(3600.0)
    a = adapter_for(twin, config(plc.port, **OUTPUTS))
    await a.start()
    try:
        await a.wait_until(lambda st: st.written >= 5)
        await plc.stop()  # the PLC goes away: its registers with it
        st = await a.wait_until(lambda st: not st.connected)
        assert st.failures >= 1
        assert st.last_error
        await plc.start()  # a fresh PLC: all registers 0
        await a.wait_until(lambda st: st.connects == 2 and st.written >= 10)
        assert (await plc.holding(10))[0] == STATE_CODES[twin.engine.machines["cnc1"].state]
        assert await plc.float32(0) == pytest.approx(
            twin.engine.store.get("cnc1.spindle_speed"), rel=1e-6
        )
    finally:
        await a.stop()


async def test_an_unreachable_plc_is_retried_warned_once_and_linked_when_it_comes(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    plc = Plc(free_port())
    a = adapter_for(twin, config(plc.port, **OUTPUTS))
    caplog.set_level(logging.DEBUG, logger="adapters.plc1")
    await a.start()  # does not fail: the twin goes on without its PLC
    try:
        st = await a.wait_until(lambda st: st.failures >= 3)
        assert not st.connected
        assert st.connects == 0
        assert "no Modbus TCP server answers" in (st.last_error or "")
        ours = [r for r in caplog.records if r.name == "adapters.plc1"]
        warnings = [r for r in ours if r.levelno == logging.WARNING]
        assert len(warnings) == 1  # the same failure again is not news
        await plc.start()
        try:
            st = await a.wait_until(lambda st: st.connected)
            failed = st.failures
        finally:
            await a.stop(within_s=2.0)
            await plc.stop()
    finally:
        await a.stop(within_s=2.0)
    ours = [r for r in caplog.records if r.name == "adapters.plc1"]
    infos = [r.getMessage() for r in ours if r.levelno == logging.INFO]
    assert infos == [f"adapter plc1: connected to {a.endpoint} (after {failed} failed attempts)"]


ADDRESS = "the PLC answers illegal data address (exception 2): check the address"


async def test_a_wrong_address_is_a_bad_tag_and_the_others_go_on(
    twin: Twin, plc: Plc, caplog: pytest.LogCaptureFixture
) -> None:
    """The PLC has 2 input and 100 holding registers: input 5 (read with input 0 as one
    block) and holding 100 (written with holding 99 as one run) are refused, the rest is
    served, the link stays up and each refusal is logged once."""
    twin.step(3600.0)
    maps = {
        "read": [
            {"signal": "printer1.bed_temp", "table": "input", "address": 0, "scale": 0.1},
            {"signal": "cnc1.coolant_temp", "table": "input", "address": 5},
        ],
        "write": [
            {"signal": "cnc1.spindle_speed", "table": "holding", "address": 0, "type": "float32"},
            {"signal": "printer1.nozzle_temp", "table": "holding", "address": 100},
        ],
        "state": [{"machine": "cnc1", "address": 99}, {"machine": "printer1", "address": 200}],
    }
    a = adapter_for(twin, config(plc.port, **maps))
    caplog.set_level(logging.INFO, logger="adapters.plc1")
    await a.start()
    try:
        await a.wait_until(lambda st: st.cycles >= 1)
        await cycles_on(a, 5)
        st = a.status
        store = twin.engine.store
        assert store.get("printer1.bed_temp") == pytest.approx(65.5)
        assert store.quality[store.index("printer1.bed_temp")] == GOOD
        assert store.quality[store.index("cnc1.coolant_temp")] == STALE
        assert await plc.float32(0) == pytest.approx(store.get("cnc1.spindle_speed"), rel=1e-6)
        assert (await plc.holding(99))[0] == STATE_CODES[twin.engine.machines["cnc1"].state]
        assert st.bad_tags == {
            "read[1] (cnc1.coolant_temp)": f"read input register 5: {ADDRESS}",
            "write[1] (printer1.nozzle_temp)": f"write holding register 100: {ADDRESS}",
            "state[1] (printer1)": f"write holding register 200: {ADDRESS}",
        }
        assert (st.connected, st.connects, st.failures) == (True, 1, 0)
        assert st.written == 2  # the good outputs once (nothing changed since); none else
        link = a.bridge.links.get("plc1")
        assert link.connected
        assert link.failures == 0
        assert set(link.bad_tags) == {f"{k}: {v}" for k, v in st.bad_tags.items()}
        assert link.last_error.endswith(ADDRESS)
    finally:
        await a.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sorted(warnings) == sorted(f"adapter plc1: {k}: {v}" for k, v in st.bad_tags.items())


async def test_a_wrong_unit_fails_every_tag_but_not_the_link(twin: Twin, plc: Plc) -> None:
    maps = {
        "read": [{"signal": "printer1.bed_temp", "table": "input", "address": 0}],
        "state": [{"machine": "cnc1", "address": 10}],
    }
    a = adapter_for(twin, config(plc.port, unit=5, **maps))
    await a.start()
    try:
        await a.wait_until(lambda st: st.cycles >= 1)
        await cycles_on(a, 3)
        st = a.status
        assert (st.connected, st.connects, st.failures, st.written) == (True, 1, 0, 0)
        refused = "the PLC answers server device failure (exception 4): check unit"
        assert st.bad_tags == {
            "read[0] (printer1.bed_temp)": f"read input register 0: {refused} (the device "
            "id) and the PLC",
            "state[0] (cnc1)": f"write holding register 10: {refused} (the device id) and the PLC",
        }
    finally:
        await a.stop()


async def test_a_tag_good_again_is_logged_once(
    twin: Twin, plc: Plc, caplog: pytest.LogCaptureFixture
) -> None:
    """A tag refused for a while (the PLC busy, a program download) is good again without a
    reconnect."""
    read = {"signal": "printer1.bed_temp", "table": "input", "address": 0, "scale": 0.1}
    a = adapter_for(twin, config(plc.port, read=[read]))
    caplog.set_level(logging.INFO, logger="adapters.plc1")
    refusing = True
    real = a._tag_ok

    def tag_ok(output: bool, pos: int) -> None:
        if refusing:
            a._tag_failed(output, pos, "busy")
        else:
            real(output, pos)

    a._tag_ok = tag_ok  # type: ignore[method-assign]
    await a.start()
    try:
        await a.wait_until(lambda st: st.bad_tags == {"read[0] (printer1.bed_temp)": "busy"})
        await cycles_on(a, 3)
        refusing = False
        await a.wait_until(lambda st: not st.bad_tags)
        assert a.bridge.links.get("plc1").bad_tags == ()
    finally:
        await a.stop()
    ours = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "adapters.plc1"]
    assert ours[1:] == [
        ("WARNING", "adapter plc1: read[0] (printer1.bed_temp): busy"),
        ("INFO", "adapter plc1: read[0] (printer1.bed_temp): good again"),
    ]


def test_reads_are_grouped_into_blocks_per_table() -> None:
    cfg = ModbusConfig.model_validate(
        config(
            1,
            read=[
                {"signal": "a.x", "table": "holding", "address": 10, "type": "float32"},
                {"signal": "a.y", "table": "holding", "address": 0},
                {"signal": "a.z", "table": "holding", "address": 200},
                {"signal": "a.w", "table": "input", "address": 0},
            ],
            fault=[{"machine": "cnc1", "table": "holding", "address": 12}],
        )["adapter"][0]
    )
    blocks = [(b.table, b.start, b.count, sorted(b.tags)) for b in _plan_reads(cfg)]
    assert blocks == [
        ("holding", 0, 13, [(0, 10), (1, 0), (4, 12)]),
        ("holding", 200, 1, [(2, 0)]),
        ("input", 0, 1, [(3, 0)]),
    ]


@pytest.mark.parametrize(
    ("maps", "field", "reason"),
    [
        (
            {"write": [{"signal": "cnc1.spindle", "table": "holding", "address": 0}]},
            "adapter[0].write[0].signal",
            "unknown signal 'cnc1.spindle' (cnc1 has: spindle_speed,",
        ),
        (
            {"fault": [{"machine": "cnc9", "table": "coil", "address": 0}]},
            "adapter[0].fault[0].machine",
            "unknown machine 'cnc9' (cell has: cnc1, robot1, printer1, vision1)",
        ),
        (
            {"write": [{"signal": "cnc1.power", "table": "input", "address": 0}]},
            "adapter[0].write[0].table",
            "an input register is read-only in Modbus",
        ),
        (
            {"read": [{"signal": "cnc1.power", "table": "coil", "address": 0, "type": "int16"}]},
            "adapter[0].read[0].type",
            "a coil is one bit; give no type",
        ),
        (
            {
                "write": [
                    {"signal": "cnc1.power", "address": 1, "table": "holding", "type": "float32"}
                ],
                "state": [{"machine": "cnc1", "address": 2}],
            },
            "adapter[0].state[0].address",
            "holding 2 is also written by write[0]",
        ),
        (
            {
                "read": [
                    {"signal": "cnc1.power", "table": "holding", "address": 65535, "type": "int32"}
                ]
            },
            "adapter[0].read[0].address",
            "65535 + 2 words is beyond 65535",
        ),
        (
            {"write": [{"signal": "cnc1.power", "table": "holding", "address": 0, "scale": 0}]},
            "adapter[0].write[0].scale",
            "must not be 0",
        ),
        ({}, "adapter[0]", "maps nothing"),
        (
            {"read": [{"signal": "cnc1.power", "table": "holding", "address": 0, "bit": 3}]},
            "adapter[0].read[0].bit",
            "unknown field",
        ),
    ],
)
def test_config_errors_name_file_and_field(
    twin: Twin, maps: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as err:
        adapter_for(twin, config(502, **maps))
    assert err.value.source == "plc.toml"
    assert err.value.field == field
    assert reason in err.value.reason


FAULT_COIL = {"machine": "cnc1", "table": "coil", "address": 0}


def test_file_level_errors(twin: Twin) -> None:
    base = config(502, read=[{"signal": "cnc1.power", "table": "holding", "address": 0}])
    entry = base["adapter"][0]
    cases = [
        ({"adapter": [entry | {"kind": "profinet"}]}, "adapter[0].kind", "unknown adapter kind"),
        ({"adapter": [entry, entry]}, "adapter[1].name", "'plc1' used twice"),
        ({"adapters": []}, "adapters", "unknown field"),
        ({"adapter": [entry, entry | {"name": "plc2"}]}, "adapter[1].read[0].signal", "fed by"),
        (
            config(502, fault=[FAULT_COIL, FAULT_COIL | {"address": 1}]),
            "adapter[0].fault[1].machine",
            "'cnc1' is already faulted by adapter[0].fault[0].machine",
        ),
    ]
    for data, field, reason in cases:
        with pytest.raises(ConfigError) as err:
            build_adapters(parse_adapters(data, "plc.toml", KINDS), twin.engine, twin.api, KINDS)
        assert (err.value.field, reason in err.value.reason) == (field, True), err.value
