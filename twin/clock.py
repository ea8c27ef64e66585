"""The one injectable clock: wall time for timestamps, monotonic time and sleeping for pacing.

Tests use ``ManualClock`` and advance time by hand; nothing else calls ``time`` directly.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Time source: ``monotonic()`` seconds for pacing, ``wall()`` for timestamps."""

    def monotonic(self) -> float: ...

    def wall(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The machine's clocks and asyncio's sleep (never blocks the event loop)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class ManualClock:
    """A clock that only moves when ``advance`` is called; sleepers wake when their time comes."""

    def __init__(
        self, start: float = 0.0, wall_start: datetime = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    ) -> None:
        self._now = start
        self._start = start
        self._wall_start = wall_start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> datetime:
        return self._wall_start + timedelta(seconds=self._now - self._start)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + seconds, fut))
        try:
            await fut
        finally:
            self._sleepers = [(t, f) for t, f in self._sleepers if f is not fut]

    @property
    def sleepers(self) -> int:
        return sum(1 for _, f in self._sleepers if not f.done())

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._now += seconds
        for t, fut in self._sleepers:
            if t <= self._now + 1e-12 and not fut.done():
                fut.set_result(None)
