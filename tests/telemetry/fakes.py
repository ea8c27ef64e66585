"""A scriptable in-memory sink for pipeline tests (the mock transport of these tests), the
pipeline and lines these tests make, and what the pipeline tells (``Told``)."""

from __future__ import annotations

import asyncio
import gzip
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.clock import ManualClock
from twin.runtime import RealtimeDriver
from twin.telemetry import LineEncoder, Spool, TelemetryPipeline
from twin.telemetry.destination import Destination
from twin.telemetry.sinks import RejectedWriteError, Sink, TransientWriteError
from twin.telemetry.wiring import STATUS_FILE

if TYPE_CHECKING:
    from twin.engine.cell import Engine

__all__ = ["ORIGIN", "FakeSink", "Live", "Told", "lines", "live", "make"]

ORIGIN = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


def make(tmp_path: Path, sink: Sink, **overrides: Any) -> TelemetryPipeline:
    """A pipeline on ``sink`` as these tests drive it: batches of 10 lines, two in flight,
    no timer flush, quick retries, a spool and its status file in ``tmp_path/spool``;
    ``overrides`` replace any of these (``spool=None``: no spool)."""
    spool = tmp_path / "spool"
    options: dict[str, Any] = {
        "spool": Spool(spool, 10**9),
        "status_path": spool / STATUS_FILE,
        "batch_lines": 10,
        "max_in_flight": 2,
        "flush_interval_s": None,
        "retry_initial_s": 0.01,
        "retry_max_s": 0.05,
    }
    encoder = LineEncoder("cell-1", {"m1": "cnc"}, ORIGIN)
    return TelemetryPipeline(sink, encoder, **(options | overrides))


@dataclass
class Live:
    """A real-time run's telemetry as ``live`` sets it up."""

    clock: ManualClock
    driver: RealtimeDriver
    sink: FakeSink
    pipeline: TelemetryPipeline


def live(engine: Engine) -> Live:
    """The telemetry of a real-time run of ``engine`` (x60, its clock driven by hand): a
    pipeline (not started, no timer flush) into a ``FakeSink``, its encoder's origin the
    driver's simulated time 0."""
    clock = ManualClock()
    driver = RealtimeDriver(engine, speed=60.0, clock=clock)
    kinds = {m.id: m.kind for m in engine.scenario.cell.machines}
    encoder = LineEncoder(engine.scenario.cell.name, kinds, driver.wall_time(0.0))
    sink = FakeSink()
    pipeline = TelemetryPipeline(sink, encoder, flush_interval_s=None, clock=clock)
    return Live(clock, driver, sink, pipeline)


def lines(start: int, n: int, t0: int = 0) -> list[str]:
    """``n`` lines numbered from ``start``, each stamped ``t0`` plus its number (ns)."""
    return [f"m,t=a v={i}i {t0 + i}" for i in range(start, start + n)]


class FakeSink:
    """Records delivered lines; ``mode`` decides what a write does: ``ok``, ``down``
    (transient error), ``reject`` (HTTP 400), ``hang`` (wait until ``release`` is set) or
    ``bug`` (an exception no sink should raise: a bug in it or in a library under it)."""

    name = "fake"
    destination: Destination | None = None  # none: a spool keeps its batches for the next fake

    def __init__(self) -> None:
        self.mode = "ok"
        self.lines: list[str] = []
        self.attempts = 0
        self.attempted = asyncio.Event()  # set by every write
        self.active = 0
        self.max_active = 0
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    def validate(self) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def write(self, payload: bytes, lines: int) -> None:
        self.attempts += 1
        self.attempted.set()
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.mode == "hang":
                self.entered.set()
                await self.release.wait()
            if self.mode == "down":
                raise TransientWriteError("connection refused")
            if self.mode == "reject":
                raise RejectedWriteError(400, "unable to parse")
            if self.mode == "bug":
                raise ValueError("Cannot combine AUTHORIZATION header with AUTH argument")
            text = gzip.decompress(payload).decode()
            got = text.splitlines()
            assert len(got) == lines
            self.lines += got
        finally:
            self.active -= 1


class Told(logging.Handler):
    """The warnings and errors of ``twin.telemetry`` (what the CLI shows), as they come (the
    ``told`` fixture)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self._new = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self._new.set()

    async def wait_for(self, text: str, within_s: float = 10.0) -> str:
        """The first line holding ``text``, waiting for it up to ``within_s`` seconds."""
        async with asyncio.timeout(within_s):
            while True:
                found = next((line for line in self.lines if text in line), None)
                if found is not None:
                    return found
                self._new.clear()
                await self._new.wait()
