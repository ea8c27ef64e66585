"""The robot's arbitration: one holder at a time, waiting requests served by priority.

Served like ``simpy.PriorityResource(capacity=1)``: lower priority value first, then in the
order of the requests. It does without SimPy's Request and Release objects and the release
event SimPy schedules for every release (a flowing run spent ~15 % of its time there, by
cProfile). One difference: the resource passes to the next waiter at the release itself,
where SimPy passes it when its release event is processed, after the events already due at
that instant; simultaneous events may therefore be logged in another order.
"""

from __future__ import annotations

import heapq
import itertools

import simpy

__all__ = ["Arbiter"]


class Arbiter:
    """``request(priority)`` returns an event that fires when the caller holds the resource;
    the holder hands it on with ``release(grant)``."""

    __slots__ = ("_env", "_holder", "_seq", "_waiting")

    def __init__(self, env: simpy.Environment) -> None:
        self._env = env
        self._holder: simpy.Event | None = None
        self._waiting: list[tuple[int, int, simpy.Event]] = []
        self._seq = itertools.count()

    @property
    def busy(self) -> bool:
        return self._holder is not None

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def request(self, priority: int) -> simpy.Event:
        grant = simpy.Event(self._env)
        if self._holder is None:
            self._holder = grant
            grant.succeed()
        else:
            heapq.heappush(self._waiting, (priority, next(self._seq), grant))
        return grant

    def release(self, grant: simpy.Event) -> None:
        if grant is not self._holder:
            raise RuntimeError("release by a request that does not hold the resource")
        if self._waiting:
            nxt = heapq.heappop(self._waiting)[2]
            self._holder = nxt
            nxt.succeed()
        else:
            self._holder = None
