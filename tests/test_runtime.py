"""Real-time driving: exact simulated time from the clock, speed, pause/resume, commands
while running, and a free event loop."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from twin.api import TwinAPI
from twin.clock import ManualClock
from twin.engine.cell import Engine
from twin.errors import InvalidStateError
from twin.model import load_scenario
from twin.runtime import RealtimeDriver


async def _settle(clock: ManualClock, sleeping: bool = True) -> None:
    # let the driver run until it waits on the clock again (or, paused, on a command)
    for _ in range(50):
        await asyncio.sleep(0)
        if clock.sleepers and sleeping:
            return
    if sleeping:
        raise AssertionError("driver did not go back to sleep")


@pytest.fixture
def engine(default_scenario_path: Path) -> Engine:
    return Engine(load_scenario(default_scenario_path))


async def test_time_follows_clock_times_speed_without_drift(engine: Engine) -> None:
    clock = ManualClock()
    driver = RealtimeDriver(engine, speed=60.0, clock=clock, tick=0.1)
    task = asyncio.create_task(driver.run())
    await _settle(clock)
    for _ in range(3600):  # one wall hour in 1 s steps -> 60 simulated hours
        clock.advance(1.0)
        await _settle(clock)
        assert engine.now == pytest.approx(driver.target(), abs=1e-6)
    assert engine.now == pytest.approx(3600 * 60.0, abs=1e-6)
    driver.stop()
    await task


async def test_pause_resume_and_speed(engine: Engine) -> None:
    clock = ManualClock()
    driver = RealtimeDriver(engine, speed=10.0, clock=clock)
    api = TwinAPI(engine, driver)
    task = asyncio.create_task(driver.run())
    await _settle(clock)
    clock.advance(5.0)
    await _settle(clock)
    assert engine.now == pytest.approx(50.0)
    api.pause()
    await _settle(clock, sleeping=False)
    assert clock.sleepers == 0  # paused: waits for a command, not for time
    clock.advance(100.0)
    await _settle(clock, sleeping=False)
    assert engine.now == pytest.approx(50.0)
    with pytest.raises(InvalidStateError):
        api.pause()
    api.resume()
    api.set_speed(100.0)
    await _settle(clock)
    clock.advance(2.0)
    await _settle(clock)
    assert engine.now == pytest.approx(250.0)
    # a command while running takes effect at the current simulated time
    api.inject_fault("cnc1", "breakdown", "1h")
    assert engine.machines["cnc1"].state == "OutOfService"
    driver.stop()
    await task


async def test_wall_clock_run_does_not_block_loop(engine: Engine) -> None:
    driver = RealtimeDriver(engine, speed=3600.0)
    task = asyncio.create_task(driver.run(until=7200.0))
    ticks = 0
    while not task.done():
        ticks += 1
        await asyncio.sleep(0.01)
    await task
    assert engine.now == pytest.approx(7200.0)
    assert ticks > 50  # the loop kept serving other tasks during the two wall seconds


def test_a_driver_starts_at_the_engines_time(engine: Engine) -> None:
    """A restored twin continues where its engine is; its timestamps stay on the axis of the
    run it restores (``origin``) or, by default, put the engine's time at the wall clock now."""
    engine.run_through(7200)
    start = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
    clock = ManualClock(wall_start=start)
    default = RealtimeDriver(engine, speed=60.0, clock=clock)
    assert default.target() == 7200
    assert default.wall_time(7200) == start
    origin = start - dt.timedelta(days=1)
    driver = RealtimeDriver(engine, speed=60.0, clock=clock, origin=origin)
    clock.advance(10.0)
    assert driver.advance() == 7200 + 600
    assert driver.wall_time(0.0) == origin


def test_pause_and_stop_hold_the_clock_where_the_engine_got_to(engine: Engine) -> None:
    """The advance before a pause or a stop takes wall time (here 0.1 ms per event, 100
    simulated seconds at 1e6): the clock stands still at the time the engine got to, the one
    the pause is recorded at, so a command sent meanwhile applies there too."""
    clock = ManualClock()
    driver = RealtimeDriver(engine, speed=1e6, clock=clock)
    api = TwinAPI(engine, driver)
    engine.bus.subscribe(lambda _: clock.advance(1e-4))
    order = {"product": {"type": "printed_housing"}}
    clock.advance(0.5)
    api.pause()
    paused_at = engine.now
    assert engine.journal[-1].t == paused_at
    api.submit_order({"id": "WHILE-PAUSED", **order})
    assert engine.journal[-1].t == paused_at
    assert driver.target() == paused_at
    api.resume()
    clock.advance(0.5)
    driver.stop()
    stopped_at = engine.now
    assert stopped_at > paused_at
    clock.advance(10.0)  # a server still shutting down
    api.submit_order({"id": "AFTER-STOP", **order})
    assert engine.journal[-1].t == stopped_at
    assert driver.target() == stopped_at == engine.now


