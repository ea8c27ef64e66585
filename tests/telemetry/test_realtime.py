"""attach_realtime: the pipeline on a real-time run, time driven by hand (ManualClock)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.telemetry.fakes import FakeSink, live
from tests.telemetry.lp import parse_lines
from twin.api import TwinAPI
from twin.clock import ManualClock
from twin.engine.cell import Engine
from twin.model import load_scenario
from twin.signals import GOOD, STALE
from twin.telemetry import LineEncoder, TelemetryPipeline, attach_realtime, datetime_ns


async def test_events_signals_and_kpis_with_wall_clock_timestamps(
    default_scenario_path: Path,
) -> None:
    engine = Engine(load_scenario(default_scenario_path), signals=True)
    run = live(engine)
    clock, driver, sink, pipeline = run.clock, run.driver, run.sink, run.pipeline
    origin = driver.wall_time(0.0)
    await pipeline.start()

    def sample(t: float) -> None:
        engine.sample_signals(t)

    driver.on_step.append(sample)  # the run samples, as twin run does
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
    assert len(signals) == 30 * len(engine.scenario.cell.machines)
    kpi_cells = [p for p in points if p.measurement == "kpi" and p.tags["scope"] == "cell"]
    # every 10 wall seconds (600 simulated); the final report at detach falls on the last one
    assert sorted(p.ts for p in kpi_cells) == [o + t * 10**9 for t in (600, 1200, 1800)]
    states = [p for p in points if p.measurement == "machine_state"]
    assert states  # events reach the pipeline through engine.bus
    assert all(o <= p.ts <= o + 1800 * 10**9 for p in points)


async def test_attached_to_a_twin_that_ran_it_knows_its_jobs_and_faults(
    default_scenario_path: Path,
) -> None:
    """As after ``twin run --resume``: the pipeline is attached to an engine that ran and
    has open jobs, a stored order and an active fault; their lines carry their family, and
    the fault is cleared with its severity and source."""
    scenario = load_scenario(default_scenario_path)
    engine = Engine(scenario, signals=True)
    api = TwinAPI(engine)
    engine.run(86400, stop_when_done=False)
    api.inject_fault("cnc1", "breakdown")  # until cleared
    api.store_order({"id": "ST", "product": {"type": "printed_housing", "volume_cm3": 10}})
    engine.run(86400 + 3600, stop_when_done=False)
    open_jobs = {j.id: j.family for j in engine.jobs.values() if j.state == "processing"}
    assert open_jobs
    run = live(engine)
    clock, driver, sink, pipeline = run.clock, run.driver, run.sink, run.pipeline
    api.driver = driver
    await pipeline.start()
    detach = attach_realtime(pipeline, engine, driver, clock=clock)
    for job in open_jobs:
        api.pause_job(job)
    api.cancel_order("ST")
    api.clear_fault("cnc1")
    clock.advance(1.0)
    driver.advance()
    detach()
    await pipeline.stop(5)

    points = parse_lines("\n".join(sink.lines))
    paused = {
        p.fields["job"]: p.tags["family"]
        for p in points
        if p.measurement == "job_event" and p.tags["event"] == "job_paused"
    }
    assert paused == open_jobs
    cancelled = [p for p in points if p.tags.get("event") == "job_cancelled"]
    assert [(p.fields["job"], p.tags["family"]) for p in cancelled] == [("ST", "printed_housing")]
    cleared = [
        p
        for p in points
        if p.measurement == "fault" and p.tags["machine"] == "cnc1" and p.fields["active"] is False
    ]
    assert [(p.fields["severity"], p.fields["source"]) for p in cleared] == [(700, "api")]


async def test_a_signal_whose_source_is_lost_is_uncertain_in_telemetry(
    default_scenario_path: Path,
) -> None:
    """A PLC's signal whose link is lost (``STALE``: the last usable value) carried quality
    0 (Good) in every telemetry line, while OPC UA said Uncertain_LastUsableValue: Grafana
    showed a made-up or stale value as good. Its machine's line now carries that status."""
    scenario = load_scenario(default_scenario_path)
    engine = Engine(scenario, signals=True)
    engine.run(600, stop_when_done=False)
    engine.sample_signals()
    kinds = {m.id: m.kind for m in scenario.cell.machines}
    sink = FakeSink()
    encoder = LineEncoder(scenario.cell.name, kinds, ManualClock().wall())
    pipeline = TelemetryPipeline(sink, encoder, flush_interval_s=None, clock=ManualClock())
    await pipeline.start()
    store = engine.store
    lost = np.array([store.index("cnc1.coolant_temp")])
    store.set_quality(lost, STALE)
    pipeline.on_signals(600.0, store)
    store.set_quality(lost, GOOD)  # the link is back
    pipeline.on_signals(601.0, store)
    await pipeline.stop(5)

    signals = [p for p in parse_lines("\n".join(sink.lines)) if p.measurement == "machine_signal"]
    quality = {(p.tags["machine"], p.ts): p.fields["quality"] for p in signals}
    first, second = sorted({p.ts for p in signals})
    assert quality[("cnc1", first)] == 0x40900000  # Uncertain_LastUsableValue
    assert quality[("cnc1", second)] == 0
    assert all(q == 0 for (m, _), q in quality.items() if m != "cnc1")
