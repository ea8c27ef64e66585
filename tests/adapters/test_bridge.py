"""The twin's side of an adapter, without I/O: outputs pending until sent, inputs pinned,
fault tags owning the machine's injected faults."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from adapters import Bridge
from adapters.bridge import int_range, saturate
from adapters.modbus import ModbusConfig
from tests.adapters.conftest import Twin
from twin.errors import CommandError
from twin.signals import GOOD, STALE


def bridge(twin: Twin, **maps: Any) -> Bridge:
    cfg = ModbusConfig.model_validate({"name": "plc1", "kind": "modbus", "host": "h", **maps})
    b = Bridge(cfg, twin.engine, twin.api, "plc.toml", "adapter[0]")
    b.pin()
    return b


FAULT = {"fault": [{"machine": "cnc1", "table": "coil", "address": 0}]}


def test_outputs_are_pending_until_sent_and_again_after_forget(twin: Twin) -> None:
    b = bridge(
        twin,
        write=[{"signal": "cnc1.power", "table": "holding", "address": 0, "scale": 0.5}],
        state=[{"machine": "cnc1", "address": 1}],
    )
    power = twin.engine.store.get("cnc1.power")
    first = b.pending()
    assert first == [(0, power / 0.5), (1, 2.0)]  # raw = value / scale; NotExecuting
    b.sent(first)
    assert b.pending() == []
    twin.api.inject_fault("cnc1")
    assert b.pending() == [(1, 1.0)]  # only the state changed (signals not sampled yet)
    b.forget_sent()
    assert [pos for pos, _ in b.pending()] == [0, 1]


def test_inputs_skip_values_the_plc_has_no_good_value_for(twin: Twin) -> None:
    store = twin.engine.store
    b = bridge(
        twin,
        read=[
            {"signal": "printer1.bed_temp", "table": "holding", "address": 0, "offset": 20},
            {"signal": "cnc1.power", "table": "holding", "address": 1},
        ],
    )
    before = store.get("cnc1.power")
    b.apply([40, None])
    assert store.get("printer1.bed_temp") == 60.0
    assert store.get("cnc1.power") == before
    assert store.pinned(store.index("cnc1.power"))  # pinned all the same: the PLC owns it
    assert np.isfinite(store.values[: len(store)]).all()


def test_inputs_are_stale_until_read_without_a_good_value_and_when_the_link_is_lost(
    twin: Twin,
) -> None:
    store = twin.engine.store
    b = bridge(
        twin,
        read=[
            {"signal": "printer1.bed_temp", "table": "holding", "address": 0},
            {"signal": "cnc1.power", "table": "holding", "address": 1},
        ],
    )
    bed, power = store.index("printer1.bed_temp"), store.index("cnc1.power")
    quality = lambda: [int(store.quality[bed]), int(store.quality[power])]  # noqa: E731
    assert quality() == [STALE, STALE]  # pinned, nothing read yet
    others = np.ones(len(store), dtype=bool)
    others[[bed, power]] = False
    assert (store.quality[: len(store)][others] == GOOD).all()  # simulated: always good
    twin.step(10.0)
    b.apply([40, None])
    assert quality() == [GOOD, STALE]  # no good value for cnc1.power: its last usable one
    assert store.timestamps[bed] == twin.engine.now
    b.apply([40, 3])
    assert quality() == [GOOD, GOOD]
    b.stale()  # the link is lost
    assert quality() == [STALE, STALE]
    assert store.values[bed] == 40.0


def test_a_fault_tag_clears_its_fault_restored_before_it_started(twin: Twin) -> None:
    twin.api.inject_fault("cnc1", by="adapter:plc1")  # as --resume replays the relay's fault
    b = bridge(twin, **FAULT)
    b.apply([True])  # still on: nothing to do
    assert [c.command for c in twin.engine.journal] == ["inject_fault"]
    b.apply([False])  # released while the twin was away: the twin follows the PLC
    assert [c.command for c in twin.engine.journal] == ["inject_fault", "clear_fault"]
    assert twin.engine.injected_faults("cnc1") == 0


def test_the_relay_wins_over_an_operator_clearing_its_fault(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    b = bridge(twin, **FAULT)
    b.apply([True])
    cnc = twin.engine.machines["cnc1"]
    assert cnc.state == "OutOfService"
    twin.api.clear_fault("cnc1")  # an operator clears it while the relay is still on
    assert cnc.state != "OutOfService"
    with caplog.at_level(logging.WARNING, logger="adapters.plc1"):
        for _ in range(3):
            b.apply([True])
    assert cnc.state == "OutOfService"  # the relay is level-triggered: faulted while on
    assert twin.engine.injected_faults("cnc1") == 1
    (record,) = caplog.records  # one warning, not one per cycle
    text = record.getMessage()
    assert text.startswith("adapter plc1: fault[0] (cnc1): the breakdown fault was cleared")
    assert "relay" in text
    b.apply([False])  # the relay opens: the fault ends
    assert twin.engine.injected_faults("cnc1") == 0
    assert cnc.state != "OutOfService"


def test_the_relay_clears_its_own_fault_only(twin: Twin) -> None:
    twin.api.inject_fault("cnc1", "maintenance")  # planned by an operator
    b = bridge(twin, **FAULT)
    b.apply([False])  # nothing of the relay's to clear
    assert twin.engine.injected_faults("cnc1") == 1
    b.apply([True])
    assert twin.engine.injected_faults("cnc1") == 2
    b.apply([False])
    cnc = twin.engine.machines["cnc1"]
    assert cnc.faults == [("maintenance", "api")]  # the maintenance goes on
    assert cnc.state == "NotAvailable"
    cleared = twin.engine.journal[-1]
    assert (cleared.command, dict(cleared.args)) == (
        "clear_fault",
        {"machine": "cnc1", "kind": "breakdown", "by": "adapter:plc1"},
    )


def test_two_relays_on_one_machine_keep_to_their_own_faults(twin: Twin) -> None:
    """A breakdown relay closed and a tool breakage relay open on cnc1: the open one took the
    closed one's fault for its own and cleared it, every cycle (two fsync'd commands and the
    machine's work interrupted every half second)."""
    b = bridge(
        twin,
        fault=[
            {"machine": "cnc1", "table": "coil", "address": 0},
            {"machine": "cnc1", "table": "coil", "address": 1, "kind": "tool_breakage"},
        ],
    )
    for _ in range(4):
        b.apply([True, False])
    commands = [e.command for e in twin.engine.journal]
    assert commands.count("inject_fault") == 1
    assert "clear_fault" not in commands
    assert twin.engine.machines["cnc1"].state == "OutOfService"


