"""attach_realtime: the pipeline on a real-time run, time driven by hand (ManualClock)."""

from __future__ import annotations

from pathlib import Path

from tests.telemetry.fakes import FakeSink
from tests.telemetry.lp import parse_lines
from twin.clock import ManualClock
from twin.engine.cell import Engine
from twin.model import load_scenario
from twin.runtime import RealtimeDriver
from twin.telemetry import LineEncoder, TelemetryPipeline, attach_realtime, datetime_ns


async def test_events_signals_and_kpis_with_wall_clock_timestamps(
    default_scenario_path: Path,
) -> None:
    scenario = load_scenario(default_scenario_path)
    engine = Engine(scenario, signals=True)
    clock = ManualClock()
    driver = RealtimeDriver(engine, speed=60.0, clock=clock)
    origin = driver.wall_time(0.0)
    kinds = {m.id: m.kind for m in scenario.cell.machines}
    sink = FakeSink()
    pipeline = TelemetryPipeline(
        sink, LineEncoder(scenario.cell.name, kinds, origin), flush_interval_s=None, clock=clock
    )
    await pipeline.start()
    driver.on_step.append(engine.sample_signals)  # the run samples, as twin run does
    detach = attach_realtime(
        pipeline, engine, driver, signal_period_s=60.0, kpi_period_s=10.0, clock=clock
    )
    for _ in range(30):  # 30 wall seconds at 60x: 30 simulated minutes in 1 s steps
        clock.advance(1.0)
        driver.advance()
    detach()
    driver.advance()  # detached: nothing more is recorded
    stats = await pipeline.stop(5)

    points = parse_lines("\n".join(sink.lines))
    assert stats.lines_written == len(points) > 0
    signals = [p for p in points if p.measurement == "machine_signal"]
    sample_times = sorted({p.ts for p in signals})
    o = datetime_ns(origin)
    # sampled every 60 simulated seconds (one wall second each at 60x) from the first step
    assert sample_times == [o + k * 60 * 10**9 for k in range(1, len(sample_times) + 1)]
    assert len(sample_times) == 30
    assert len(signals) == 30 * len(kinds)
    kpi_cells = [p for p in points if p.measurement == "kpi" and p.tags["scope"] == "cell"]
    # every 10 wall seconds (600 simulated); the final report at detach falls on the last one
    assert sorted(p.ts for p in kpi_cells) == [o + t * 10**9 for t in (600, 1200, 1800)]
    states = [p for p in points if p.measurement == "machine_state"]
    assert states  # events reach the pipeline through engine.bus
    assert all(o <= p.ts <= o + 1800 * 10**9 for p in points)
