"""Ordered, non-blocking hand-over of address-space writes from synchronous code.

Engine callbacks (EventBus subscribers, driver steps) are synchronous, while asyncua writes
are coroutines. ``Outbox.put`` queues a write without awaiting; one worker task applies them
in order. ``join`` waits until everything queued so far is applied (tests use it instead of
sleeping).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from twin.aio import cancel_and_wait

__all__ = ["Outbox"]

_log = logging.getLogger(__name__)


class Outbox:
    """FIFO of coroutine factories applied by one worker task."""

    def __init__(self, max_pending: int = 100_000) -> None:
        self._queue: asyncio.Queue[Callable[[], Awaitable[object]]] = asyncio.Queue(max_pending)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="opcua-outbox")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def put(self, job: Callable[[], Awaitable[object]]) -> bool:
        """Queue ``job``; False when the outbox is full and drops it (counted in ``dropped``)."""
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            # never block the simulation: a stalled address space loses updates, not time
            self.dropped += 1
            return False
        return True

    async def join(self) -> None:
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await job()
            except Exception:
                _log.exception("address-space update failed")
            finally:
                self._queue.task_done()
