"""A scriptable in-memory sink for pipeline tests (the mock transport of these tests)."""

from __future__ import annotations

import asyncio
import gzip

from twin.telemetry.destination import Destination
from twin.telemetry.sinks import RejectedWriteError, TransientWriteError

__all__ = ["FakeSink"]


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