def test_a_refused_command_is_logged_once_per_reason(
    twin: Twin, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = bridge(twin, **FAULT)

    def refuse(*args: object, **kwargs: object) -> None:
        raise CommandError("kind: refused for the test")

    monkeypatch.setattr(twin.api, "inject_fault", refuse)
    with caplog.at_level(logging.WARNING, logger="adapters.plc1"):
        for _ in range(3):
            b.apply([True])
    assert len(caplog.records) == 1
    assert "refused for the test" in caplog.records[0].getMessage()
    monkeypatch.undo()
    b.apply([True])  # accepted now
    assert twin.engine.injected_faults("cnc1") == 1


def test_active_low_fault_tags(twin: Twin) -> None:
    b = bridge(twin, fault=[{"machine": "cnc1", "table": "coil", "address": 0, "active_low": True}])
    b.apply([True])  # healthy
    assert twin.engine.injected_faults("cnc1") == 0
    b.apply([False])  # the "machine ok" contact opened
    assert twin.engine.injected_faults("cnc1") == 1
    assert twin.engine.machines["cnc1"].state == "OutOfService"


def test_a_nan_output_is_not_written_and_integers_saturate(twin: Twin) -> None:
    b = bridge(twin, write=[{"signal": "cnc1.power", "table": "holding", "address": 0}])
    b.sent(b.pending())
    store = twin.engine.store
    store.write(np.array([store.index("cnc1.power")]), np.array([np.nan]), 1.0)
    assert b.pending() == []  # nothing to write: the PLC keeps its last value
    assert int_range(16, signed=True) == (-32768, 32767)
    assert [saturate(v, (0, 65535)) for v in (-3.0, 2.5, 3.5, 1e9, float("inf"))] == [
        0,
        2,
        4,
        65535,
        65535,
    ]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_fault_tag_that_is_no_number_is_a_bad_tag_and_the_machine_keeps_its_state(
    twin: Twin, value: float
) -> None:
    """bool(nan) is true: a float fault tag holding NaN put the machine out of service with
    no word of it; it is no reading, as for a signal."""
    b = bridge(twin, fault=[{"machine": "cnc1", "table": "holding", "address": 0}])
    rejected = b.apply([value])
    assert rejected == {
        0: (
            f"the PLC gives {value}, not a number: not used, cnc1 keeps its state; check the"
            " tag's type",
            "not finite",
        )
    }
    assert twin.engine.journal == []
    assert twin.engine.machines["cnc1"].state != "OutOfService"
    b.apply([1.0])
    assert b.apply([value]) == rejected
    assert [c.command for c in twin.engine.journal] == ["inject_fault"]  # the relay's only
    assert twin.engine.machines["cnc1"].state == "OutOfService"
