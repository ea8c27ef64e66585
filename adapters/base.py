"""``Adapter``: the one lifecycle every adapter kind shares.

- validate without I/O: the config model (pydantic) and the ``Bridge`` (against the cell);
- ``await start()``: pins the input signals and starts the link task; never fails for an
  unreachable PLC (the twin goes on and the adapter keeps trying);
- the link task: connect (within ``timeout_s``), then one cycle every ``period_s``: read the
  inputs, apply them, write the outputs that changed. A failure of the link (raised by a kind's
  I/O) closes it and reconnects after a backoff that doubles from ``backoff_s`` up to
  ``backoff_max_s`` (with +-20 % jitter, so that many adapters do not retry in step); the
  backoff starts again from ``backoff_s`` only once a cycle has completed, so a PLC that
  accepts the connection and then fails every cycle is retried ever more slowly, not every
  ``backoff_s``. After a reconnect every output is written again, since the PLC may have
  restarted, and so they are every ``refresh_s`` (a PLC restarted behind a link that stayed up
  gets them back too);
- a tag the PLC refuses (an answer, not a lost link: e.g. a Modbus exception response, an OPC
  UA Bad status on one node) is reported by the kind (``_tag_failed``/``_tag_ok``): that
  mapping is bad (an input keeps its value, ``STALE``; an output is tried again next cycle)
  and every other mapping goes on; it is logged once when it turns bad or its reason
  changes, and once when it is good again. So is an input whose value is no reading (not
  finite, or far outside its signal's range: ``Bridge.apply``), and an output that does
  not fit its tag's integer type is written saturated and reported once (``_saturated``);
- a failure is logged as a warning once; the same failure again only at debug level, until
  the link works again (a cycle completed), but for a link lost after a connect that was
  logged (the last line must not say "connected" while the link is down) and a summary at
  the 10th, 100th, ... failure in a row; a connect is logged once per such streak, and a
  link that works after more than one connect says so with the number of failed attempts;
  a timeout names the request and ``timeout_s``; every line names the adapter;
- the input signals are ``STALE`` from ``start()`` until first read and from each failure
  until read again (``Bridge``); the link's state (connected, failures since the link last
  worked, last error, since when, the bad tags) is reported to the twin's ``LinkRegistry`` at
  each change;
- ``await stop(within_s)``: ends the task and closes the link within ``within_s`` seconds
  (its inputs are then ``STALE``: nothing feeds them any more).

A kind implements ``endpoint``, ``_open``, ``_close``, ``_read`` and ``_write``, and may
implement ``_check`` (a cycle that read and wrote nothing asks it whether the link is up) and
``_as_written`` (an output's value as its tag holds it: written when that changes, so noise
an integer register or a coil cannot show is not written every cycle).
``_read`` and ``_write`` raise only for a lost link; a refused tag is reported and left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from adapters.bridge import Bridge, TagValue
from adapters.config import AdapterConfig
from twin.clock import Clock, SystemClock
from twin.errors import ServiceError, TwinError
from twin.text import plural

__all__ = ["Adapter", "AdapterStatus"]

# AdapterStatus fields the twin's LinkRegistry shows
_LINK_FIELDS = frozenset({"connected", "failures", "last_error", "bad_tags"})
_T = TypeVar("_T")


@dataclass
class AdapterStatus:
    """What an adapter has done so far (for logs, tests and the shutdown summary)."""

    connected: bool = False
    connects: int = 0  # links opened
    failures: int = 0  # connects that failed and links lost
    cycles: int = 0  # read-apply-write cycles completed
    written: int = 0  # tag values written
    last_error: str | None = None  # of the link or of a tag
    resolved: bool = False  # last_error no longer holds: its tag is good, or the link works
    bad_tags: dict[str, str] = field(default_factory=dict)  # mapping (read[1] ...) -> reason


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
        self._last_reason: str | None = None  # of the failures since the link last worked
        self._announced = False  # a connect was logged (at info) and its loss not yet
        self._failures_seen = 0  # status.failures when the link last worked
        self._connects_unproven = 0  # connects since the link last worked
        self._delay = cfg.backoff_s  # the next backoff
        self._jitter = random.Random()  # retry spreading, not security
        self._bad: dict[str, str] = {}  # mapping -> why the PLC refuses it
        self._bad_kind: dict[str, str] = {}  # mapping -> the kind of why (logged once)
        self._error_tag: str | None = None  # the mapping last_error is of (None: the link)
        self._read_ok: set[int] = set()  # inputs served this cycle (good once applied)
        self._saturating: set[int] = set()  # outputs reported written saturated
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
    async def _write(self, items: Sequence[tuple[int, float]]) -> Sequence[tuple[int, float]]:
        """Write raw values to ``cfg.outputs[position]`` for each (position, value); returns
        the items the PLC accepted (one it refused is reported with ``_tag_failed``)."""

    def _check(self) -> None:  # noqa: B027  # optional: most links fail on their own I/O
        """Raise if the link is known to be down (no I/O)."""

    def _as_written(self, pos: int, value: float) -> float:
        """Raw ``value`` (not NaN) of ``cfg.outputs[pos]`` as its tag will hold it (e.g.
        rounded to an integer type): an output is written when this changes."""
        return value

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
                bad_tags=tuple(f"{k}: {v}" for k, v in st.bad_tags.items()),
            )
        async with self._changed:
            self._changed.notify_all()

    # -- the link task --------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self._within(self._open(), "connect")
            except Exception as exc:  # whatever the PLC does, the twin goes on
                await self._lost("cannot connect", exc)
            else:
                await self._on_connect()
                try:
                    await self._cycles()
                except Exception as exc:
                    await self._lost("link lost", exc)
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # stop() during a failing request:
                raise asyncio.CancelledError  # Python 3.11's wait_for may swallow the cancel
            # reset by a completed cycle only: a PLC that takes the connection and fails each
            # cycle is not hammered every backoff_s
            delay, self._delay = self._delay, min(self._delay * 2, self.cfg.backoff_max_s)
            await self._sleep_backoff(delay)

    async def _on_connect(self) -> None:
        self._connects_unproven += 1
        if self._connects_unproven == 1:  # once per streak: a connect-then-fail loop is no news
            failed = self.status.failures - self._failures_seen
            again = f" (after {failed} failed attempts)" if failed > 1 else ""
            self.log.info("connected to %s%s", self.endpoint, again)
            self._announced = True
        else:
            self.log.debug("connected to %s", self.endpoint)
        await self._set(connected=True, connects=self.status.connects + 1)

    def _works(self) -> None:
        """A cycle completed: the link works (the failures and the backoff start again)."""
        if not self._connects_unproven:
            return
        if self._connects_unproven > 1:
            failed = self.status.failures - self._failures_seen
            self.log.info("link to %s works (after %d failed attempts)", self.endpoint, failed)
        self._connects_unproven = 0
        self._failures_seen = self.status.failures
        if self._error_tag is None and self.status.last_error is not None:
            self.status.resolved = True  # the link's error: it works again
        self._last_reason = None
        self._delay = self.cfg.backoff_s

    async def _cycles(self) -> None:
        cfg, bridge = self.cfg, self.bridge
        refresh = self.clock.monotonic()  # a new link: every output once, then each refresh_s
        while True:
            started = self.clock.monotonic()
            if started >= refresh:
                bridge.forget_sent()
                refresh = started + cfg.refresh_s if cfg.refresh_s else math.inf
            if cfg.inputs:
                self._read_ok.clear()
                values = await self._within(
                    self._read(), f"read of {plural(len(cfg.inputs), 'tag')}"
                )
                self._settle(bridge.apply(values))
            items = bridge.pending(self._as_written)
            done: Sequence[tuple[int, float]] = ()
            if items:
                done = await self._within(
                    self._write(items), f"write of {plural(len(items), 'tag')}"
                )
                bridge.sent(done, self._as_written)
            elif not cfg.inputs:
                self._check()
            self._works()
            await self._set(
                cycles=self.status.cycles + 1,
                written=self.status.written + len(done),
                bad_tags=dict(self._bad),
            )
            await self.clock.sleep(cfg.period_s - (self.clock.monotonic() - started))

    # -- tags the PLC refuses -------------------------------------------------------------------
    @functools.cached_property
    def _tag_names(self) -> dict[bool, list[str]]:
        """``cfg.inputs`` (key False) and ``cfg.outputs`` (True) as the file names them, e.g.
        ``read[1] (printer1.bed_temp)``, in their order."""

        def names(*groups: str) -> list[str]:
            return [
                f"{group}[{j}] ({getattr(m, 'signal', None) or m.machine})"
                for group in groups
                for j, m in enumerate(getattr(self.cfg, group))
            ]

        return {False: names("read", "fault"), True: names("write", "state")}

    def _tag_failed(self, output: bool, pos: int, reason: str, kind: str | None = None) -> None:
        """The PLC refused ``cfg.inputs[pos]`` (or ``outputs``) for ``reason``: the mapping is
        bad (logged when it turns bad or the reason, or its ``kind`` when given, changes);
        the link goes on."""
        name = self._tag_names[output][pos]
        kind = kind or reason
        self._bad[name] = reason  # shown with its latest value
        if self._bad_kind.get(name) != kind:
            self._bad_kind[name] = kind
            self.log.warning("%s: %s", name, reason)
            self.status.last_error = f"{name}: {reason}"
            self.status.resolved = False
            self._error_tag = name

    def _tag_ok(self, output: bool, pos: int) -> None:
        """The PLC served ``cfg.inputs[pos]`` (or ``outputs``): good (again); an input once
        its value is applied (``_settle``)."""
        if not output:
            self._read_ok.add(pos)
            return
        self._good(True, pos)

    def _good(self, output: bool, pos: int) -> None:
        if not self._bad:
            return
        name = self._tag_names[output][pos]
        if self._bad.pop(name, None) is not None:
            self._bad_kind.pop(name, None)
            self.log.info("%s: good again", name)
            if self._error_tag == name:
                self.status.resolved = True

    def _settle(self, rejected: dict[int, tuple[str, str]]) -> None:
        """The inputs read this cycle have been applied: those the bridge ``rejected`` (no
        reading) are bad, the other inputs served are good."""
        for pos, (reason, kind) in rejected.items():
            self._tag_failed(False, pos, reason, kind)
        for pos in self._read_ok - rejected.keys():
            self._good(False, pos)

    def _saturated(self, pos: int, value: float, type_name: str, bounds: tuple[int, int]) -> None:
        """``cfg.outputs[pos]`` is written as ``bounds`` allow, not as ``value``: said once."""
        if pos not in self._saturating:
            self._saturating.add(pos)
            self.log.warning(
                "%s: %.6g does not fit %s (%d to %d): written saturated (said once); check "
                "the tag's type and scale",
                self._tag_names[True][pos],
                value,
                type_name,
                *bounds,
            )

    async def _within(self, aw: Awaitable[_T], request: str) -> _T:
        """``await aw`` within ``timeout_s``; a timeout is a ServiceError naming ``request``."""
        try:
            return await asyncio.wait_for(aw, self.cfg.timeout_s)
        except TimeoutError as exc:
            t = self.cfg.timeout_s
            raise ServiceError(f"{request}: no answer within timeout_s = {t:g} s") from exc

    async def _lost(self, what: str, exc: BaseException) -> None:
        # ours say what is wrong in words (a ConfigError: another user's pki folder); a
        # library's is named by its class (ConnectionRefusedError: ...)
        reason = str(exc) if isinstance(exc, TwinError) else f"{type(exc).__name__}: {exc}"
        reason = reason.rstrip(": ")
        failed = self.status.failures + 1 - self._failures_seen  # in a row
        if failed >= 10 and math.log10(failed).is_integer():  # 10, 100, ...: a summary
            self.log.warning(
                "%s (%s): still failing after %d attempts: %s; retrying",
                what,
                self.endpoint,
                failed,
                reason,
            )
        elif reason == self._last_reason and not self._announced:  # a repeat is no news
            self.log.debug("%s (%s): %s", what, self.endpoint, reason)
        else:
            self.log.warning("%s (%s): %s; retrying", what, self.endpoint, reason)
        self._last_reason = reason
        self._announced = False
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._close(), self.cfg.timeout_s)
        self.bridge.stale()  # before the status: who waits for the loss sees the signals stale
        self._error_tag = None
        await self._set(
            connected=False, failures=self.status.failures + 1, last_error=reason, resolved=False
        )

    async def _sleep_backoff(self, delay: float) -> None:
        await self.clock.sleep(delay * self._jitter.uniform(0.8, 1.2))
