"""The counters of a telemetry pipeline and its accounting invariant (data, no runtime)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["TelemetryStats", "error_is_past"]


def error_is_past(status: Mapping[str, Any]) -> bool:
    """True when the counters ``status`` (``as_dict``, or a saved status) say delivery
    recovered after their ``last_error``."""
    at, recovered = str(status.get("last_error_at", "")), str(status.get("recovered_at", ""))
    return bool(status.get("last_error")) and bool(recovered) and recovered >= at


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
    #: lines earlier runs left in the spool (counted in ``lines_produced``); of them, those
    #: written now and those kept for another destination (or none recorded)
    lines_carried: int = 0
    lines_carried_written: int = 0
    lines_carried_elsewhere: int = 0
    #: batches above the server's size limit, sent (or spooled) in halves instead
    batches_split: int = 0
    write_errors: int = 0
    spool_batches: int = 0
    spool_lines: int = 0
    spool_bytes: int = 0
    last_error: str = ""
    #: when ``last_error`` happened, and when delivery last resumed after a failed write
    #: (ISO 8601 wall-clock times; a ``recovered_at`` after ``last_error_at``: it is past)
    last_error_at: str = ""
    recovered_at: str = ""
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
