"""Arguments of ``twin.api`` commands: any real number is a duration or a speed (numpy's
integers and floats, Fraction, Decimal, as well as int and float), recorded as a plain float;
bool, NaN, infinity and text that is no duration are refused. An order, a job id or a machine
id of the wrong type is a CommandError naming the argument and the type expected (not a raw
TypeError or ValueError), and changes nothing."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import HOUSING
from twin.api import TwinAPI
from twin.clock import ManualClock
from twin.engine import commands
from twin.engine.cell import Engine
from twin.errors import CommandError
from twin.events import CommandApplied, Event
from twin.model import load_scenario
from twin.model.units import parse_duration
from twin.runtime import RealtimeDriver

HALF_HOUR = [
    np.int64(1800),
    np.int32(1800),
    np.uint16(1800),
    np.float32(1800),
    np.float64(1800),
    Fraction(3600, 2),
    Decimal("1800"),
    Decimal("1800.0"),
    1800,
    1800.0,
]
NOT_SECONDS = [
    True,
    False,
    np.bool_(True),
    math.nan,
    np.float32("nan"),
    np.float64("inf"),
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("-Infinity"),
    "soon",
    "1 hour",
    [1800],
    np.array([1800.0]),
    complex(1800, 0),
]


@pytest.fixture
def twin(quiet_twin: tuple[Engine, TwinAPI, list[Event]]) -> tuple[Engine, TwinAPI, list[Event]]:
    return quiet_twin


def _commands(seen: list[Event]) -> list[CommandApplied]:
    return [e for e in seen if isinstance(e, CommandApplied)]


@pytest.mark.parametrize("value", HALF_HOUR, ids=repr)
def test_any_real_number_is_seconds(value: object) -> None:
    seconds = parse_duration(value)
    assert seconds == 1800.0
    assert type(seconds) is float


@pytest.mark.parametrize("value", HALF_HOUR, ids=repr)
def test_a_fault_lasts_any_real_number_of_seconds(
    twin: tuple[Engine, TwinAPI, list[Event]], value: object
) -> None:
    engine, api, seen = twin
    api.inject_fault("cnc1", "breakdown", value)  # type: ignore[arg-type]
    assert engine.machines["cnc1"].faults
    (recorded,) = _commands(seen)
    assert recorded.args["duration"] == 1800.0
    assert type(recorded.args["duration"]) is float  # the event log writes a plain number
    engine.run(engine.now + 1801, stop_when_done=False)
    assert not engine.machines["cnc1"].faults


@pytest.mark.parametrize("value", HALF_HOUR, ids=repr)
def test_forecast_until_any_real_number(
    twin: tuple[Engine, TwinAPI, list[Event]], value: object
) -> None:
    engine, api, _ = twin
    api.submit_order({"id": "F", "product": HOUSING})
    predicted = api.forecast(value)  # type: ignore[arg-type]
    assert "F" in predicted["jobs"]
    assert engine.now == 60


@pytest.mark.parametrize("value", HALF_HOUR, ids=repr)
def test_an_order_due_and_an_explicit_duration_any_real_number(
    twin: tuple[Engine, TwinAPI, list[Event]], value: object
) -> None:
    engine, api, seen = twin
    operation = {"machine": "cnc1", "duration": value}
    api.submit_order(
        {"id": "X", "due": value, "product": {"type": "explicit", "operations": [operation]}}
    )
    assert engine.jobs["X"].due == 1800.0
    (recorded,) = _commands(seen)
    order = recorded.args["order"]
    assert order["due"] == 1800.0
    assert order["product"]["operations"][0]["duration"] == 1800.0
    # what was recorded is accepted again as it is (a replay)
    assert commands.check("submit_order", recorded.args)["order"].due == 1800.0


@pytest.mark.parametrize("speed", [np.int64(2), np.float32(2), Fraction(4, 2), Decimal("2"), 2])
def test_speed_any_real_number(twin: tuple[Engine, TwinAPI, list[Event]], speed: Any) -> None:
    engine, _, seen = twin
    driver = RealtimeDriver(engine, speed=60.0, clock=ManualClock())
    TwinAPI(engine, driver).set_speed(speed)
    assert driver.speed == 2.0
    (recorded,) = _commands(seen)
    assert recorded.args == {"speed": 2.0}
    assert type(recorded.args["speed"]) is float


@pytest.mark.parametrize("speed", [True, np.bool_(True), math.nan, Decimal("Infinity"), "2", 0])
def test_speed_refusals(twin: tuple[Engine, TwinAPI, list[Event]], speed: Any) -> None:
    engine, _, seen = twin
    driver = RealtimeDriver(engine, speed=60.0, clock=ManualClock())
    with pytest.raises(CommandError, match=r"^speed: must be a number in \(0, 1e\+06\]"):
        TwinAPI(engine, driver).set_speed(speed)
    assert driver.speed == 60.0
    assert not _commands(seen)


@pytest.mark.parametrize("value", NOT_SECONDS, ids=repr)
def test_what_is_no_duration_is_refused_everywhere(
    twin: tuple[Engine, TwinAPI, list[Event]], value: Any
) -> None:
    engine, api, seen = twin
    before = (len(seen), engine.snapshot())
    with pytest.raises(CommandError, match=r"^duration: "):  # False too: 0 is no duration
        api.inject_fault("cnc1", "breakdown", value)
    with pytest.raises(CommandError, match=r"^until: "):
        api.forecast(value)
    with pytest.raises(CommandError, match=r"^order: due: "):
        api.submit_order({"id": "X", "due": value, "product": HOUSING})
    explicit = {"type": "explicit", "operations": [{"machine": "cnc1", "duration": value}]}
    with pytest.raises(CommandError, match=r"^order: product\.operations\[0\]\.duration: "):
        api.submit_order({"id": "X", "product": explicit})
    assert (len(seen), engine.snapshot()) == before


@pytest.mark.parametrize("order", [None, "MES-1", ["MES-1"], 42, ("id", "MES-1")], ids=repr)
def test_an_order_not_a_mapping_is_named(
    twin: tuple[Engine, TwinAPI, list[Event]], order: Any
) -> None:
    engine, api, seen = twin
    before = (len(seen), engine.snapshot())
    expected = r"^order: expected a mapping of the order's fields .* or an OrderConfig, got "
    for command in (api.submit_order, api.store_order, api.update_order):
        with pytest.raises(
            CommandError, match=expected + ("None" if order is None else type(order).__name__)
        ):
            command(order)
    assert (len(seen), engine.snapshot()) == before


@pytest.mark.parametrize("job", [["J"], None, 7, {"id": "J"}, b"J"], ids=repr)
def test_a_job_id_not_a_string_is_named(
    twin: tuple[Engine, TwinAPI, list[Event]], job: Any
) -> None:
    engine, api, seen = twin
    api.store_order({"id": "S", "product": HOUSING})
    api.submit_order({"id": "J", "product": HOUSING})
    engine.run_through(engine.now)  # what is due now, as before any command
    before = (len(seen), engine.snapshot())
    for command in (
        api.start_order,
        api.revoke_start,
        api.cancel_order,
        api.pause_job,
        api.resume_job,
        api.stop_job,
    ):
        with pytest.raises(CommandError, match=r"^job: expected a string \(the job id\), got "):
            command(job)
    assert (len(seen), engine.snapshot()) == before


@pytest.mark.parametrize("machine", [["cnc1"], None, 1, {"cnc1"}], ids=repr)
def test_a_machine_id_not_a_string_is_named(
    twin: tuple[Engine, TwinAPI, list[Event]], machine: Any
) -> None:
    engine, api, seen = twin
    before = (len(seen), engine.snapshot())
    expected = r"^machine: expected a string \(the machine id\), got "
    with pytest.raises(CommandError, match=expected):
        api.inject_fault(machine, "breakdown", None)
    with pytest.raises(CommandError, match=expected):
        api.clear_fault(machine)
    assert (len(seen), engine.snapshot()) == before


def test_an_order_due_before_now_is_accepted_with_a_warning(
    default_scenario_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # due counts from the scenario start: at t = 1 d, "8h" is in the past
    engine = Engine(load_scenario(default_scenario_path))
    api = TwinAPI(engine)
    engine.run(86400, stop_when_done=False)
    product = {"type": "printed_housing", "volume_cm3": 10}
    assert api.submit_order({"id": "LATE", "due": "8h", "product": product}) == "LATE"
    assert api.submit_order({"id": "ON-TIME", "due": "2d", "product": product}) == "ON-TIME"
    assert engine.jobs["LATE"].due == 8 * 3600
    late = [r.getMessage() for r in caplog.records if r.name == "twin.api"]
    assert late == [
        "submit_order: order LATE is due at 28,800 s, before now (86,400 s): it is late already"
        " (due counts from the scenario start, t = 0)"
    ]
