"""The twin driven from Python in the loop: commands sent from an EventBus subscriber (a
closed-loop MES) are applied at the end of their instant and replay byte for byte; an engine
interrupted mid-step refuses to go on; bad ``until`` and speed values are named; forecasts
work from one event loop after another; a cleared fault shows at once."""

from __future__ import annotations

import asyncio
import io
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from twin.api import Refusal, TwinAPI
from twin.engine.cell import Engine
from twin.engine.replay import read_commands, replay
from twin.errors import CommandError, InvalidStateError
from twin.events import (
    EventBus,
    EventLogWriter,
    FaultCleared,
    JobCompleted,
    JobReleased,
    OperationStarted,
    TransferStarted,
)
from twin.model import load_scenario
from twin.model.scenario import Scenario
from twin.runtime import RealtimeDriver

DAY = 86400
CASES = Path(__file__).parent / "cases"

HOUSING = {"type": "printed_housing", "material": "petg", "volume_cm3": 10}


def _recorded(
    sc: Scenario, mes: Any, until: float, refused: Callable[[Refusal], None] | None = None
) -> bytes:
    """The event log of a run to ``until`` with ``mes(api, event)`` subscribed after the log
    (and ``refused`` given the refusals)."""
    out = io.BytesIO()
    bus = EventBus()
    writer = EventLogWriter(out)
    bus.subscribe(writer)
    engine = Engine(sc, bus=bus)
    api = TwinAPI(engine)
    if refused is not None:
        api.on_refused(refused)
    bus.subscribe(lambda ev: mes(api, ev))
    engine.run(until, stop_when_done=False)
    writer.flush()
    return out.getvalue()


def _replayed(sc: Scenario, log: bytes, until: float, tmp_path: Path) -> bytes:
    (tmp_path / "live.jsonl").write_bytes(log)
    out = io.BytesIO()
    bus = EventBus()
    writer = EventLogWriter(out)
    bus.subscribe(writer)
    replay(Engine(sc, bus=bus), read_commands(tmp_path / "live.jsonl"), until)
    writer.flush()
    return out.getvalue()


def test_orders_sent_from_a_subscriber_replay_byte_for_byte(
    default_scenario_path: Path, tmp_path: Path
) -> None:
    sc = load_scenario(default_scenario_path)
    sent: list[str] = []

    def mes(api: TwinAPI, ev: Any) -> None:  # each finished job is answered by a new order
        if isinstance(ev, JobCompleted) and not ev.job.startswith("R"):
            sent.append(api.submit_order({"id": f"R{len(sent) + 1}", "product": HOUSING}))

    log = _recorded(sc, mes, DAY)
    assert len(sent) > 10
    assert log.count(b'"command":"submit_order"') == len(sent)
    assert _replayed(sc, log, DAY, tmp_path) == log


@pytest.mark.parametrize("seed", range(4))
def test_job_commands_sent_from_a_subscriber_replay_byte_for_byte(
    default_scenario_path: Path, tmp_path: Path, seed: int
) -> None:
    """Cancel, pause, resume and stop in the middle of transfers, operations and releases
    (they used to replay as another run, or not at all)."""
    sc = load_scenario(default_scenario_path).model_copy(update={"seed": seed})
    paused: list[str] = []

    def mes(api: TwinAPI, ev: Any) -> None:
        n = int(ev.t) % 7
        if isinstance(ev, JobReleased) and n == 0:
            api.cancel_order(ev.job)
        elif isinstance(ev, TransferStarted) and n == 1:
            api.pause_job(ev.job)
            paused.append(ev.job)
        elif isinstance(ev, OperationStarted) and n == 2:
            api.stop_job(ev.job)
        elif isinstance(ev, OperationStarted) and paused:
            api.resume_job(paused.pop())

    log = _recorded(sc, mes, 2 * DAY)
    assert log.count(b'"type":"command"') > 10
    assert _replayed(sc, log, 2 * DAY, tmp_path) == log


