"""The counters of a telemetry pipeline and its accounting invariant (data, no runtime)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["TelemetryStats"]


@dataclass
class TelemetryStats:
    """Counters of one pipeline (lines and batches); ``spool_*`` is the depth at save time."""

    lines_produced: int = 0
    batches_produced: int = 0
    lines_written: int = 0
    batches_written: int = 0
    lines_replayed: int = 0
    batches_replayed: int = 0
    lines_spooled: int = 0
    batches_spooled: int = 0
    lines_rejected: int = 0
    batches_rejected: int = 0
    lines_dropped: int = 0
    batches_dropped: int = 0
    #: batches above the server's size limit, sent (or spooled) in halves instead
    batches_split: int = 0
    write_errors: int = 0
    spool_batches: int = 0
    spool_lines: int = 0
    spool_bytes: int = 0
    last_error: str = ""
    last_rejected_sample: str = ""
    #: why the server refuses the writes (URL, token, size limit), or the sink fails (a bug),
    #: until a write succeeds
    refused: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def balanced(self) -> bool:
        """The accounting invariant: no line unaccounted for."""
        return self.lines_produced == (
            self.lines_written + self.lines_rejected + self.lines_dropped + self.spool_lines
        )
