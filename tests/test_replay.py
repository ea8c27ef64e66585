"""Restore and fork a run by deterministic replay of its commands: the replayed event log is
byte-identical, a fork has the live state and is independent of it, forecasts leave the twin
untouched, and bad command files are named by file and line."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import twin.api
from twin.api import TwinAPI
from twin.cli import main
from twin.clock import ManualClock
from twin.engine.cell import Engine
from twin.engine.jobs import ENDED_STATES
from twin.engine.replay import (
    Command,
    ForecastCancelled,
    ForkPoint,
    forecast_from,
    fork,
    read_commands,
    replay,
)
from twin.errors import CommandError, ConfigError
from twin.events import CommandApplied, Event, EventBus, EventLogWriter, JobCompleted
from twin.model import load_scenario
from twin.model.scenario import OrderConfig
from twin.runtime import RealtimeDriver
from twin.simulation import run_simulation

EVERY_KIND = {"submit_order", "cancel_order", "inject_fault", "clear_fault"}
EVERY_KIND |= {"pause", "resume", "set_speed", "store_order", "start_order"}
EVERY_KIND |= {"pause_job", "resume_job", "update_order", "revoke_start", "stop_job"}


def _order(job: str, product: dict[str, Any], due: str | None = None) -> dict[str, Any]:
    return {"id": job, "product": product} | ({"due": due} if due else {})


def _session(engine: Engine) -> TwinAPI:
    """Drive ``engine`` in real time (x60, a manual clock) and command it as an MES and an
    engineer would: several commands of each kind, some while paused, some at one instant."""
    clock = ManualClock()
    driver = RealtimeDriver(engine, speed=60.0, clock=clock)
    api = TwinAPI(engine, driver)

    def wall(seconds: float) -> None:
        clock.advance(seconds)
        driver.advance()

    wall(60)
    api.submit_order(_order("MES-1", {"type": "printed_housing", "volume_cm3": 20}, "8h"))
    api.submit_order(_order("MES-2", {"type": "machined_bracket", "material": "steel"}))
    api.inject_fault("cnc1", "breakdown", "30m")
    wall(30)
    api.pause()
    clock.advance(500)  # paused: no simulated time passes
    api.submit_order(_order("MES-3", {"type": "hybrid_part"}, "1d"))
    api.store_order(_order("MES-4", {"type": "printed_housing", "volume_cm3": 8}))
    api.store_order(_order("MES-5", {"type": "module_assembly"}, "2d"))
    api.store_order(_order("MES-6", {"type": "machined_bracket"}))
    api.resume()
    api.set_speed(120)
    wall(20)
    api.inject_fault("printer1", "emergency_stop")
    api.inject_fault("robot1", "breakdown", 600)
    wall(10)
    api.clear_fault("printer1")
    api.start_order("MES-4")
    api.cancel_order("MES-5")
    api.cancel_order("A000002")
    in_cell = [j.id for j in engine.jobs.values() if j.state not in ("backlog", *ENDED_STATES)]
    api.pause_job(in_cell[0])
    api.pause_job(in_cell[-1])
    wall(15)
    api.resume_job(in_cell[0])
    api.stop_job(in_cell[-1])  # paused: it leaves from the storage
    api.update_order(_order("MES-6", {"type": "machined_bracket", "holes": 6}, "3d"))
    for n in range(int(engine.max_wip)):  # a full WIP: the last ones wait for release
        api.submit_order(_order(f"MES-F{n}", {"type": "printed_housing", "volume_cm3": 4}))
    waiting = list(engine.backlog)[-1].id
    api.revoke_start(waiting)
    api.update_order(_order(waiting, {"type": "printed_housing", "volume_cm3": 5}))
    api.start_order(waiting)
    api.set_speed(30)
    api.pause()
    api.cancel_order("MES-3")
    api.resume()
    api.inject_fault("cnc1", "maintenance")
    wall(40)
    api.clear_fault("cnc1")
    wall(25)
    return api


def _recorded(scenario: Path, log: Path, signals: bool = False) -> Engine:
    bus = EventBus()
    with log.open("wb") as fh:
        writer = EventLogWriter(fh)
        bus.subscribe(writer)
        engine = Engine(load_scenario(scenario), bus=bus, signals=signals)
        _session(engine)
        writer.flush()
    return engine


def _json(data: Any) -> Any:
    return json.loads(json.dumps(data))


def test_replayed_log_is_byte_identical(default_scenario_path: Path, tmp_path: Path) -> None:
    live = _recorded(default_scenario_path, tmp_path / "live.jsonl")
    commands = read_commands(tmp_path / "live.jsonl")
    assert {c.name for c in commands} == EVERY_KIND
    assert len(commands) == len(live.journal) == 40
    with (tmp_path / "replay.jsonl").open("wb") as fh:
        bus = EventBus()
        writer = EventLogWriter(fh)
        bus.subscribe(writer)
        again = replay(Engine(live.scenario, bus=bus), commands, live.now)
        writer.flush()
    recorded = (tmp_path / "live.jsonl").read_bytes()
    assert len(recorded) > 10_000
    assert (tmp_path / "replay.jsonl").read_bytes() == recorded
    assert again.now == live.now


def test_replay_of_a_run_driven_without_clock(default_scenario_path: Path, tmp_path: Path) -> None:
    """A harness runs the engine to whole seconds (int times stay ints in the log) and sends
    commands in between; the replay writes the same bytes."""
    bus = EventBus()
    with (tmp_path / "live.jsonl").open("wb") as fh:
        writer = EventLogWriter(fh)
        bus.subscribe(writer)
        live = Engine(load_scenario(default_scenario_path), bus=bus)
        api = TwinAPI(live)
        live.run(3600, stop_when_done=False)
        api.submit_order(_order("MES-1", {"type": "machined_bracket", "material": "steel"}))
        api.inject_fault("printer1", "breakdown")
        live.run(9000, stop_when_done=False)
        api.clear_fault("printer1")
        api.cancel_order("SO-1002")
        live.run(86400, stop_when_done=False)
        live.run_through(86400)
        writer.flush()
    recorded = (tmp_path / "live.jsonl").read_bytes()
    assert b'{"type":"command","t":3600,' in recorded
    commands = read_commands(tmp_path / "live.jsonl")
    assert [c.t for c in commands] == [3600, 3600, 9000, 9000]
    with (tmp_path / "replay.jsonl").open("wb") as fh:
        bus = EventBus()
        writer = EventLogWriter(fh)
        bus.subscribe(writer)
        replay(Engine(live.scenario, bus=bus), commands, 86400)
        writer.flush()
    assert (tmp_path / "replay.jsonl").read_bytes() == recorded


def test_fork_has_the_live_state_and_runs_ahead_alone(default_scenario_path: Path) -> None:
    seen: list[Event] = []
    bus = EventBus()
    bus.subscribe(seen.append)
    live = Engine(load_scenario(default_scenario_path), bus=bus)
    _session(live)
    twin = fork(live)
    before = _json(live.snapshot())
    assert _json(twin.snapshot()) == before
    assert before["jobs"]
    assert before["stored"] == ["MES-6"]  # stored, not started: kept by the fork too
    assert before["t"] > 3600
    n_events = len(seen)

    twin.run(live.now + 2 * 86400, stop_when_done=False)
    assert twin.now == live.now + 2 * 86400
    assert _json(twin.snapshot()) != before
    assert _json(live.snapshot()) == before
    assert len(seen) == n_events  # the fork publishes on its own bus


def test_run_through_reaches_the_exact_time(default_scenario_path: Path) -> None:
    engine = Engine(load_scenario(default_scenario_path))
    engine.run_through(0.2)
    # env.run(until=0.9) from 0.2 would reach 0.2 + (0.9 - 0.2), which is not 0.9 in floats
    assert engine.run_through(0.9) == 0.9
    engine.run(3600, stop_when_done=False)  # stops before the events due at 3600 after it
    engine.run_through(3600)
    assert engine.env.peek() > 3600


def test_submit_order_records_the_order(default_scenario_path: Path) -> None:
    seen: list[Event] = []
    engine = Engine(load_scenario(default_scenario_path))
    engine.bus.subscribe(seen.append)
    order = _order("MES-9", {"type": "printed_housing", "volume_cm3": 12}, "5h")
    TwinAPI(engine).submit_order(order)
    (cmd,) = [e for e in seen if isinstance(e, CommandApplied)]
    assert cmd.args == {
        "job": "MES-9",
        "product": "printed_housing",
        "order": OrderConfig.model_validate(order).model_dump(mode="json"),
    }
    assert cmd.args["order"]["due"] == 5 * 3600


def _log(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "events.jsonl"
    first = '{"type":"job_released","t":0.0,"job":"SO-1001"}'
    path.write_text("\n".join([first, *lines]) + "\n", encoding="utf-8")
    return path


def _command(t: object, name: str, **args: object) -> str:
    return json.dumps({"type": "command", "t": t, "command": name, "args": args})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not a JSON event"),
        ('{"t": 1}', "not an event"),
        (_command(5, "explode"), "unknown command 'explode' (known: submit_order,"),
        (_command(5, "submit_order", job="X"), "submit_order: order: missing"),
        (
            _command(5, "submit_order", order={"id": "X", "product": {"type": "laser"}}),
            "submit_order: order: product: ",
        ),
        (_command(-1, "pause"), "t: expected a time >= 0, got -1"),
        (_command(5, "inject_fault", machine="cnc1", kind="meteor"), "unknown fault kind"),
        (_command(5, "inject_fault", machine="cnc1", kind="breakdown", duration=-3), "duration"),
        (_command(5, "set_speed", speed=0), "set_speed: speed: must be a number"),
        (_command(5, "cancel_order", job=7), "job: expected a str, got 7"),
    ],
)
def test_bad_command_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = _log(tmp_path, _command(1, "pause"), line)
    with pytest.raises(ConfigError) as info:
        read_commands(path)
    assert str(info.value).startswith(f"{path}: line 3: ")
    assert message in str(info.value)


def test_unreadable_log(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.jsonl: cannot read the event log"):
        read_commands(tmp_path / "nope.jsonl")


def test_replay_errors_name_the_command(default_scenario_path: Path, tmp_path: Path) -> None:
    sc = load_scenario(default_scenario_path)
    late = [Command(10.0, "pause", {}), Command(5.0, "resume", {})]
    with pytest.raises(ConfigError, match=r"command 1 \(resume at t=5.0\): earlier than"):
        replay(Engine(sc), late, 100)
    with pytest.raises(ConfigError, match=r"command 0 \(pause at t=10.0\): later than the end"):
        replay(Engine(sc), late[:1], 5)
    path = _log(tmp_path, _command(10.0, "pause"), _command(20.0, "cancel_order", job="nope"))
    with pytest.raises(ConfigError) as info:
        replay(Engine(sc), read_commands(path), 100)
    assert str(info.value) == (
        f"{path}: line 3: command 1 (cancel_order at t=20.0): unknown job 'nope'"
    )


def test_forecast_predicts_and_leaves_the_twin_alone(default_scenario_path: Path) -> None:
    completed: dict[str, JobCompleted] = {}

    def on_event(event: Event) -> None:
        if isinstance(event, JobCompleted):
            completed[event.job] = event

    engine = Engine(load_scenario(default_scenario_path))
    engine.bus.subscribe(on_event)
    api = TwinAPI(engine)
    engine.run(3 * 3600, stop_when_done=False)
    for n in range(8):
        api.submit_order(_order(f"F{n}", {"type": "printed_housing", "volume_cm3": 30}, "6h"))
    api.inject_fault("printer1", "breakdown", "1h")
    before = _json(engine.snapshot())
    n_done = len(completed)

    fc = api.forecast("4h")
    assert _json(engine.snapshot()) == before
    assert len(completed) == n_done
    assert fc["sim_time"] == engine.now
    assert fc["forecast_time"] == engine.now + 4 * 3600
    open_now = {j["id"] for j in before["jobs"]}
    assert open_now <= set(fc["jobs"])

    # nothing else happens: the twin does what the forecast said
    engine.run(fc["forecast_time"], stop_when_done=False)
    for job_id, row in fc["jobs"].items():
        assert row["state"] == engine.jobs[job_id].state, job_id
        done = completed.get(job_id)
        assert row["completed_at"] == (done.t if done else None), job_id
        assert row["tardiness"] == (done.tardiness if done else None), job_id
    predicted = [r for r in fc["jobs"].values() if r["completed_at"] is not None]
    assert predicted
    assert len(predicted) < len(fc["jobs"])
    assert any(r["tardiness"] > 0 for r in predicted)
    assert fc["completed"] == engine.completed - before["completed"]
    assert fc["scrapped"] == engine.scrapped - before["scrapped"]


async def test_forecast_async_forks_in_a_worker_thread(
    default_scenario_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(load_scenario(default_scenario_path))
    api = TwinAPI(engine)
    engine.run(2 * 3600, stop_when_done=False)
    api.submit_order(_order("FA-1", {"type": "printed_housing", "volume_cm3": 30}, "6h"))
    expected = api.forecast("8h")
    built_in: list[int] = []
    build = ForkPoint.engine
    counting = threading.Lock()
    running = most = 0

    def spy(point: ForkPoint, cancel: threading.Event | None = None) -> Engine:
        nonlocal running, most
        built_in.append(threading.get_ident())
        with counting:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.05)  # a forecast under way long enough for another to overlap it
            return build(point, cancel)
        finally:
            with counting:
                running -= 1

    monkeypatch.setattr(ForkPoint, "engine", spy)
    # two at once: one after the other, each forks the twin as it is when its turn comes
    first, second = await asyncio.gather(api.forecast_async("8h"), api.forecast_async("8h"))
    assert first == second == expected
    assert len(built_in) == 2
    assert most == 1  # never two forks at once
    assert threading.get_ident() not in built_in  # not on the event loop's thread
    with pytest.raises(CommandError, match=r"^until: "):
        await api.forecast_async("soon")


@pytest.mark.parametrize("until", ["soon", -5, 0, float("inf"), True, "367d", 1e300])
def test_forecast_rejects_bad_until(default_scenario_path: Path, until: Any) -> None:
    seen: list[Event] = []
    engine = Engine(load_scenario(default_scenario_path))
    engine.bus.subscribe(seen.append)
    engine.run(600, stop_when_done=False)
    before, n = _json(engine.snapshot()), len(seen)
    with pytest.raises(CommandError, match=r"^until: "):
        TwinAPI(engine).forecast(until)
    assert _json(engine.snapshot()) == before
    assert len(seen) == n


async def test_a_cancelled_forecast_stops_its_fork(
    default_scenario_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread cannot be stopped from outside: a forecast whose caller is cancelled (a client
    gone, the server shutting down) tells its fork, which stops at its next event instead of
    running on for the rest of a year and holding up the server's shutdown."""
    engine = Engine(load_scenario(default_scenario_path))
    api = TwinAPI(engine)
    engine.run(3600, stop_when_done=False)
    started, ended = threading.Event(), threading.Event()
    outcome: list[BaseException | None] = []
    run = forecast_from

    def watched(point: ForkPoint, ahead: float, cancel: threading.Event | None = None) -> Any:
        started.set()
        assert cancel is not None
        assert cancel.wait(30)  # the fork starts once the caller is cancelled: it must stop
        try:
            result = run(point, ahead, cancel)
            outcome.append(None)
            return result
        except BaseException as exc:
            outcome.append(exc)
            raise
        finally:
            ended.set()

    monkeypatch.setattr(twin.api, "forecast_from", watched)
    task = asyncio.create_task(api.forecast_async("366d"))
    assert await asyncio.to_thread(started.wait, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(ended.wait, 30)
    assert len(outcome) == 1
    assert isinstance(outcome[0], ForecastCancelled)
    # the lock is free again and a forecast runs whole
    monkeypatch.undo()
    assert (await api.forecast_async("1h"))["sim_time"] == engine.now


def test_cli_replay_reproduces_a_recorded_run(default_scenario_path: Path, tmp_path: Path) -> None:
    # recorded as `twin run` records: real time, signals sampled, commands through the API
    live = _recorded(default_scenario_path, tmp_path / "live.jsonl", signals=True)
    out = tmp_path / "replayed"
    args = ["simulate", str(default_scenario_path), "--replay", str(tmp_path / "live.jsonl")]
    args += ["--until", "2d", "--out", str(out), "--no-plots", "-q", "--telemetry", "none"]
    assert main(args) == 0
    recorded = (tmp_path / "live.jsonl").read_bytes()
    replayed = (out / "events.jsonl").read_bytes()
    last_command = recorded.rindex(b'{"type":"command"')
    assert last_command > 10_000
    assert replayed[: len(recorded)] == recorded
    assert len(replayed) > len(recorded)
    assert json.loads((out / "summary.json").read_text())["end_time"] > live.now


def test_cli_replay_bad_command(
    default_scenario_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _log(tmp_path, _command(10.0, "inject_fault", machine="laser9", kind="breakdown"))
    args = ["simulate", str(default_scenario_path), "--replay", str(path), "--until", "1h"]
    args += ["--out", str(tmp_path / "out"), "--no-plots", "-q", "--telemetry", "none"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: line 2: command 0 (inject_fault at t=10.0): ")
    assert "unknown machine 'laser9'" in err
    assert len(err.strip().splitlines()) == 1


def test_cli_rejected_replay_leaves_the_last_runs_telemetry(
    default_scenario_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A replay refused for a command beyond --until is refused before the telemetry sink
    opens: the telemetry file of the run before in the same --out is kept."""
    out = tmp_path / "out"
    args = ["simulate", str(default_scenario_path), "--until", "1h", "--out", str(out)]
    args += ["--no-plots", "-q", "--telemetry", "file"]
    assert main(args) == 0
    before = (out / "telemetry.lp.gz").read_bytes()
    late = _log(tmp_path, _command(7200.0, "inject_fault", machine="cnc1", kind="breakdown"))
    assert main([*args, "--replay", str(late)]) == 2
    assert "7200" in capsys.readouterr().err
    assert (out / "telemetry.lp.gz").read_bytes() == before


def test_ended_jobs_beyond_keep_ended_are_dropped(default_scenario_path: Path) -> None:
    sc = load_scenario(default_scenario_path)
    logs = []
    engines = []
    for keep in (5, 100_000):
        bus = EventBus()
        seen: list[Event] = []
        bus.subscribe(seen.append)
        engine = Engine(sc, bus=bus, keep_ended=keep)
        engine.run(20 * 86400, stop_when_done=False)
        logs.append([e.to_dict() for e in seen])
        engines.append(engine)
    small, full = engines
    assert logs[0] == logs[1]  # dropping records changes nothing that happens
    assert small.snapshot() == full.snapshot()
    ends = ("job_completed", "job_scrapped", "job_cancelled")
    ended = [e["job"] for e in logs[1] if e["type"] in ends]  # in the order they ended
    assert len(ended) > 100
    kept = {j.id for j in small.jobs.values() if j.state in ENDED_STATES}
    assert kept == set(ended[-5:])  # the last five that ended
    assert len(small.jobs) == len(full.jobs) - len(ended) + 5
    assert (small.received, small.remade) == (full.received, full.remade)
    assert full.received + full.remade == len(full.jobs)  # orders, and remakes of scrapped parts
    # a forecast still reports jobs that end and are dropped in the fork
    predicted = TwinAPI(small).forecast("30d")
    assert predicted == TwinAPI(full).forecast("30d")


def test_simulate_refuses_commands_out_of_order_before_it_writes(
    default_scenario_path: Path, tmp_path: Path
) -> None:
    """run_simulation checks the commands' times once, before anything is made."""
    sc = load_scenario(default_scenario_path)
    late = [Command(10.0, "pause", {}), Command(5.0, "resume", {})]
    with pytest.raises(ConfigError, match=r"command 1 \(resume at t=5.0\): earlier than"):
        run_simulation(sc, commands=late, out_dir=tmp_path / "out", plots=False)
    with pytest.raises(ConfigError, match=r"command 0 \(pause at t=10.0\): later than the end"):
        run_simulation(sc, until=5, commands=late[:1], out_dir=tmp_path / "out", plots=False)
    assert not (tmp_path / "out").exists()
    result = run_simulation(sc, until=3600, commands=late[:1], plots=False)
    assert [e.command for e in result.engine.journal] == ["pause"]
