"""Every point names the run that wrote it (the ``run`` tag), decided once where a run is wired.

Two runs into one bucket mixed silently: ``twin simulate`` with seed 42 and then seed 7 share
their timestamps (the scenario's start plus simulated time), so KPI points overwrote each
other and the job counts added up; a restarted ``twin run`` at x60 wrote over the first run's
data stamped hours ahead. A simulation is identified by the wall-clock time it starts, a
real-time run by its axis' origin (``run.json``'s ``sim_start``), which a resume restores.
"""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.telemetry.fakes import FakeSink
from tests.telemetry.lp import Point, parse_lines
from twin.clock import ManualClock
from twin.engine.cell import Engine
from twin.model import load_scenario
from twin.runtime import RealtimeDriver
from twin.telemetry import (
    FILE_NAME,
    LineEncoder,
    TelemetryPipeline,
    TelemetrySettings,
    attach_realtime,
    build_pipeline,
    simulate_with_telemetry,
)
from twin.telemetry.schema import RUN_TAG, run_id

START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
# what Grafana's InfluxDB datasource escapes in a variable's value
REGEX_META = re.compile(r"[\\^$*+?.()|\[\]{}/]")


def test_a_run_id_is_its_start_readable_and_in_order() -> None:
    assert run_id(START + timedelta(microseconds=250_000)) == "2026-01-05T06:00:00Z-250000"
    # any time zone: the UTC time
    paris = timezone(timedelta(hours=1))
    assert run_id(datetime(2026, 1, 5, 7, 0, tzinfo=paris)) == "2026-01-05T06:00:00Z-000000"
    starts = [
        START + timedelta(seconds=s, microseconds=us)
        for s, us in ((0, 0), (0, 7), (0, 999_999), (1, 0), (86_400 * 400, 5))
    ]
    ids = [run_id(t) for t in starts]
    assert sorted(ids) == ids  # later runs sort after earlier ones, within a second too
    assert len(set(ids)) == len(ids)
    assert not any(REGEX_META.search(i) for i in ids)  # the same escaped or not
    with pytest.raises(ValueError, match="time-zone aware"):
        run_id(datetime(2026, 1, 5))  # naive: refused


def test_identify_tags_every_series_before_the_first_line() -> None:
    encoder = LineEncoder("cell-1", {"m1": "cnc"}, START)
    assert encoder.run is None
    encoder.identify("2026-01-05T06:00:00Z-000000")
    assert encoder.run == "2026-01-05T06:00:00Z-000000"
    report = {"machines": {"m1": {"produced": 1}}, "cell": {"produced": 1}}
    points = parse_lines("\n".join(encoder.kpi_lines(0.0, report)))
    assert [p.tags[RUN_TAG] for p in points] == ["2026-01-05T06:00:00Z-000000"] * 2
    with pytest.raises(RuntimeError):
        encoder.identify("2026-01-05T06:00:01Z-000000")  # a series holds one run


def _simulate(scenario_path: Path, out: Path, wall: datetime) -> list[str]:
    scenario = load_scenario(scenario_path)
    settings = TelemetrySettings(telemetry="file")
    pipeline = build_pipeline(settings, scenario, out, scenario.start, clock=ManualClock(0, wall))
    assert pipeline is not None
    simulate_with_telemetry(
        pipeline, scenario, kpi_period_s=3600, stop_timeout_s=10, until=7200.0, signal_period=600
    )
    with gzip.open(out / FILE_NAME, "rt", encoding="utf-8") as fh:
        return fh.read().splitlines()


def test_simulations_of_one_scenario_are_apart(default_scenario_path: Path, tmp_path: Path) -> None:
    """The same timestamps, one run each: a database keeps both runs' points."""
    first = parse_lines("\n".join(_simulate(default_scenario_path, tmp_path / "a", START)))
    later = START + timedelta(minutes=5, microseconds=3)
    second = parse_lines("\n".join(_simulate(default_scenario_path, tmp_path / "b", later)))
    assert {p.tags[RUN_TAG] for p in first} == {run_id(START)}
    assert {p.tags[RUN_TAG] for p in second} == {run_id(later)}
    assert {p.ts for p in first} & {p.ts for p in second}  # the same times...

    assert not {_identity(p) for p in first} & {_identity(p) for p in second}  # ...not the points


def _identity(p: Point) -> tuple[str, tuple[tuple[str, str], ...], int]:
    """A point's identity in InfluxDB: its series and time."""
    return (p.measurement, tuple(sorted(p.tags.items())), p.ts)


async def _realtime_run(
    scenario_path: Path, origin: datetime | None, clock: ManualClock
) -> set[str]:
    """The run tags of a real-time run on an axis from ``origin`` (None: a new run)."""
    scenario = load_scenario(scenario_path)
    engine = Engine(scenario, signals=True)
    driver = RealtimeDriver(engine, speed=60.0, clock=clock, origin=origin)
    kinds = {m.id: m.kind for m in scenario.cell.machines}
    sink = FakeSink()
    encoder = LineEncoder(scenario.cell.name, kinds, driver.wall_time(0.0))
    pipeline = TelemetryPipeline(sink, encoder, flush_interval_s=None, clock=clock)
    await pipeline.start()

    def sample(t: float) -> None:
        engine.sample_signals(t)

    driver.on_step.append(sample)
    detach = attach_realtime(pipeline, engine, driver, signal_period_s=60.0, clock=clock)
    for _ in range(5):
        clock.advance(1.0)
        driver.advance()
    detach()
    await pipeline.stop(5)
    points = parse_lines("\n".join(sink.lines))
    assert {p.measurement for p in points} >= {"machine_signal", "machine_state", "kpi"}
    return {p.tags[RUN_TAG] for p in points}


async def test_a_resumed_real_time_run_keeps_its_id(default_scenario_path: Path) -> None:
    clock = ManualClock(0, START + timedelta(microseconds=123))
    first = await _realtime_run(default_scenario_path, None, clock)
    assert first == {run_id(START + timedelta(microseconds=123))}  # its origin, the wall clock
    sim_start = START + timedelta(microseconds=123)  # run.json's, read back by --resume
    clock.advance(3600.0)  # down an hour
    assert await _realtime_run(default_scenario_path, sim_start, clock) == first
    # a new run (not resumed) on the same clock is another run
    assert await _realtime_run(default_scenario_path, None, clock) != first