def test_a_command_refused_at_the_end_of_its_instant_is_logged_not_recorded(
    default_scenario_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sc = load_scenario(default_scenario_path)

    def mes(api: TwinAPI, ev: Any) -> None:  # a job completed cannot be cancelled any more
        if isinstance(ev, JobCompleted):
            api.cancel_order(ev.job)

    refusals: list[Refusal] = []

    log = _recorded(sc, mes, DAY, refusals.append)
    assert b'"type":"command"' not in log
    assert "was refused at the end of that instant: " in caplog.text
    assert "cannot be cancelled" in caplog.text
    completed = re.findall(rb'"type":"job_completed","t":([^,]+),"job":"([^"]+)"', log)
    assert len(refusals) == len(completed) > 5  # the handler hears each one
    for refusal, (t, job) in zip(refusals, completed, strict=True):
        assert (refusal.t, refusal.command, refusal.target) == (
            float(t),
            "cancel_order",
            job.decode(),
        )
        assert "cannot be cancelled" in str(refusal.error)


def test_an_order_sent_as_the_last_job_ends_is_made_by_the_same_run() -> None:
    # the cell runs until all work is done; a closed-loop MES answers the last job with one
    # more order, sent during that instant: the same run must make it (it used to stop first)
    sc = load_scenario(CASES / "two_jobs_one_machine" / "scenario.toml")
    one_op = {"type": "explicit", "operations": [{"machine": "m0", "duration": 60}]}
    bus = EventBus()
    engine = Engine(sc, bus=bus)
    api = TwinAPI(engine)
    done: list[str] = []

    def mes(ev: Any) -> None:
        if isinstance(ev, JobCompleted):
            done.append(ev.job)
            if len(done) == len(sc.orders):
                api.submit_order({"id": "NEXT", "product": one_op})

    bus.subscribe(mes)
    api.on_refused(lambda refusal: pytest.fail(str(refusal)))
    end = engine.run(30 * DAY)
    assert done[-1] == "NEXT"
    assert engine.completed == len(sc.orders) + 1
    assert end < 30 * DAY  # and it still stops early, once that one is done too


def test_an_engine_interrupted_mid_step_refuses_to_go_on(default_scenario_path: Path) -> None:
    bus = EventBus()
    engine = Engine(load_scenario(default_scenario_path), bus=bus)

    def ctrl_c(ev: Any) -> None:  # Ctrl-C lands in the middle of a step
        if isinstance(ev, OperationStarted):
            raise KeyboardInterrupt

    bus.subscribe(ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        engine.run(DAY)
    t = engine.now
    with pytest.raises(InvalidStateError, match=r"interrupted while processing the events at t="):
        engine.run(2 * DAY)
    with pytest.raises(InvalidStateError, match=r"\(KeyboardInterrupt\): its state is not whole"):
        TwinAPI(engine).submit_order({"id": "X", "product": HOUSING})
    assert engine.now == t


@pytest.mark.parametrize(
    ("until", "message"),
    [
        (math.nan, "until: duration must be a finite number, got nan"),
        (math.inf, "until: duration must be a finite number, got inf"),
        ("soon", "until: invalid duration 'soon'"),
    ],
)
def test_run_names_a_bad_until(default_scenario_path: Path, until: Any, message: str) -> None:
    engine = Engine(load_scenario(default_scenario_path))
    with pytest.raises(ValueError, match=re.escape(message)):
        engine.run(until)
    assert engine.now == 0
    assert engine.run("1h") == 3600.0  # a duration, as every command takes


@pytest.mark.parametrize("speed", [math.inf, math.nan, 1e9, "60", 0, True])
def test_the_driver_names_a_bad_speed(default_scenario_path: Path, speed: Any) -> None:
    engine = Engine(load_scenario(default_scenario_path))
    with pytest.raises(CommandError, match=r"speed: must be a number in \(0, 1e\+06\]"):
        RealtimeDriver(engine, speed=speed)
    driver = RealtimeDriver(engine, speed=60.0)
    with pytest.raises(CommandError, match="speed: "):
        driver.set_speed(speed)
    assert driver.speed == 60.0


def test_forecasts_work_from_one_event_loop_after_another(default_scenario_path: Path) -> None:
    """A module-scoped API with function-scoped event loops (pytest-asyncio)."""
    engine = Engine(load_scenario(default_scenario_path))
    engine.run(3600)
    api = TwinAPI(engine)

    async def three() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(api.forecast_async("1d") for _ in range(3))))

    first, second = asyncio.run(three()), asyncio.run(three())
    assert first == second
    assert first[0]["forecast_time"] > 3600


def test_a_cleared_fault_shows_at_once(default_scenario_path: Path) -> None:
    seen: list[Any] = []
    bus = EventBus()
    bus.subscribe(seen.append)
    engine = Engine(load_scenario(default_scenario_path), bus=bus)
    api = TwinAPI(engine)
    engine.run(3600)
    api.inject_fault("cnc1", "maintenance")
    assert api.status()["machines"]["cnc1"]["faults"] == ["maintenance"]
    assert api.status()["machines"]["cnc1"]["state"] == "NotAvailable"
    assert api.clear_fault("cnc1") == 1
    assert api.status()["machines"]["cnc1"]["faults"] == []
    assert api.status()["machines"]["cnc1"]["state"] != "NotAvailable"
    assert [type(e) for e in seen if isinstance(e, FaultCleared)] == [FaultCleared]
    with pytest.raises(InvalidStateError, match="no injected fault to clear"):
        api.clear_fault("cnc1")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda api: api.inject_fault(["cnc1"]), "machine: expected a string (the machine id)"),
        (lambda api: api.clear_fault(["cnc1"]), "machine: expected a string (the machine id)"),
        (lambda api: api.pause_job(["x"]), "job: expected a string (the job id)"),
    ],
)
def test_an_id_of_another_type_is_named_at_once_even_from_a_subscriber(
    default_scenario_path: Path, call: Any, message: str
) -> None:
    bus = EventBus()
    engine = Engine(load_scenario(default_scenario_path), bus=bus)
    api = TwinAPI(engine)
    caught: list[CommandError] = []

    def mes(ev: Any) -> None:
        if isinstance(ev, JobReleased) and not caught:
            with pytest.raises(CommandError, match=re.escape(message)) as exc:
                call(api)
            caught.append(exc.value)

    bus.subscribe(mes)
    engine.run(3600)
    assert caught
    with pytest.raises(CommandError, match=re.escape(message)):
        call(api)
    assert engine.journal == []
