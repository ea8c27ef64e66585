"""Values that are no reading (a wrong type or word order, infinity, NaN) and outputs their
type cannot hold, against a real pymodbus server: a bad tag with the value and the range,
one log line, the signal not replaced as Good; a saturating write reported once."""

from __future__ import annotations

import logging
import struct

import numpy as np
import pytest

from tests.adapters.conftest import Twin
from tests.adapters.modbus.plc import Plc
from tests.adapters.modbus.test_adapter import adapter_for, config, cycles_on
from twin.signals import GOOD, STALE


def words(fmt: str, value: float) -> list[int]:
    """``value`` packed big-endian as ``fmt`` (">f", ">i"), as 16-bit registers."""
    raw = struct.pack(fmt, value)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


async def set_words(plc: Plc, address: int, regs: list[int]) -> None:
    for k, r in enumerate(regs):
        await plc.set_holding(address + k, r)


READS = {
    "read": [
        # the PLC holds 50 degC as a big-endian int32: read little, it is 3,276,800 degC
        {"signal": "cnc1.coolant_temp", "table": "holding", "address": 30, "type": "int32"},
        {"signal": "printer1.bed_temp", "table": "holding", "address": 40, "type": "float32"},
    ]
}


async def test_values_that_are_no_reading_are_bad_tags_not_good_values(
    twin: Twin, plc: Plc, caplog: pytest.LogCaptureFixture
) -> None:
    store = twin.engine.store
    coolant, bed = store.index("cnc1.coolant_temp"), store.index("printer1.bed_temp")
    before = store.get("cnc1.coolant_temp")
    await set_words(plc, 30, words(">i", 50))
    await set_words(plc, 40, words(">f", float("inf"))[::-1])  # word order little
    a = adapter_for(twin, config(plc.port, word_order="little", **READS))
    caplog.set_level(logging.INFO, logger="adapters.plc1")
    await a.start()
    try:
        st = await a.wait_until(lambda st: len(st.bad_tags) == 2)
        await cycles_on(a, 3)
        st = a.status
        assert st.connected
        why = st.bad_tags["read[0] (cnc1.coolant_temp)"]
        assert why.startswith(
            "3.2768e+06 degC (raw 3.2768e+06) is far outside cnc1.coolant_temp's range "
            "(10 to 60 degC): not used"
        )
        assert st.bad_tags["read[1] (printer1.bed_temp)"].startswith("the PLC gives inf")
        assert store.get("cnc1.coolant_temp") == before  # not replaced
        assert (store.quality[coolant], store.quality[bed]) == (STALE, STALE)
        links = a.bridge.links.get("plc1").bad_tags
        assert any("far outside" in t for t in links)

        await set_words(plc, 40, words(">f", float("nan"))[::-1])  # NaN: named too
        await a.wait_until(lambda st: "nan" in st.bad_tags.get("read[1] (printer1.bed_temp)", ""))
        await set_words(plc, 40, words(">f", 61.5)[::-1])  # a real reading again
        await a.wait_until(lambda st: "read[1] (printer1.bed_temp)" not in st.bad_tags)
        assert store.get("printer1.bed_temp") == 61.5
        assert store.quality[bed] == GOOD
    finally:
        await a.stop()
    news = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    bad_coolant = [n for n in news if "read[0]" in n[1]]
    assert len(bad_coolant) == 1  # once, not every cycle
    assert [lvl for lvl, text in news if "read[1]" in text] == ["WARNING", "INFO"]


async def test_a_saturating_write_is_reported_once(
    twin: Twin, plc: Plc, caplog: pytest.LogCaptureFixture
) -> None:
    twin.step(3600.0)  # the printer is hot: 200 degC and more is 200,000 at scale 0.001
    assert twin.engine.store.get("printer1.nozzle_temp") > 66.0
    maps = {
        "write": [
            {"signal": "printer1.nozzle_temp", "table": "holding", "address": 0, "scale": 0.001}
        ],
        "refresh_s": 0.05,  # written again and again
    }
    a = adapter_for(twin, config(plc.port, **maps))
    caplog.set_level(logging.WARNING, logger="adapters.plc1")
    await a.start()
    try:
        await a.wait_until(lambda st: st.written >= 3, within_s=10)
        assert (await plc.holding(0))[0] == 65535  # saturated, as a PLC's conversion does
    finally:
        await a.stop()
    (record,) = [r for r in caplog.records if "does not fit" in r.getMessage()]
    assert record.getMessage().startswith("adapter plc1: write[0] (printer1.nozzle_temp): ")
    assert "does not fit uint16 (0 to 65535): written saturated" in record.getMessage()