async def _started(driver: RealtimeDriver, clock: ManualClock) -> asyncio.Task[None]:
    task = asyncio.create_task(driver.run())
    await _settle(clock)
    return task


async def test_the_clock_starts_with_run_not_before(engine: Engine) -> None:
    """The seconds between making the driver and running it (a server starting) count once,
    on the wall clock's axis, not x speed: at speed 1e4, 8 s of start-up were a first step of
    22 simulated hours with no signal sampled."""
    clock = ManualClock()
    driver = RealtimeDriver(engine, speed=1e4, clock=clock)
    clock.advance(8.0)
    task = await _started(driver, clock)
    assert engine.now == pytest.approx(8.0)
    clock.advance(1.0)
    await _settle(clock)
    assert engine.now == pytest.approx(8.0 + 1e4)
    driver.stop()
    await task


@pytest.mark.parametrize(
    ("speed", "wall_on_axis", "starts_at"),
    [
        (1.0, 1000.0, 1000.0),  # behind the wall clock by its time down: catches up
        (60.0, 1000.0, 1000.0),  # its lead used up while it was down: catches up
        (60.0, 300.0, 400.0),  # still ahead of the wall clock: goes on where it stopped
        (0.5, 1000.0, 400.0),  # slower than the wall clock: never on it, goes on
    ],
)
async def test_a_restored_run_never_starts_stamping_in_the_past(
    engine: Engine, speed: float, wall_on_axis: float, starts_at: float
) -> None:
    """A run restored at 400 s, restarted when the wall clock is at ``wall_on_axis`` on the
    run's axis: at speed >= 1 it starts there if the engine is behind it (at speed 1, after a
    night off, every point was stamped a night behind, and Grafana's "last 6 hours" stayed
    empty for good), else where it stopped."""
    engine.run_through(400.0)
    start = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
    clock = ManualClock(wall_start=start)
    origin = start - dt.timedelta(seconds=wall_on_axis)
    driver = RealtimeDriver(engine, speed=speed, clock=clock, origin=origin)
    task = await _started(driver, clock)
    assert engine.now == pytest.approx(starts_at)
    clock.advance(2.0)
    await _settle(clock)
    assert engine.now == pytest.approx(starts_at + 2.0 * speed)
    driver.stop()
    await task


async def test_a_long_step_lets_the_event_loop_serve_between_parts(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step far behind its target (a loaded twin at speed 1e5, a day caught up at start)
    processes ``STEP_EVENTS`` events at a time and lets the event loop serve between them:
    in one piece, OPC UA clients waited over a second and took the connection for lost."""
    monkeypatch.setattr("twin.runtime.STEP_EVENTS", 100)
    clock = ManualClock()
    driver = RealtimeDriver(engine, speed=1e5, clock=clock)
    task = await _started(driver, clock)
    served: list[float] = []

    async def other_client() -> None:  # what the loop also serves: where is the twin?
        while engine.now < 86_400.0:
            served.append(engine.now)
            await asyncio.sleep(0)

    clock.advance(86_400.0 / 1e5)  # a simulated day due at once
    await other_client()
    assert engine.now == pytest.approx(86_400.0)
    assert len(set(served)) > 3  # served while the day was being simulated, part by part
    driver.stop()
    await task


async def test_a_command_while_twin_run_starts_applies_where_the_twin_starts(
    engine: Engine,
) -> None:
    """The OPC UA server answers before the clock starts (telemetry and adapters start after
    it): an order submitted 8 s into the start applied at 8 s x 1e4 = 80,000 simulated
    seconds, already late; now at the time the twin starts from. The clock then starts."""
    from twin.cli.live import LiveDriver

    clock = ManualClock()
    driver = LiveDriver(engine, 1e4, clock=clock)
    api = TwinAPI(engine, driver)
    clock.advance(8.0)
    api.submit_order({"id": "EARLY", "product": {"type": "printed_housing"}})
    assert engine.journal[-1].t == 0.0
    api.pause()
    api.resume()
    assert engine.now == 0.0
    task = await _started(driver, clock)
    assert engine.now == pytest.approx(8.0)  # the start-up, once: the axis' wall clock
    clock.advance(1.0)
    await _settle(clock)
    assert engine.now == pytest.approx(8.0 + 1e4)
    driver.stop()
    await task
