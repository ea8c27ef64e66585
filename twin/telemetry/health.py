"""What a telemetry pipeline knows of its database's health, and the lines it logs about it.

A failure begins with the first failed write and is logged then, once: an outage
(unreachable, no answer within the write timeout, 5xx, 429) or a refusal (URL, token, a body
the server cannot read; logged again when its reason changes). A write that gets no answer
for ``stall_after_s`` is logged while it waits: a database that accepts connections and
never answers is news before the write timeout ends the write. The first write that succeeds
afterwards ends it, logged once more with how long delivery was down and how many spooled
lines it is catching up; the counters keep ``last_error`` with its time and the time delivery
recovered, so ``twin telemetry status`` shows the error as past.

The end of a failure is logged at the failure's level (WARNING): whoever saw it begin sees
it end.

A full spool (its bound, ``TWIN_SPOOL_MAX_BYTES``, reached) is told the same way: when it
begins (the bound, the room left, the lines dropped and their time range, and why the lines
were being spooled), and when it ends (a replay made room, or the stop) with all the lines
it dropped and their time range: the gap in the database.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from twin.clock import Clock
from twin.errors import ServiceError
from twin.telemetry.sinks import (
    RefusedWriteError,
    RejectedWriteError,
    SinkFailedError,
    TooLargeError,
    TransientWriteError,
    first_line,
)
from twin.telemetry.stats import TelemetryStats
from twin.text import plural

__all__ = ["Health", "size_text"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def size_text(n: int) -> str:
    """``n`` bytes for messages: ``37 bytes``, ``64 KiB``, ``1.5 MiB``."""
    if n < 1024:
        return plural(n, "byte")
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"
    return f"{value / 1024:.1f}".removesuffix(".0") + " TiB"


def _stamped(stamps: tuple[int, int] | None) -> str:
    """`` stamped <first> to <last>`` (UTC seconds), or nothing when not known."""
    if stamps is None:
        return ""
    first, last = (
        f"{_EPOCH + timedelta(microseconds=ns // 1000):%Y-%m-%dT%H:%M:%SZ}" for ns in stamps
    )
    return f" stamped {first}" if first == last else f" stamped {first} to {last}"


class Health:
    """The state of delivery to one sink (``down``: later batches go to the spool) and its
    messages. Owned by the pipeline's event loop, as the counters it updates."""

    def __init__(
        self, sink: str, where: str, stats: TelemetryStats, log: logging.Logger, clock: Clock
    ) -> None:
        self.sink = sink
        #: the sink with its address, for messages ("influx at http://db:8086/api/v2/write")
        self.where = where
        self.stats = stats
        self.log = log
        self.clock = clock
        #: a write failed (or is refused) and none succeeded since
        self.down = False
        self._since: float | None = None  # monotonic start of the failure being told
        self._failures = 0
        self._stalled = False
        # the spool is full since (wall time): the lines dropped since and their time range
        self.full_since = ""
        self._dropped = 0
        self._dropped_range: tuple[int, int] | None = None

    @property
    def failing(self) -> bool:
        """A failure was told (a write failed, or went unanswered) and has not ended."""
        return self.down or self._stalled

    def _now(self) -> str:
        return self.clock.wall().isoformat(timespec="seconds")

    def error(self, text: str) -> None:
        """Record ``text`` as the last error, now."""
        self.stats.last_error = text[:500]
        self.stats.last_error_at = self._now()

    def stalled(self, after_s: float) -> None:
        """A write has had no answer for ``after_s`` seconds: say so once per failure."""
        if self._stalled or self.down:
            return
        self._stalled = True
        self._since = self.clock.monotonic() - after_s
        self.log.warning(
            "telemetry: %s has not answered a write for %g s; its batches wait (until the"
            " write timeout, TWIN_WRITE_TIMEOUT_S, then in the spool)",
            self.where,
            after_s,
        )

    def failed(self, exc: Exception) -> None:
        """Count a write that failed for now and say so once: a refusal (logged again when
        its reason changes), an outage, or a bug in the sink (taken as a refusal)."""
        if not isinstance(exc, ServiceError):
            exc = SinkFailedError.of(self.sink, exc)
        self.stats.write_errors += 1
        self.error(str(exc))
        self._failures += 1
        if self._since is None:
            self._since = self.clock.monotonic()
        if isinstance(exc, RefusedWriteError):
            if self.stats.refused != self.stats.last_error:
                what = "failed" if isinstance(exc, SinkFailedError) else "refused the write"
                self.log.error("telemetry: %s %s, keeping the batches: %s", self.sink, what, exc)
            self.stats.refused = self.stats.last_error
            self.down = True  # later batches wait in the spool; the replay loop retries
            return
        if not self.down:
            self.log.warning("telemetry: %s unavailable (%s); spooling", self.sink, exc)
        self.down = isinstance(exc, TransientWriteError)

    def delivered(self, spooled: int) -> bool:
        """A write succeeded: True when it ends a failure, said with how long it lasted and
        the ``spooled`` lines being caught up (the caller replays the spool)."""
        if not self.failing:
            return False
        lasted = self.clock.monotonic() - (self._since or self.clock.monotonic())
        told = [plural(self._failures, "failed write")] if self._failures else []
        told += [f"catching up {plural(spooled, 'line')} from the spool"] if spooled else []
        self.log.warning(
            "telemetry: %s is back: delivery resumed after %.1f s%s",
            self.where,
            lasted,
            f" ({', '.join(told)})" if told else "",
        )
        self.stats.recovered_at = self._now()
        self.stats.refused = ""
        self.down = self._stalled = False
        self._since = None
        self._failures = 0
        return True

    def split(self, lines: int, exc: TooLargeError) -> None:
        """A batch of ``lines`` lines was too large: it goes in halves (said once a run)."""
        self.stats.batches_split += 1
        if self.stats.batches_split == 1:
            self.log.warning(
                "telemetry: %s refused a batch of %d lines as too large, sending it in halves"
                " (lower TWIN_BATCH_LINES to save the round trips): %s",
                self.sink,
                lines,
                exc,
            )

    def rejected(self, payload: bytes, lines: int, exc: RejectedWriteError) -> None:
        """The server rejected the batch ``payload`` for good: counted, logged with a sample."""
        sample = first_line(payload)
        self.stats.lines_rejected += lines
        self.stats.batches_rejected += 1
        self.error(str(exc))
        self.stats.last_rejected_sample = sample
        self.log.error(
            "telemetry: %s rejected a batch of %d lines: %s; sample line: %s",
            self.sink,
            lines,
            exc,
            sample,
        )

    def spool_full(
        self,
        dropped: int,
        of: int,
        stamps: tuple[int, int] | None,
        spool: str,
        bound: int,
        room: int,
        why: str,
    ) -> None:
        """``dropped`` lines of a batch of ``of`` (time range ``stamps``, ns) found the spool
        ``spool`` full (its bound ``bound``, ``room`` bytes left; the rest of the batch is in
        it); they were being spooled because of ``why``. Counted by the caller; told here: the
        first of a full spool is logged, every one is the last error."""
        first = not self.full_since
        if first:
            self.full_since = self._now()
            self._dropped, self._dropped_range = 0, None
        self._dropped += dropped
        if stamps is not None:
            old = self._dropped_range or stamps
            self._dropped_range = (min(old[0], stamps[0]), max(old[1], stamps[1]))
        bound_text = f"TWIN_SPOOL_MAX_BYTES {size_text(bound)}, {size_text(room)} left"
        if first:
            kept = f" (its first {of - dropped} spooled)" if dropped < of else ""
            self.log.error(
                "telemetry: spool full (%s: %s): dropped %s of a batch of %d%s%s, and drops"
                " what comes next until a replay makes room (counted in lines_dropped; a larger"
                " TWIN_SPOOL_MAX_BYTES keeps more); the lines were being spooled because: %s",
                spool,
                bound_text,
                plural(dropped, "line"),
                of,
                kept,
                _stamped(stamps),
                why,
            )
        self.error(
            f"spool full ({bound_text}): {plural(self._dropped, 'line')} dropped since"
            f" {self.full_since}{_stamped(self._dropped_range)}; spooling because: {why}"
        )

    def spool_room(self, stopping: bool = False) -> None:
        """The spool took batches again (a replay made room), or the pipeline stops while
        it is full (``stopping``): the lines dropped while it was full are told, once."""
        if not self.full_since:
            return
        until = "until the stop" if stopping else f"until {self._now()}"
        self.log.warning(
            "telemetry: the spool was full from %s %s: %s%s dropped (a gap in the database)",
            self.full_since,
            until,
            plural(self._dropped, "line"),
            _stamped(self._dropped_range),
        )
        self.full_since = ""
