"""Plain values the telemetry schema writes: a run's id, nanosecond timestamps, and a PLC
link's text (its last error, its endpoint) as a ``plc_link`` point carries it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["LINK_ERROR_MAX", "datetime_ns", "link_text", "run_id"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: the most characters of a link's ``last_error`` (or ``endpoint``) a point carries: a
#: library's message may be long (the telemetry's own last error keeps as many)
LINK_ERROR_MAX = 500
# the user and password part of a URL (scheme://user:secret@host): adapters refuse URLs with
# one, and no message of theirs names a password, but a library's message might echo a URL
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def link_text(text: str) -> str:
    """``text`` (a link's last error or endpoint) as a ``plc_link`` point carries it: on one
    line (control characters and runs of white space become one space), a URL's user and
    password replaced by ``***``, and at most ``LINK_ERROR_MAX`` characters (a longer text
    ends with ``...``)."""
    text = " ".join(_CONTROL.sub(" ", _USERINFO.sub("***@", text)).split())
    if len(text) > LINK_ERROR_MAX:
        text = text[: LINK_ERROR_MAX - 3] + "..."
    return text


def run_id(started: datetime) -> str:
    """The id of a run that started at ``started`` (time-zone aware): the UTC second, then
    its microseconds, e.g. ``2026-01-05T06:00:00Z-250000``.

    Readable, and sortable: a later run sorts after an earlier one, within one second too
    (the dashboards list runs newest first). The same instant always gives the same id, so
    a run resumed from its recorded start (``twin run --resume``: ``run.json``'s
    ``sim_start``) keeps its id. No regular-expression metacharacter (no ``.``), so the id
    reads the same wherever Grafana regex-escapes a variable's value."""
    if started.tzinfo is None:
        raise ValueError("a run's start must be time-zone aware")
    utc = started.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%SZ}-{utc.microsecond:06d}"


def datetime_ns(value: datetime) -> int:
    """Nanoseconds since the Unix epoch of a time-zone aware datetime (exact, no float)."""
    if value.tzinfo is None:
        raise ValueError("timestamp origin must be time-zone aware")
    delta = value - _EPOCH  # aware datetimes: the offset of ``value`` counts
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