async def test_a_fault_tag_holding_nan_is_a_bad_tag_not_a_fault(
    twin: Twin, plc: Plc, caplog: pytest.LogCaptureFixture
) -> None:
    """A float32 fault tag holding NaN (bool(nan) is true) took the machine out of service
    without a word; it is a bad tag now, the machine keeps its state, and a real value
    works the relay again."""
    maps = {"fault": [{"machine": "cnc1", "table": "holding", "address": 12, "type": "float32"}]}
    await set_words(plc, 12, words(">f", float("nan")))
    a = adapter_for(twin, config(plc.port, **maps))
    caplog.set_level(logging.WARNING, logger="adapters.plc1")
    await a.start()
    try:
        st = await a.wait_until(lambda st: "fault[0] (cnc1)" in st.bad_tags)
        assert st.bad_tags["fault[0] (cnc1)"].startswith("the PLC gives nan, not a number")
        await cycles_on(a, 3)
        assert twin.engine.journal == []
        assert twin.engine.machines["cnc1"].state != "OutOfService"
        await set_words(plc, 12, words(">f", 1.0))
        await a.wait_until(lambda st: not st.bad_tags)
        await cycles_on(a)
        assert twin.engine.machines["cnc1"].state == "OutOfService"
    finally:
        await a.stop()
    assert [r.getMessage() for r in caplog.records] == [
        "adapter plc1: fault[0] (cnc1): the PLC gives nan, not a number: not used, cnc1 keeps"
        " its state; check the tag's type"
    ]


def set_signals(twin: Twin, **values: float) -> None:
    """Put values into signals (``cnc1__power`` for ``cnc1.power``), as the machine models
    would between two of the adapter's cycles."""
    store = twin.engine.store
    paths = [p.replace("__", ".") for p in values]
    index = np.array([store.index(p) for p in paths])
    store.write(index, np.array(list(values.values()), dtype=np.float64), twin.engine.now)


async def test_outputs_are_written_when_the_registers_value_changes_not_the_signals(
    twin: Twin, plc: Plc
) -> None:
    """Noise on a signal that a coil or a register in tenths cannot show was written every
    cycle (the raw float compared): now what the register would hold is compared."""
    maps = {
        "write": [
            {"signal": "cnc1.power", "table": "coil", "address": 3},
            {"signal": "printer1.nozzle_temp", "table": "holding", "address": 2, "scale": 0.1},
            {"signal": "cnc1.spindle_speed", "table": "holding", "address": 4, "type": "float32"},
        ],
        "refresh_s": 0,  # changes only
    }
    set_signals(twin, cnc1__power=5.0, printer1__nozzle_temp=240.0, cnc1__spindle_speed=1e4)
    a = adapter_for(twin, config(plc.port, **maps))
    await a.start()
    try:
        await a.wait_until(lambda st: st.written == 3)
        assert (await plc.holding(2))[0] == 2400
        set_signals(twin, cnc1__power=5.3, printer1__nozzle_temp=240.01)
        set_signals(twin, cnc1__spindle_speed=1e4 + 1e-9)  # beyond a float32's precision
        await cycles_on(a, 3)
        assert a.status.written == 3  # the coil is 1, the register 2400, the float the same
        set_signals(twin, printer1__nozzle_temp=240.06, cnc1__power=0.0)
        await a.wait_until(lambda st: st.written == 5)
        assert (await plc.holding(2))[0] == 2401
        assert await plc.coil(3) is False
        await cycles_on(a, 3)
        assert a.status.written == 5
    finally:
        await a.stop()
    assert a.status.failures == 0
