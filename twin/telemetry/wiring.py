"""Wiring the pipeline into a run: build it from settings, attach it to simulate or run.

Only wires; all behaviour is in the pipeline, the encoder and the sinks. Where a run is wired
its id is decided, once (``schema.run_id``, the ``run`` tag of every point): a simulation's
from the wall-clock time it starts; a real-time run's from its time axis' origin, the
wall-clock time of its simulated time 0, which ``twin run --resume`` restores from
``run.json``, so a resumed run's series go on under the same id.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.clock import Clock, SystemClock
from twin.engine.jobs import ENDED_STATES
from twin.engine.machine import fault_severity
from twin.errors import ConfigError
from twin.kpi import KpiCollector
from twin.model.scenario import Scenario
from twin.telemetry.pipeline import TelemetryPipeline, TelemetryStats
from twin.telemetry.schema import LineEncoder, run_id
from twin.telemetry.settings import TelemetrySettings
from twin.telemetry.sinks import FileSink, InfluxSink, Sink
from twin.telemetry.spool import STATUS_FILE, Spool

if TYPE_CHECKING:
    from twin.engine.cell import Engine
    from twin.links import LinkRegistry, LinkState
    from twin.runtime import RealtimeDriver
    from twin.simulation import RunResult

__all__ = [
    "FILE_NAME",
    "PREVIOUS_FILE_NAME",
    "SPOOL_DIR",
    "STATUS_FILE",
    "attach_realtime",
    "build_pipeline",
    "simulate_with_telemetry",
]

FILE_NAME = "telemetry.lp.gz"
#: where a new run keeps the telemetry file of the run before it (as ``events.prev.jsonl``)
PREVIOUS_FILE_NAME = "telemetry.prev.lp.gz"
SPOOL_DIR = "telemetry-spool"
log = logging.getLogger("twin.telemetry")


def build_pipeline(
    settings: TelemetrySettings,
    scenario: Scenario,
    run_dir: Path,
    origin: datetime,
    *,
    logger: logging.Logger | None = None,
    clock: Clock | None = None,
    moved_to: Path | None = None,
    resume: bool = False,
) -> TelemetryPipeline | None:
    """The pipeline ``settings`` ask for (None for ``telemetry = "none"``); no I/O yet.

    ``origin`` is the timestamp of simulated time 0 (scenario start in simulate, the wall
    clock anchor in real time). ``moved_to`` is where ``run_dir`` goes once the run is done
    (messages name the spool there). ``resume``: the run goes on from the run before it
    in ``run_dir`` (``twin run --resume``), so the file sink appends to its telemetry file;
    otherwise a file already there is kept as ``PREVIOUS_FILE_NAME`` (replacing an older
    one) and a new one begun. Raises ConfigError for bad settings.
    """
    if settings.telemetry == "none":
        return None
    kinds = {m.id: m.kind for m in scenario.cell.machines}
    encoder = LineEncoder(scenario.cell.name, kinds, origin)
    sink: Sink
    spool: Spool | None = None
    spool_dir = settings.spool_dir or run_dir / SPOOL_DIR
    if settings.telemetry == "file":
        sink = FileSink(run_dir / FILE_NAME, resume, run_dir / PREVIOUS_FILE_NAME)
    else:
        sink = InfluxSink(
            settings.influx_url,
            settings.influx_token.get_secret_value(),
            settings.influx_org,
            settings.influx_bucket,
            settings.write_timeout_s,
        )
        shown = None if settings.spool_dir or moved_to is None else str(moved_to / SPOOL_DIR)
        spool = Spool(spool_dir, settings.spool_max_bytes, name=shown)
    pipeline = TelemetryPipeline(
        sink,
        encoder,
        spool=spool,
        status_path=spool_dir / STATUS_FILE,
        batch_lines=settings.batch_lines,
        max_in_flight=settings.max_in_flight,
        flush_interval_s=settings.flush_interval_s,
        retry_max_s=settings.retry_max_s,
        compress_level=settings.compress_level,
        logger=logger,
        clock=clock,
    )
    pipeline.validate()
    return pipeline


def simulate_with_telemetry(
    pipeline: TelemetryPipeline,
    scenario: Scenario,
    *,
    kpi_period_s: float,
    stop_timeout_s: float,
    **run_kwargs: Any,
) -> tuple[RunResult, TelemetryStats]:
    """``run_simulation(scenario, **run_kwargs)`` with the pipeline attached; returns the
    run's result and the telemetry counters.

    The engine runs in a worker thread while the pipeline's event loop delivers, so a slow
    database slows the simulation (back-pressure) instead of filling memory. Ctrl-C stops
    the thread at its next progress step and still delivers what it produced, then raises
    KeyboardInterrupt (as ``run_simulation`` does without telemetry). A run ending after
    the last time line protocol can stamp (``LAST_TIMESTAMP``) is refused first with a
    ConfigError naming ``--until`` (or the scenario's ``horizon`` when no ``until`` is given).
    A run to a database whose timestamps end long before the pipeline's ``clock.wall()``
    (``LineEncoder.age_note``) is sent with a warning that a retention period may drop it.
    Its points are tagged with the run's id (``run_id`` of ``clock.wall()`` now) unless the
    encoder has one: every simulation stamps from the scenario's start, so two of them into
    one database share their timestamps and only the run tells them apart.
    """
    from twin.simulation import check_run_args, run_simulation

    # a rejected run leaves the outputs of the last one alone: check before the sinks open
    until = run_kwargs.get("until")
    end = check_run_args(
        scenario,
        until,
        run_kwargs.get("commands", ()),
        run_kwargs.get("signal_period"),
        kpi_period_s,
    )
    unstampable = pipeline.encoder.stamp_limit(end)
    if unstampable is not None:  # named as the CLI names it: --until, else the horizon
        where = ("command line", "--until") if until is not None else ("scenario", "horizon")
        raise ConfigError(*where, unstampable)
    if pipeline.sink.destination is not None:  # a database keeps only so much
        old = pipeline.encoder.age_note(end, pipeline.clock.wall())
        if old is not None:
            log.warning("telemetry: %s", old)
    if pipeline.encoder.run is None:
        pipeline.encoder.identify(run_id(pipeline.clock.wall()))
    # the simulation thread sends every full batch itself; a timer flush from the event loop
    # would only cut batches short (and, with all slots busy, spool them needlessly)
    pipeline.flush_interval_s = None

    interrupt = threading.Event()
    progress = run_kwargs.pop("progress", None)

    def checkpoint(t: float, end: float) -> None:
        # the worker thread cannot get KeyboardInterrupt: it stops here, between chunks
        if interrupt.is_set():
            raise _Interrupted
        if progress is not None:
            progress(t, end)

    run = functools.partial(
        run_simulation,
        scenario,
        subscribers=[*run_kwargs.pop("subscribers", ()), pipeline.on_event],
        signal_consumers=[*run_kwargs.pop("signal_consumers", ()), pipeline.on_signals],
        kpi_period=kpi_period_s,
        kpi_consumers=[pipeline.on_kpis],
        progress=checkpoint,
        **run_kwargs,
    )

    async def main() -> tuple[RunResult, TelemetryStats]:
        await pipeline.start()
        try:
            work = asyncio.get_running_loop().run_in_executor(None, run)
            try:
                result = await asyncio.shield(work)
            except asyncio.CancelledError:
                # Ctrl-C (asyncio.run cancels this task, then raises KeyboardInterrupt): stop
                # the simulation thread at its next chunk; what it produced is still delivered
                interrupt.set()
                with contextlib.suppress(_Interrupted):
                    await work
                raise
        finally:
            stats = await pipeline.stop(stop_timeout_s)
        return result, stats

    return asyncio.run(main())


class _Interrupted(Exception):
    """Raised in the simulation thread to stop it after Ctrl-C."""


def attach_realtime(
    pipeline: TelemetryPipeline,
    engine: Engine,
    driver: RealtimeDriver,
    *,
    signal_period_s: float = 1.0,
    kpi_period_s: float = 10.0,
    kpi: KpiCollector | None = None,
    clock: Clock | None = None,
    links: LinkRegistry | None = None,
) -> Callable[[], None]:
    """Attach a started pipeline to a real-time run (``twin run``); returns a detach function.

    Events via ``engine.bus``; the signals (sampled by the run's own step hook, added before
    this one) every ``signal_period_s`` simulated seconds and KPIs every ``kpi_period_s`` wall
    seconds from ``driver.on_step``. Build the pipeline
    with ``origin=driver.wall_time(0.0)`` so timestamps are wall-clock aligned.

    Its points are tagged with the run's id (``run_id`` of ``driver.wall_time(0.0)``) unless
    the encoder has one: a run resumed on its original axis (``twin run --resume``) keeps the
    id, a new run gets its own, so a restarted twin's points never mix with the run's before.

    The encoder first learns what the engine's earlier events told (its open jobs' and stored
    orders' families, its active faults): a restored twin's jobs keep their ``family`` tag,
    and a fault active before is cleared with its severity and source.

    ``links`` (the PLC links of ``twin run --adapters``): a ``plc_link`` point of each link's
    state now, then one per change the registry reports, until detached (``_follow_links``).
    """
    clock = clock or SystemClock()
    if pipeline.encoder.run is None:
        pipeline.encoder.identify(run_id(driver.wall_time(0.0)))
    _seed(pipeline.encoder, engine)
    if kpi is None:
        kpi = KpiCollector.for_cell(engine.scenario.cell, start=engine.now)
        unsubscribe_kpi = engine.bus.subscribe(kpi)
    else:
        unsubscribe_kpi = None
    unsubscribe = engine.bus.subscribe(pipeline.on_event)
    collector = kpi
    next_signal = engine.now
    next_kpi = clock.monotonic() + kpi_period_s

    def on_step(t: float) -> None:
        nonlocal next_signal, next_kpi
        if engine.signals_enabled and t >= next_signal:
            pipeline.on_signals(t, engine.store)
            next_signal = t + signal_period_s
        if clock.monotonic() >= next_kpi:
            pipeline.on_kpis(t, collector.report(t))
            next_kpi = clock.monotonic() + kpi_period_s

    driver.on_step.append(on_step)
    unsubscribe_links = None if links is None else _follow_links(pipeline, driver, links)

    def detach() -> None:
        if unsubscribe_links is not None:
            unsubscribe_links()
        t = engine.now
        pipeline.on_kpis(t, collector.report(t))
        driver.on_step.remove(on_step)
        unsubscribe()
        if unsubscribe_kpi is not None:
            unsubscribe_kpi()

    return detach


def _follow_links(
    pipeline: TelemetryPipeline, driver: RealtimeDriver, links: LinkRegistry
) -> Callable[[], None]:
    """Write each link's state now and each change ``links`` reports; returns the unsubscribe.

    A point is stamped with the simulated time of the moment it is reported: the driver's
    clock now (``target``: the wall clock's time on the run's axis, at the run's speed;
    standing still while the twin is paused or stopped, and in ``twin run`` until it
    starts), never before the engine's time. So it lines up with the samples and events
    around it, which are stamped from simulated time too; at speed 1, on a twin not paused
    and not catching up, it is the wall-clock time of the change (the link's ``at``).
    Changes go into the pipeline as they are reported (its batches, spool and counters), in
    their order: one reported just before a stop is flushed with the rest. A failure is
    logged and not raised into the adapter that reported (the registry's contract), which
    goes on.
    """

    def write(state: LinkState) -> None:
        try:
            pipeline.write_lines(pipeline.encoder.link_lines(state, driver.sim_now()))
        except Exception:
            log.exception(
                "telemetry: the state of PLC link %s was not written; the link goes on",
                state.name,
            )

    for state in links:
        write(state)
    return links.subscribe(write)


def _seed(encoder: LineEncoder, engine: Engine) -> None:
    families = {j.id: j.family for j in engine.jobs.values() if j.state not in ENDED_STATES}
    families.update((oid, order.product.type) for oid, order in engine.stored.items())
    faults = [
        (m.id, kind, fault_severity(kind), source)
        for m in engine.machines.values()
        for kind, source in m.faults
    ]
    states = {m.id: (m.state, m.mode, m.job) for m in engine.machines.values()}
    encoder.seed(families, faults, states)
