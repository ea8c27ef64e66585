"""The parts of a live ``twin run``: its real-time driver (standing still until it starts and
at the clock's end) and its telemetry (started after the server, stopped after the driver),
and the banner's line saying what runs and where its data goes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from twin.cli.rundir import EVENTS, axis_end
from twin.cli.telemetry import telemetry_summary, undelivered
from twin.engine.cell import Engine
from twin.kpi import KpiCollector
from twin.runtime import RealtimeDriver
from twin.telemetry import (
    FILE_NAME,
    SPOOL_DIR,
    TelemetryPipeline,
    TelemetrySettings,
    attach_realtime,
    build_pipeline,
)

if TYPE_CHECKING:
    from twin.clock import Clock
    from twin.links import LinkRegistry

__all__ = ["LiveDriver", "LiveTelemetry", "running_line"]


class LiveDriver(RealtimeDriver):
    """The real-time driver of ``twin run``: its clock stands still until it starts (a
    command while the server starts applies at the time the twin starts from: the seconds of
    the start are not x speed) and at ``end``, the simulated time of ``rundir.END`` on the
    run's axis, whatever advances it (the run loop, a command, the stop), so nothing is
    stamped past it; ``run`` returns there."""

    def __init__(
        self,
        engine: Engine,
        speed: float,
        origin: datetime | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(engine, speed=speed, origin=origin, clock=clock)
        self.end = axis_end(self.wall_time(0.0))
        self.started = False

    @property
    def ended(self) -> bool:
        return self.engine.now >= self.end

    def start(self) -> None:
        self.started = True
        super().start()

    def target(self) -> float:
        if not self.started:
            return self.engine.now
        return min(super().target(), self.end)

    async def run(self, until: float | None = None) -> None:
        await super().run(self.end if until is None else min(until, self.end))


class LiveTelemetry:
    """Telemetry of a real-time run: started after the server, stopped (drained or spooled
    within its deadline) after the driver. ``undelivered`` once stopped: lines were lost or
    are kept because the server refuses them (the run exits 1, as ``twin simulate`` does).
    ``links``: the PLCs linked (``--adapters``), whose states it writes (``plc_link``), or
    None without adapters."""

    def __init__(
        self,
        settings: TelemetrySettings,
        out: Path,
        kpi: KpiCollector,
        resume: bool = False,
        links: LinkRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.out = out
        self.kpi = kpi
        self.resume = resume  # a restored run: the telemetry file goes on
        self.links = links
        self.pipeline: TelemetryPipeline | None = None
        self.detach: Callable[[], None] | None = None
        self.undelivered = False
        self.hurried = False

    async def start(self, driver: RealtimeDriver) -> None:
        engine = driver.engine
        self.pipeline = build_pipeline(
            self.settings, engine.scenario, self.out, driver.wall_time(0.0), resume=self.resume
        )
        if self.pipeline is None:
            return
        await self.pipeline.start()
        self.detach = attach_realtime(
            self.pipeline,
            engine,
            driver,
            signal_period_s=self.settings.realtime_signal_period_s,
            kpi_period_s=self.settings.realtime_kpi_period_s,
            kpi=self.kpi,
            links=self.links,
        )

    async def stop(self, console: Console) -> None:
        if self.pipeline is None:
            return
        if self.detach is not None:
            self.detach()
        if self.hurried:  # before it started
            self.pipeline.hurry()
        await self.pipeline.stop(self.settings.stop_timeout_s)
        console.print(telemetry_summary(self.settings, self.pipeline), soft_wrap=True)
        self.undelivered = undelivered(self.pipeline.stats.as_dict())

    def hurry(self, console: Console) -> None:
        """A second Ctrl-C: stop waiting for the database (now or when ``stop`` comes); what
        is not delivered goes to the spool at once, nothing lost. Said once."""
        if self.hurried:
            return
        self.hurried = True
        if self.pipeline is not None:
            spools = self.pipeline.hurry()
        else:  # not started yet: ``stop`` hurries it (a database's pipeline has a spool)
            spools = self.settings.telemetry == "influx"
        if spools:
            spool = self.settings.spool_dir or self.out / SPOOL_DIR
            console.print(
                "Ctrl-C again: telemetry no longer waits for the database; what it has not"
                f" delivered goes to {spool} now, for the next run to send"
            )
        else:
            console.print("Ctrl-C again: stopping already (nothing waits for a database)")


def running_line(driver: RealtimeDriver, telemetry: LiveTelemetry) -> str:
    """What runs and where its data goes (the banner's last line)."""
    s = telemetry.settings
    where = {
        "file": str(telemetry.out / FILE_NAME),
        "influx": f"InfluxDB {s.influx_url}, bucket {s.influx_bucket}",
    }.get(s.telemetry, "none")
    pipeline = telemetry.pipeline
    if pipeline is not None and pipeline.encoder.run is not None:
        where += f" as run {pipeline.encoder.run}"  # the dashboards' run variable lists it
    ahead = "" if driver.speed <= 1 else ", its timestamps run ahead of the wall clock"
    return (
        f"twin running at x{driver.speed:g} (a wall second is {driver.speed:g} simulated"
        f" seconds{ahead}); event log {telemetry.out / EVENTS}; telemetry: {where}"
    )
