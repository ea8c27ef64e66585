"""The telemetry pipeline: producer callbacks -> batches -> sink, with spool and counters.

::

    on_event / on_signals / on_kpis      (sync; the simulation thread or the event loop)
            │  events and KPIs encoded at once; signal samples kept as numpy rows and
            │  serialised per batch, vectorised (LineEncoder.signal_lines)
            ▼
    batch of ``batch_lines`` lines ──► slot (at most ``max_in_flight``) ──► gzip ──► sink
            │ no slot: a producer thread waits (back-pressure);    │ 5xx/429/unreachable
            │ the event loop queues up to max_in_flight more,      ▼
            │ then spools                                       spool (fsync'd, bounded)
            ▼                                                      │ replayed oldest first
                                                                   ▼ with backoff

A sink without a spool (the file): on the event loop a batch that finds every slot busy
waits in memory, however many there are (a local write is quick and succeeds or fails for
good), and ``stop`` writes them all whatever its deadline: the file loses no line to a busy
slot or to a stop. Batches are compressed in parallel and each is written whole (one gzip
member), in the order they are done.

Accounting invariant (``TelemetryStats``): every line produced is, at any quiet moment,
written, rejected (422, a 400 blaming the points; logged with a sample line), dropped (spool
bound hit, or a file that cannot be written; logged) or in the spool:
``lines_produced == lines_written + lines_rejected + lines_dropped + spool_lines``.
A write the server refuses for its URL, token or body (``RefusedWriteError``) keeps its
batch in the spool like an outage, and ``stats.refused`` says why until a write succeeds; so
does any other exception of the sink (a bug: ``SinkFailedError``), reported once. A batch
above the server's or a proxy's size limit (``TooLargeError``, 413) goes in halves, halved
again while too large (a spooled one is split in the spool); only a single line too large is
rejected. Failures and recoveries are told as they happen (``twin.telemetry.health``).

Spooled batches keep their destination: what earlier runs left in the spool is sent only if
it was meant for this pipeline's destination, and kept (with the command that sends it
where it belongs) otherwise (``twin.telemetry.carry``).

Lifecycle: the constructor only stores (no I/O); ``await start()`` opens sink and spool and
must run on the event loop that will own the pipeline; ``await stop(timeout)`` flushes,
drains what it can within the deadline and spools the rest (``hurry()`` cuts the deadline
short: a second Ctrl-C). Delivery is at least once: a batch whose acknowledgement was lost
is sent again; point identities are deterministic (see ``twin.telemetry.schema``), so
InfluxDB stores it once.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import zlib
from asyncio import FIRST_COMPLETED
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from twin.aio import cancel_and_wait
from twin.clock import Clock, SystemClock
from twin.errors import ServiceError
from twin.events import Event
from twin.signals import STATUS_CODE, SignalStore
from twin.telemetry.carry import Carried, Spooled, carry_over
from twin.telemetry.destination import Origin
from twin.telemetry.health import Health
from twin.telemetry.schema import LineEncoder, SignalLayout
from twin.telemetry.sinks import (
    RejectedWriteError,
    Sink,
    TooLargeError,
    fitting_part,
    gzip_batch,
    halve_batch,
    time_range,
)
from twin.telemetry.spool import Spool, SpoolEntry
from twin.telemetry.stats import TelemetryStats
from twin.telemetry.status import StatusFile
from twin.text import plural

__all__ = ["TelemetryPipeline", "TelemetryStats"]

#: consecutive failed replays after which ``stop`` leaves the spool for the next run
_DRAIN_ATTEMPTS = 3
#: what became of a batch sent: written and rejected settle it, kept keeps it for later
_Outcome = Literal["written", "rejected", "kept"]


class TelemetryPipeline:
    """Batches the twin's telemetry into a sink with store and forward.

    Thread model: one asyncio loop owns sink, spool and counters. Producer callbacks may be
    called from that loop (``twin run``) or from one other thread (``twin simulate`` runs the
    engine in a worker thread); a producer thread blocks while all slots are busy, which is
    the back-pressure that bounds memory.

    ``spooled`` says which batches found in the spool it sends (``carry.Spooled``: those
    meant for its sink's destination, by default); ``stall_after_s`` how long a write may go
    unanswered before that is logged (None: never); ``status_interval_s`` how often at most
    a write updates ``status_path`` (``twin.telemetry.status``).
    """

    def __init__(
        self,
        sink: Sink,
        encoder: LineEncoder,
        *,
        spool: Spool | None = None,
        status_path: Path | None = None,
        batch_lines: int = 5000,
        max_in_flight: int = 4,
        flush_interval_s: float | None = 1.0,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
        compress_level: int = 1,
        logger: logging.Logger | None = None,
        clock: Clock | None = None,
        spooled: Spooled = "own",
        stall_after_s: float | None = 2.0,
        status_interval_s: float = 1.0,
    ) -> None:
        if batch_lines < 1 or max_in_flight < 1:
            raise ValueError("batch_lines and max_in_flight must be >= 1")
        self.sink = sink
        self.encoder = encoder
        self.spool = spool
        self.status_path = status_path
        self.batch_lines = batch_lines
        self.max_in_flight = max_in_flight
        self.flush_interval_s = flush_interval_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.compress_level = compress_level
        self.log = logger or logging.getLogger("twin.telemetry")
        self.clock: Clock = clock or SystemClock()
        self.stats = TelemetryStats()
        self.spooled: Spooled = spooled
        self.stall_after_s = stall_after_s
        dest = sink.destination
        where = sink.name if dest is None else f"{sink.name} at {dest.url}"
        self.health = Health(sink.name, where, self.stats, self.log, self.clock)
        self.status = StatusFile(
            status_path, sink.name, self.stats, spool, self.log, self.clock, status_interval_s
        )
        #: what start() found in the spool: the batches it sends and those it keeps
        self.carried = Carried(None, "")
        # producer side (guarded by _lock)
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._rows: list[np.ndarray] = []
        self._quality: list[np.ndarray] = []  # the store's qualities of each row
        self._times: list[float] = []
        self._layout: SignalLayout | None = None
        self._buffered = 0
        self._last_kpi_t: float | None = None
        # loop side
        self._slots = threading.Semaphore(max_in_flight)
        self._pending: collections.deque[tuple[bytes, int]] = collections.deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._spool_kick = asyncio.Event()
        self._hurried = asyncio.Event()
        self._background: list[asyncio.Task[None]] = []
        self._stopping = False
        self._replaying = False
        self._warned_drop = False

    # -- lifecycle -------------------------------------------------------------------------
    def validate(self) -> None:
        """Check the configuration without I/O (raises ConfigError)."""
        self.sink.validate()

    async def start(self) -> None:
        """Open sink and spool; replay what an earlier run left in the spool."""
        self.validate()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._spool_kick = asyncio.Event()
        if self.spool is not None:
            self.spool.open()
            started = self.clock.wall().isoformat(timespec="seconds")
            origin = Origin(self.sink.destination, self.encoder.cell, started)
            self.carried = carry_over(self.spool, origin, self.spooled, self.stats, self.log)
            if self.spool.oldest(self.carried.sendable) is not None:
                self._spool_kick.set()
        try:
            await self.sink.start()
        except BaseException:
            if self.spool is not None:
                self.spool.close()
            raise
        self._background = [asyncio.create_task(self._replay_loop(), name="telemetry-replay")]
        if self.flush_interval_s:
            self._background.append(
                asyncio.create_task(self._flush_loop(self.flush_interval_s), name="telemetry-flush")
            )
        self.status.save()

    async def flush(self) -> None:
        """Send everything buffered and wait until no batch is in flight (spool may remain)."""
        self.flush_buffer()
        while self._tasks or self._pending:
            if self._tasks:
                await asyncio.wait(list(self._tasks))
            elif self._slots.acquire(blocking=False):
                self._spawn(*self._pending.popleft())
            else:  # a producer thread holds the slot and is about to spawn its batch
                await asyncio.sleep(0.001)

    def wait_idle(self, timeout_s: float = 30.0) -> None:
        """From a producer thread: flush and block until no batch is in flight.

        A checkpoint for callers that need the database to hold (or the spool to keep)
        everything produced so far. Raises TimeoutError after ``timeout_s``.
        """
        if self._loop is None or threading.get_ident() == self._loop_thread:
            raise ServiceError("wait_idle is for producer threads of a started pipeline")
        asyncio.run_coroutine_threadsafe(self.flush(), self._loop).result(timeout_s)

    async def stop(self, timeout_s: float = 10.0) -> TelemetryStats:
        """Flush, deliver or spool everything within ``timeout_s`` seconds, close the sink.

        Batches still in flight at the deadline are cancelled and spooled. The spool is
        replayed until it is empty, the deadline passes or the database failed three times in
        a row; what it still holds is replayed by the next pipeline on the same directory.
        """
        deadline = self.clock.monotonic() + timeout_s
        self._stopping = True
        self.flush_buffer()
        if self._replaying:
            # cancelling a replay whose request reached the server would send it twice:
            # let the attempt finish (the loop ends after it) unless the deadline passes
            replay = self._background[0]
            await self._first([replay], max(deadline - self.clock.monotonic(), 0))
        for task in self._background:  # waiting or backing off: safe to cancel (hurried, a
            # replay under way too: the next run sends its batch again, at least once)
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.spool is None:  # nothing to keep them for later: write them all (the file)
            await self.flush()
        while self._tasks or self._pending:
            left = deadline - self.clock.monotonic()
            if left <= 0 or not self._tasks or self._hurried.is_set():
                break
            await self._first(list(self._tasks), left)
        for task in list(self._tasks):
            task.cancel()  # _deliver spools what it has not sent when cancelled
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        while self._pending:  # queued on the loop, not compressed yet
            raw, lines = self._pending.popleft()
            self._spool_raw(raw, lines, "stop deadline")
        await self._drain_spool(deadline)
        self.health.spool_room(stopping=True)
        try:
            await self.sink.stop()
        finally:
            self.status.save()
            if self.spool is not None:
                self.spool.close()
        waiting = self.waiting()
        if waiting:
            self.log.warning(
                "telemetry: %s (%s) left in spool %s for the next run",
                plural(len(waiting), "batch", "batches"),
                plural(self.waiting_lines, "line"),
                self.spool.name if self.spool is not None else "",
            )
        return self.stats

    def waiting(self) -> list[SpoolEntry]:
        """The spooled batches this pipeline sends (not those it keeps for elsewhere)."""
        if self.spool is None:
            return []
        sendable = self.carried.sendable
        return [e for e in self.spool.entries() if sendable is None or e.source in sendable]

    @property
    def waiting_lines(self) -> int:
        """The lines of the spooled batches this pipeline sends (``waiting``)."""
        return sum(e.lines for e in self.waiting())

    def hurry(self) -> bool:
        """Cut the deadline of ``stop`` to now (or to its start, when it has not begun): the
        batches in flight are cancelled and spooled, the spool is not replayed; the next
        pipeline on the spool sends them (at least once, as ever). Nothing is lost, so without
        a spool (the file sink) this changes nothing and returns False."""
        if self.spool is None:
            return False
        self._hurried.set()
        return True

    async def _first(self, tasks: list[asyncio.Future[Any]], within_s: float | None) -> None:
        """Wait until one of ``tasks`` is done, ``within_s`` seconds pass or ``hurry`` is called."""
        hurried = asyncio.ensure_future(self._hurried.wait())
        try:
            await asyncio.wait([*tasks, hurried], timeout=within_s, return_when=FIRST_COMPLETED)
        finally:
            hurried.cancel()

    # -- producer side (sync) ---------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        """EventBus subscriber: encode the event now (keeps the encoder's order)."""
        lines = self.encoder.event_lines(event)
        if lines:
            self.write_lines(lines)

    def on_signals(self, t: float, store: SignalStore) -> None:
        """Record one sample of every signal at simulated time ``t`` (one line per machine)."""
        with self._lock:
            layout = self._layout
            if layout is None or layout.size != len(store):
                if self._rows:
                    self._lines += self._signal_lines()
                layout = self._layout = self.encoder.layout(store)
            self._rows.append(store.values[: layout.size].copy())
            self._quality.append(store.quality[: layout.size].copy())
            self._times.append(t)
            self._buffered += len(layout.machines)
            full = self._buffered >= self.batch_lines
        if full:
            self.flush_buffer()

    def on_kpis(self, t: float, report: Mapping[str, Any]) -> None:
        """Record a KPI report (``KpiCollector.report``), with each machine's and PLC link's
        state again (``LineEncoder.restated_lines``); a second report at the same ``t`` is
        ignored (the periodic and the final report may coincide)."""
        if t == self._last_kpi_t:
            return
        self._last_kpi_t = t
        self.write_lines(self.encoder.kpi_lines(t, report) + self.encoder.restated_lines(t))

    def write_lines(self, lines: list[str]) -> None:
        """Add ready-made lines (already line protocol, no trailing newline)."""
        with self._lock:
            self._lines += lines
            self._buffered += len(lines)
            full = self._buffered >= self.batch_lines
        if full:
            self.flush_buffer()

    def _signal_lines(self) -> list[str]:
        assert self._layout is not None
        values = np.vstack(self._rows)
        times = np.asarray(self._times, dtype=np.float64)
        quality = STATUS_CODE[np.vstack(self._quality)].astype(np.int64)
        self._rows, self._times, self._quality = [], [], []
        # a PLC's signal whose link is lost is Uncertain (last usable value), as over OPC UA
        return self.encoder.signal_lines(self._layout, times, values, quality)

    def flush_buffer(self) -> None:
        """Turn whatever is buffered into batches of at most ``batch_lines`` and hand them on
        (may block, see the class)."""
        with self._lock:
            if not self._buffered:
                return
            lines = self._lines
            if self._rows:
                lines += self._signal_lines()
            self._lines, self._buffered = [], 0
        for i in range(0, len(lines), self.batch_lines):
            self._submit(lines[i : i + self.batch_lines])

    def _submit(self, lines: list[str]) -> None:
        raw = ("\n".join(lines) + "\n").encode()
        n = len(lines)
        loop = self._loop
        if loop is None:
            raise ServiceError("telemetry pipeline used before start()")
        with self._lock:
            self.stats.lines_produced += n
            self.stats.batches_produced += 1
        if threading.get_ident() == self._loop_thread:
            if self._slots.acquire(blocking=False):
                self._spawn(raw, n)
            elif self.spool is None or len(self._pending) < self.max_in_flight:
                self._pending.append((raw, n))  # without a spool: waits, never dropped
            else:
                self._spool_raw(raw, n, "no free slot")
            return
        while not self._slots.acquire(timeout=0.5):  # back-pressure on the producer thread
            if loop.is_closed():
                raise ServiceError("telemetry pipeline stopped while a producer was waiting")
        loop.call_soon_threadsafe(self._spawn, raw, n)

    # -- loop side -----------------------------------------------------------------------------
    def _spawn(self, raw: bytes, lines: int) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(raw, lines))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, raw: bytes, lines: int) -> None:
        try:
            while True:  # cancelled by the stop: _gzip or _send spools what was not sent
                payload = await self._gzip(raw, lines)
                await self._send(payload, lines, replay=False)
                if not self._pending:
                    break
                raw, lines = self._pending.popleft()  # keep the slot for queued work
        finally:
            self._slots.release()

    async def _gzip(self, raw: bytes, lines: int) -> bytes:
        """``raw`` gzip'd, a large batch in a worker thread; spooled if cancelled there."""
        if len(raw) <= 65536:
            return gzip_batch(raw, self.compress_level)
        try:
            return await asyncio.to_thread(gzip_batch, raw, self.compress_level)
        except asyncio.CancelledError:
            self._spool_raw(raw, lines, "stop deadline")
            raise

    async def _write(self, payload: bytes, lines: int) -> None:
        """``sink.write``, telling the health when it goes unanswered for ``stall_after_s``."""
        if self.stall_after_s is None:
            await self.sink.write(payload, lines)
            return
        write = asyncio.ensure_future(self.sink.write(payload, lines))
        try:
            done, _ = await asyncio.wait([write], timeout=self.stall_after_s)
            if not done:
                self.health.stalled(self.stall_after_s)
            await write
        finally:
            await cancel_and_wait(write)  # cancelled while waiting: the write is, too

    async def _send(self, payload: bytes, lines: int, *, replay: bool) -> _Outcome:
        """Deliver one batch: ``"written"``, ``"rejected"`` (both settle it) or ``"kept"``
        when it should be kept for later. A fresh batch is then spooled here, also when the stop
        cancels it: of one sent in halves only the parts not yet written."""
        if self.health.down and not replay and self.spool is not None:
            self._to_spool(payload, lines, "database unavailable")
            return "kept"
        try:
            await self._write(payload, lines)
        except asyncio.CancelledError:
            if not replay:  # a replayed batch stays in the spool
                self._to_spool(payload, lines, "stop deadline")
            raise
        except RejectedWriteError as exc:
            self.health.rejected(payload, lines, exc)
            self.status.changed()
            return "rejected"
        except TooLargeError as exc:
            if lines == 1:
                too_large = f"a single line ({len(payload)} bytes gzip'd) is above the request size"
                self.health.rejected(payload, lines, RejectedWriteError(413, f"{too_large} limit"))
                return "rejected"
            self.health.split(lines, exc)
            if replay:
                raise  # the spooled batch is split where it is (_replay_one)
            parts = halve_batch(payload, self.compress_level)
            for i, (part, n) in enumerate(parts):
                try:
                    await self._send(part, n, replay=False)  # spools its unsent lines
                except asyncio.CancelledError:  # the parts after it: not sent either
                    for rest, m in parts[i + 1 :]:
                        self._to_spool(rest, m, "stop deadline")
                    raise
            return "written"  # its parts are written, rejected or spooled
        except Exception as exc:  # refused, unavailable, a bug in the sink: kept for later
            self.health.failed(exc)
            if not replay:
                self._to_spool(payload, lines, str(exc))
            return "kept"
        if self.health.failing and self.health.delivered(self.waiting_lines):
            self._spool_kick.set()  # what waits in the spool goes now
        self.stats.lines_written += lines
        self.stats.batches_written += 1
        if replay:
            self.stats.lines_replayed += lines
            self.stats.batches_replayed += 1
        self.status.changed()  # throttled: a live run writes a batch a second or more
        return "written"

    def _spool_raw(self, raw: bytes, lines: int, reason: str) -> None:
        """``_to_spool`` of a batch not compressed yet (the spool holds gzip'd batches)."""
        self._to_spool(gzip_batch(raw, self.compress_level), lines, reason)

    def _to_spool(self, payload: bytes, lines: int, reason: str = "") -> None:
        spool = self.spool
        if spool is None:  # only a batch its sink failed to write comes here (the file)
            self._dropped(lines)
            self.health.error(f"dropped {lines} lines ({self.sink.name} not written: {reason})")
            if not self._warned_drop:
                self._warned_drop = True
                self.log.error(
                    "telemetry: %s not written, dropping batches (counted in lines_dropped): %s",
                    self.sink.name,
                    reason,
                )
            self.status.changed()  # counters only: the spool did not change
            return
        if not self.health.full_since and spool.put(payload, lines):
            self._spooled(lines)
            return
        if self.health.full_since:  # full: later batches wait for room (one gap, not holes)
            kept, rest = 0, zlib.decompress(payload, 31).splitlines(keepends=True)
        else:  # the first batch that does not fit: its first lines that do (order kept)
            part, kept, rest = fitting_part(payload, spool.room, self.compress_level)
            if kept:
                spool.put(part, kept)
                self._spooled(kept)
        self._dropped(lines - kept)
        room = spool.room
        stamps = time_range(rest)
        self.health.spool_full(
            lines - kept, lines, stamps, spool.name, spool.max_bytes, room, reason
        )
        self.status.changed()  # counters only (what was spooled, _spooled saved at once)

    def _spooled(self, lines: int) -> None:
        self.stats.lines_spooled += lines
        self.stats.batches_spooled += 1
        self._spool_kick.set()
        self.status.save()

    def _dropped(self, lines: int) -> None:
        self.stats.lines_dropped += lines
        self.stats.batches_dropped += 1

    async def _replay_one(self, entry: SpoolEntry) -> bool:
        assert self.spool is not None
        payload = self.spool.read(entry)
        try:
            outcome = await self._send(payload, entry.lines, replay=True)
        except TooLargeError:  # its halves take its place, and are sent next
            self.spool.replace(entry, halve_batch(payload, self.compress_level))
            self.status.save()
            return True
        if outcome == "kept":
            return False
        if outcome == "written" and entry.source != self.carried.own:  # an earlier run's
            self.stats.lines_carried_written += entry.lines
        self.spool.remove(entry)
        self.health.spool_room()  # a full spool takes batches again
        self.status.save()
        return True

    async def _replay_loop(self) -> None:
        delay = 0.0
        while not self._stopping:  # stop() lets a replay in progress finish (see there)
            await self._spool_kick.wait()
            entry = self.spool.oldest(self.carried.sendable) if self.spool is not None else None
            if entry is None:
                self._spool_kick.clear()
                delay = 0.0
                continue
            if self.health.down and delay:
                await self.clock.sleep(delay)
            if self._stopping:
                return
            self._replaying = True
            try:
                settled = await self._replay_one(entry)
            finally:
                self._replaying = False
            delay = 0.0 if settled else self._backoff(delay)

    def _backoff(self, delay: float) -> float:
        return min(max(delay * 2, self.retry_initial_s), self.retry_max_s)

    async def _drain_spool(self, deadline: float) -> None:
        if self.spool is None:
            return
        delay = 0.0
        failures = 0
        while (entry := self.spool.oldest(self.carried.sendable)) is not None:
            left = deadline - self.clock.monotonic()
            if left <= 0 or failures >= _DRAIN_ATTEMPTS or self._hurried.is_set():
                return  # the batches are safe on disk; the next pipeline replays them
            if delay:
                pause = asyncio.ensure_future(self.clock.sleep(min(delay, left)))
                await self._first([pause], None)
                await cancel_and_wait(pause)  # hurried
                if self.clock.monotonic() >= deadline or self._hurried.is_set():
                    return
            replay = asyncio.ensure_future(self._replay_one(entry))
            await self._first([replay], max(left, 0.001))
            if not replay.done():  # the deadline, or hurried: the entry stays in the spool
                await cancel_and_wait(replay)
                return
            ok = replay.result()
            if not ok and self.stats.refused:
                return  # the same request would be refused again: the user has to act
            failures = 0 if ok else failures + 1
            delay = 0.0 if ok else self._backoff(delay)

    async def _flush_loop(self, interval: float) -> None:
        while True:
            await self.clock.sleep(interval)
            self.flush_buffer()
