"""A pipeline's ``status.json``: its counters and spool depth, for ``twin telemetry status``.

Saved at once when the spool changes (a batch spooled, replayed or dropped) and when the
pipeline starts and stops; after a write, at most once every ``interval_s`` (a live run
writes a batch a second or more: the status follows it without a file written per batch).
A write inside the interval is saved when the interval ends, so the status is never more
than ``interval_s`` behind a quiet pipeline either.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from twin.clock import Clock
from twin.files import open_private
from twin.telemetry.spool import Spool, private_directory
from twin.telemetry.stats import TelemetryStats

__all__ = ["StatusFile"]


class StatusFile:
    """Writes ``stats`` (with the depth of ``spool``, refreshed into ``stats`` at each save)
    to ``path`` (None: the depth is refreshed, nothing written). Owned by the pipeline's
    event loop. A file that cannot be written is warned about, never raised: the status is
    informative and must not stop delivery."""

    def __init__(
        self,
        path: Path | None,
        sink: str,
        stats: TelemetryStats,
        spool: Spool | None,
        log: logging.Logger,
        clock: Clock,
        interval_s: float = 1.0,
    ) -> None:
        self.path = path
        self.sink = sink
        self.stats = stats
        self.spool = spool
        self.log = log
        self.clock = clock
        self.interval_s = interval_s
        self._saved_at: float | None = None  # monotonic time of the last save
        self._later: asyncio.Task[None] | None = None

    def save(self) -> None:
        """Refresh the spool depth in the counters and write the file now (a pending save is
        not needed any more: cancelled in its sleep, it saves nothing)."""
        if self._later is not None:
            self._later.cancel()
            self._later = None
        self._saved_at = self.clock.monotonic()
        if self.spool is not None:
            self.stats.spool_batches = len(self.spool)
            self.stats.spool_lines = self.spool.lines
            self.stats.spool_bytes = self.spool.size
        if self.path is None:
            return
        data = {"sink": self.sink, **self.stats.as_dict()}
        if self.spool is not None:
            if self.spool.directory != self.path.parent:
                # named only when elsewhere: a status kept in its spool stays right when the
                # directory is moved (twin simulate writes a run aside, then moves it in)
                data["spool_dir"] = str(self.spool.directory)
            data["spool_max_bytes"] = self.spool.max_bytes
        tmp = self.path.with_suffix(".tmp")
        text = json.dumps(data, indent=1, sort_keys=True) + "\n"
        try:
            private_directory(self.path.parent)
            # the owner's alone (its errors quote the server), also when replacing an older one
            with open_private(tmp, "wb", tighten=True) as fh:
                fh.write(text.encode())
            tmp.replace(self.path)
        except OSError as exc:
            self.log.warning("telemetry: cannot write %s: %s", self.path, exc)

    def changed(self) -> None:
        """The counters changed (a batch written): save now if the last save is
        ``interval_s`` old, else once it is (one pending save at a time). On the loop."""
        if self._later is not None:
            return  # a save is coming, and will see this change
        since = None if self._saved_at is None else self.clock.monotonic() - self._saved_at
        if since is None or since >= self.interval_s:
            self.save()
            return
        self._later = asyncio.get_running_loop().create_task(
            self._save_after(self.interval_s - since), name="telemetry-status"
        )

    async def _save_after(self, delay: float) -> None:
        await self.clock.sleep(delay)
        self._later = None
        self.save()
