"""Real-time driving of the engine from asyncio, with a speed factor, pause and resume.

Simulated time is always computed from an anchor, ``sim = sim0 + (wall - wall0) x speed``,
never by adding up sleeps, so it stays exact over hours. The driver never blocks the event
loop: it advances the SimPy environment to the target time in one synchronous step, then
awaits the clock until the next event is due (or ``tick`` passes, or a command kicks it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from twin.aio import cancel_and_wait
from twin.clock import Clock, SystemClock
from twin.engine.cell import Engine
from twin.engine.commands import parse_speed

__all__ = ["STEP_EVENTS", "RealtimeDriver"]

#: SimPy events one step of ``run`` processes at most (tens of milliseconds) before the event
#: loop serves again: at speed 1e5 a loaded twin's steps grew, each making the next longer,
#: and OPC UA clients waiting over a second for a reply took the connection for lost
STEP_EVENTS = 10_000


class RealtimeDriver:
    """Runs ``engine`` at ``speed`` x real time until stopped.

    ``on_step(sim_time)`` callbacks run after each advance (e.g. signal sampling, publishing).
    ``origin`` is the wall-clock timestamp of simulated time 0 (``wall_time``): by default the
    wall clock now minus the engine's time; a restored run passes its original one, so its
    timestamps stay on one axis. The clock starts when ``run`` does (``start``), from the
    engine's time, or, at speed 1 or more, from the axis' time of the wall clock then if the
    engine is behind it: the time a server took to start, or a restored run's time down. So a
    run never starts stamping in the past, and its first step is no jump of that time x speed.
    """

    def __init__(
        self,
        engine: Engine,
        speed: float = 1.0,
        clock: Clock | None = None,
        tick: float = 0.1,
        origin: datetime | None = None,
    ) -> None:
        speed = parse_speed(speed)  # CommandError naming speed, as set_speed
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.tick = tick
        self._speed = speed
        self._paused = False
        self._stopped = False
        self._anchor_wall = self.clock.monotonic()
        self._anchor_sim = engine.now
        if origin is None:
            origin = self.clock.wall() - timedelta(seconds=engine.now)
        self._wall_origin = origin
        self._kick = asyncio.Event()
        self.on_step: list[Callable[[float], None]] = []

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    def target(self) -> float:
        """Simulated time that corresponds to now (paused or stopped: the time it stood
        still at)."""
        if self._paused or self._stopped:
            return self._anchor_sim
        return self._anchor_sim + (self.clock.monotonic() - self._anchor_wall) * self._speed

    def wall_time(self, sim_t: float) -> datetime:
        """Wall-clock timestamp aligned to simulated time ``sim_t`` (for telemetry)."""
        return self._wall_origin + timedelta(seconds=sim_t)

    def sim_now(self) -> float:
        """The twin's simulated time now: the clock's (``target``), never before the
        engine's (which a step may have run past it)."""
        return max(self.target(), self.engine.now)

    def _reanchor(self) -> None:
        self._anchor_sim = self.sim_now()
        self._anchor_wall = self.clock.monotonic()

    def set_speed(self, speed: float) -> None:
        speed = parse_speed(speed)
        self.advance()
        self._reanchor()
        self._speed = speed
        self._kick.set()

    def pause(self) -> None:
        self._hold()
        self._paused = True
        self._kick.set()

    def _hold(self) -> None:
        # the clock stands still where the engine got to (the pause's recorded time), not at
        # the target a moment later: the advance itself takes wall time (at speed 1e6, a
        # millisecond is 1000 simulated seconds)
        self._anchor_sim = self.advance()
        self._anchor_wall = self.clock.monotonic()

    def resume(self) -> None:
        self._paused = False
        self._anchor_wall = self.clock.monotonic()
        self._kick.set()

    def stop(self) -> None:
        """Stop driving; the clock stands still from now, so a command still coming (a
        server being shut down) applies at the time the twin stopped."""
        if not self._stopped:
            if not self._paused:
                self._hold()
            self._stopped = True
        self._kick.set()

    def advance(self, limit: float | None = None, max_events: int | None = None) -> float:
        """Process every event up to and including the current target time (or ``limit`` if
        earlier), or only ``max_events`` of them; returns the new simulated time."""
        target = self.target()
        if limit is not None:
            target = min(target, limit)
        self.engine.run_through(target, max_events)
        for cb in self.on_step:
            cb(self.engine.now)
        return self.engine.now

    def start(self) -> None:
        """Start the clock now (``run`` does): from the engine's time, or at speed >= 1 from
        the wall clock's time on the axis if that is later (the engine catches up in the first
        step, as fast as possible). A paused or stopped clock stays where it stands."""
        if self._paused or self._stopped:
            return
        self._anchor_sim = self.engine.now + self.behind()
        self._anchor_wall = self.clock.monotonic()

    def behind(self) -> float:
        """Simulated seconds from the engine's time to the wall clock's on the run's axis, at
        speed >= 1 (what ``start`` catches up); 0 when it is not behind, or slower than it."""
        if self._speed < 1.0:
            return 0.0
        return max((self.clock.wall() - self._wall_origin).total_seconds() - self.engine.now, 0.0)

    async def run(self, until: float | None = None) -> None:
        """Start the clock (``start``) and drive the engine until ``stop()`` or simulated
        time ``until``."""
        env = self.engine.env
        self.start()
        while not self._stopped:
            now = self.advance(until, STEP_EVENTS)
            if until is not None and now >= until:
                break
            # a step whose budget ran out is behind its target: no wait, the loop serves first
            if self._paused:
                wait = None
            else:
                nxt = min(env.peek(), now + self.tick * self._speed)
                if until is not None:
                    nxt = min(nxt, until)
                wall_due = self._anchor_wall + (nxt - self._anchor_sim) / self._speed
                wait = max(wall_due - self.clock.monotonic(), 0.0)
            await self._wait(wait)

    async def _wait(self, seconds: float | None) -> None:
        self._kick.clear()
        kick = asyncio.ensure_future(self._kick.wait())
        tasks: set[asyncio.Future[Any]] = {kick}
        if seconds is not None:
            tasks.add(asyncio.ensure_future(self.clock.sleep(seconds)))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                await cancel_and_wait(t)
