"""``Adapter``: the one lifecycle every adapter kind shares.

- validate without I/O: the config model (pydantic) and the ``Bridge`` (against the cell);
- ``await start()``: pins the input signals and starts the link task; never fails for an
  unreachable PLC (the twin goes on and the adapter keeps trying);
- the link task: connect (within ``timeout_s``), then one cycle every ``period_s``: read the
  inputs, apply them, write the outputs that changed. Any failure closes the link and
  reconnects after a backoff that doubles from ``backoff_s`` up to ``backoff_max_s`` (with
  +-20 % jitter, so that many adapters do not retry in step); after a reconnect every output is
  written again, since the PLC may have restarted, and so they are every ``refresh_s``
  (a PLC restarted behind a link that stayed up gets them back too);
- a failure is logged as a warning once; the same failure again only at debug level, until
  the link is up again (logged with the number of failed attempts);
- the input signals are ``STALE`` from ``start()`` until first read and from each failure
  until read again (``Bridge``); the link's state (connected, failures since the last connect,
  last error, since when) is reported to the twin's ``LinkRegistry`` at each change;
- ``await stop(within_s)``: ends the task and closes the link within ``within_s`` seconds
  (its inputs are then ``STALE``: nothing feeds them any more).

A kind implements ``endpoint``, ``_open``, ``_close``, ``_read`` and ``_write``, and may
implement ``_check`` (a cycle that read and wrote nothing asks it whether the link is up).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from adapters.bridge import Bridge, TagValue
from adapters.config import AdapterConfig
from twin.clock import Clock, SystemClock

__all__ = ["Adapter", "AdapterStatus"]

# AdapterStatus fields the twin's LinkRegistry shows
_LINK_FIELDS = frozenset({"connected", "failures", "last_error"})


@dataclass
class AdapterStatus:
    """What an adapter has done so far (for logs, tests and the shutdown summary)."""

    connected: bool = False
    connects: int = 0  # links opened
    failures: int = 0  # connects that failed and links lost
    cycles: int = 0  # read-apply-write cycles completed
    written: int = 0  # tag values written
    last_error: str | None = None


class Adapter(ABC):
    """One PLC linked to the twin through ``bridge`` (see the module docstring)."""

    kind: ClassVar[str]
    config_model: ClassVar[type[AdapterConfig]]

    def __init__(
        self,
        cfg: AdapterConfig,
        bridge: Bridge,
        clock: Clock | None = None,
    ) -> None:
        self.cfg = cfg
        self.bridge = bridge
        self.clock: Clock = clock or SystemClock()
        self.log = bridge.log  # one logger per adapter, injected through its bridge
        self.status = AdapterStatus()
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._last_reason: str | None = None  # of the failures since the last connect
        self._failures_seen = 0  # status.failures at the last connect
        self._jitter = random.Random()  # retry spreading, not security
        bridge.links.add(self.name, self.kind, self.endpoint, self.clock.wall())

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """Where the PLC is, for messages (e.g. ``modbus://10.0.0.5:502/1``)."""

    @abstractmethod
    async def _open(self) -> None:
        """Connect; raise on failure (the caller bounds it with ``timeout_s``)."""

    @abstractmethod
    async def _close(self) -> None:
        """Disconnect; must not raise (the link may already be gone)."""

    @abstractmethod
    async def _read(self) -> Sequence[TagValue]:
        """Current values of ``cfg.inputs``, in that order (None: no good value)."""

    @abstractmethod
    async def _write(self, items: Sequence[tuple[int, float]]) -> None:
        """Write raw values to ``cfg.outputs[position]`` for each (position, value)."""

    def _check(self) -> None:  # noqa: B027  # optional: most links fail on their own I/O
        """Raise if the link is known to be down (no I/O)."""

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"adapter {self.name} already started")
        self.bridge.pin()
        self._task = asyncio.create_task(self._run(), name=f"adapter {self.name}")

    async def stop(self, within_s: float = 5.0) -> None:
        """End the link task and close the link, within ``within_s`` seconds."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            async with asyncio.timeout(within_s):  # one deadline for both steps
                await asyncio.wait({task})  # a cancel of our caller still reaches the caller
                await self._close()
        except TimeoutError:
            self.log.warning("did not stop within %.1f s", within_s)
        self.bridge.stale()
        await self._set(connected=False)

    async def wait_until(
        self, predicate: Callable[[AdapterStatus], bool], within_s: float = 10.0
    ) -> AdapterStatus:
        """Wait until ``predicate(status)`` holds (checked at each change); TimeoutError after
        ``within_s`` seconds."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self.status)), within_s)
        return self.status

    async def _set(self, **changes: object) -> None:
        for k, v in changes.items():
            setattr(self.status, k, v)
        if changes.keys() & _LINK_FIELDS:
            st = self.status
            self.bridge.links.report(
                self.name,
                self.clock.wall(),
                connected=st.connected,
                failures=st.failures - self._failures_seen,
                total_failures=st.failures,
                last_error=st.last_error,
            )
        async with self._changed:
            self._changed.notify_all()

    # -- the link task --------------------------------------------------------------------------
    async def _run(self) -> None:
        delay = self.cfg.backoff_s
        while True:
            try:
                await asyncio.wait_for(self._open(), self.cfg.timeout_s)
            except Exception as exc:  # whatever the PLC does, the twin goes on
                await self._lost("cannot connect", exc)
                await self._sleep_backoff(delay)
                delay = min(delay * 2, self.cfg.backoff_max_s)
                continue
            delay = self.cfg.backoff_s
            failed = self.status.failures - self._failures_seen
            self._failures_seen = self.status.failures
            again = f" (after {failed} failed attempts)" if failed > 1 else ""
            self.log.info("connected to %s%s", self.endpoint, again)
            self._last_reason = None
            await self._set(connected=True, connects=self.status.connects + 1)
            try:
                await self._cycles()
            except Exception as exc:
                await self._lost("link lost", exc)
                await self._sleep_backoff(delay)

    async def _cycles(self) -> None:
        cfg, bridge, timeout = self.cfg, self.bridge, self.cfg.timeout_s
        refresh = self.clock.monotonic()  # a new link: every output once, then each refresh_s
        while True:
            started = self.clock.monotonic()
            if started >= refresh:
                bridge.forget_sent()
                refresh = started + cfg.refresh_s if cfg.refresh_s else math.inf
            if cfg.inputs:
                bridge.apply(await asyncio.wait_for(self._read(), timeout))
            items = bridge.pending()
            if items:
                await asyncio.wait_for(self._write(items), timeout)
                bridge.sent(items)
            elif not cfg.inputs:
                self._check()
            await self._set(cycles=self.status.cycles + 1, written=self.status.written + len(items))
            await self.clock.sleep(cfg.period_s - (self.clock.monotonic() - started))

    async def _lost(self, what: str, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if reason == self._last_reason:  # the same again: once is news, a repeat is not
            self.log.debug("%s (%s): %s", what, self.endpoint, reason)
        else:
            self._last_reason = reason
            self.log.warning("%s (%s): %s; retrying", what, self.endpoint, reason)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._close(), self.cfg.timeout_s)
        self.bridge.stale()  # before the status: who waits for the loss sees the signals stale
        await self._set(connected=False, failures=self.status.failures + 1, last_error=reason)

    async def _sleep_backoff(self, delay: float) -> None:
        await self.clock.sleep(delay * self._jitter.uniform(0.8, 1.2))
