"""Keep publishing cycles half a step away from the producer's steps (publisher-private).

A producer stepping every P seconds, sampled by a subscription every P seconds (or a multiple),
aliases when the two timers are in phase: jitter puts some steps just before a cycle and some
just after, so a cycle sees two steps (a queue-size-1 item keeps only the latest: a value is
lost) and the next sees none, and the latency swings over a whole period. Both timers are
periodic, so the fix is a phase: when a subscription's cycle falls within a quarter period of
the producer's step, its publishing timer is restarted to fire half a period after the steps.
That keeps every value (one per cycle) and the latency near P/2. When a subscription's first
cycle comes is the server's choice, so clients see nothing but a one-off shorter or longer gap.

The timing here is scheduling, not timestamps: it uses the event loop's clock, the one asyncua's
publishing timers run on, and not the injected clock.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque

import numpy as np
from asyncua.server.internal_subscription import InternalSubscription

__all__ = ["PhaseKeeper"]

_HISTORY = 17  # step times kept: 16 intervals
_REGULAR = 0.2  # steps are regular when the 10th-90th percentile spread is within 20% of P
_MARGIN = 0.25  # a cycle within this fraction of P of a step is too close
_MULTIPLE = 0.05  # the publishing interval must be within 5% of a whole multiple of P
_COOLDOWN = 10  # step periods between two restarts of one subscription's timer


class PhaseKeeper:
    """Learns the producer's step period and restarts cycles that fall onto the steps."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger(__name__)
        self._steps: deque[float] = deque(maxlen=_HISTORY)
        self._cycles: dict[int, float] = {}  # id(isub) -> time of its last cycle
        self._moved: dict[int, float] = {}  # id(isub) -> time of its last restart
        self._tasks: set[asyncio.Task[None]] = set()

    def period(self) -> float | None:
        """The producer's step period if the recent steps are regular, else None."""
        if len(self._steps) < _HISTORY:
            return None
        # 16 numbers: plain Python sorts them faster than numpy's percentile machinery starts
        gaps = sorted(b - a for a, b in itertools.pairwise(self._steps))
        n = len(gaps)
        p = (gaps[n // 2 - 1] + gaps[n // 2]) / 2 if n % 2 == 0 else gaps[n // 2]
        lo, hi = gaps[n // 10], gaps[n - 1 - n // 10]
        if p <= 0 or hi - lo > _REGULAR * p:
            return None
        return p

    def cycle(self, isub: InternalSubscription, now: float) -> None:
        """Record that ``isub`` published (called from its publishing cycle)."""
        self._cycles[id(isub)] = now

    def forget(self, isub: InternalSubscription) -> None:
        self._cycles.pop(id(isub), None)
        self._moved.pop(id(isub), None)

    @staticmethod
    def delay(p: float, interval: float, cycle: float, now: float) -> float | None:
        """Seconds from ``now`` (a step) to restart a timer of ``interval`` last fired at
        ``cycle``, for steps every ``p`` seconds (``period()``), or None.

        None when ``interval`` is not a multiple of the step period or the cycles are already
        at least a quarter period away from the steps.
        """
        k = round(interval / p)
        if k < 1 or abs(interval / p - k) > _MULTIPLE:
            return None
        offset = (now - cycle) % p  # time from the cycle's phase to this step, in [0, p)
        if _MARGIN * p <= offset <= (1 - _MARGIN) * p:
            return None
        return p / 2

    def step(self, now: float, subs: list[InternalSubscription]) -> None:
        """Record a producer step at ``now`` and move the timers of ``subs`` that collide."""
        self._steps.append(now)
        if not subs:  # the step is learnt; there is nothing to move
            return
        p = self.period()  # once per step, however many subscriptions there are
        if p is None:
            return
        for isub in subs:
            key = id(isub)
            cycle = self._cycles.get(key)
            if cycle is None or now - self._moved.get(key, -np.inf) < _COOLDOWN * p:
                continue
            interval = isub.data.RevisedPublishingInterval / 1000.0
            wait = self.delay(p, interval, cycle, now)
            if wait is not None and self._restart(isub, wait):
                self._moved[key] = now
                self._cycles.pop(key, None)
                self._log.info(
                    "subscription %s: publishing cycle moved %.0f ms after the producer's steps",
                    isub.data.SubscriptionId,
                    1000 * wait,
                )

    def _restart(self, isub: InternalSubscription, wait: float) -> bool:
        old = isub._task
        if old is None or old.done() or isub._closing:
            return False
        old.cancel()

        async def run() -> None:
            # asyncio.wait: the old loop's CancelledError stays in it, while a cancel of this
            # task (isub.stop()) still propagates from here
            await asyncio.wait([old])
            await asyncio.sleep(wait)
            await isub._subscription_loop()

        task = asyncio.get_running_loop().create_task(run())
        isub._task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True
