"""Sinks: where gzip'd line-protocol batches go. One small interface, two implementations.

A sink only delivers; batching, back-pressure, spooling and counting are the pipeline's.
``write`` raises, all three being ``twin.errors.ServiceError``:

- ``TransientWriteError`` when trying again later may succeed (unreachable, timeout, 5xx,
  408, 425, 429);
- ``RefusedWriteError`` when the server refused the request, not the batch: wrong URL (404,
  405), token (401, 403), a 400 that does not blame the points (a body it cannot read: a
  proxy that altered the gzip'd body) and every other answer not known to mean "bad data";
  the batch is kept and sent once that is fixed; ``TooLargeError``, one of them, for a batch
  above the server's (or a proxy's) request size limit (413): it goes in smaller batches;
- ``RejectedWriteError`` when the server refused the data for good: 422 (unprocessable,
  e.g. points beyond the retention) and a 400 whose text blames the points (``POINT_ERRORS``).

Any other exception from ``write`` is a bug (in the sink or a library under it): the pipeline
takes it as ``SinkFailedError``, a refusal, so the batch is kept and the run fails.

The payload helpers both sides share are here too: ``gzip_batch`` makes a batch,
``halve_batch`` splits one that is too large, ``fitting_part`` takes what fits in a full
spool, ``first_line`` and ``time_range`` describe one for messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import zlib
from pathlib import Path
from typing import IO, Any, Protocol

from twin.errors import ConfigError, ServiceError
from twin.files import open_private
from twin.telemetry.destination import Destination
from twin.telemetry.settings import (
    ANY_TOKEN_SETTING,
    excerpt,
    influx_url_problem,
    redact,
    token_source,
    token_warnings,
)

__all__ = [
    "POINT_ERRORS",
    "FileSink",
    "InfluxSink",
    "RefusedWriteError",
    "RejectedWriteError",
    "Sink",
    "SinkFailedError",
    "TooLargeError",
    "TransientWriteError",
    "first_line",
    "fitting_part",
    "gzip_batch",
    "halve_batch",
    "time_range",
    "whole_members",
    "write_error",
]

_SAMPLE_CHARS = 300
log = logging.getLogger("twin.telemetry")


class TransientWriteError(ServiceError):
    """The batch was not stored but may be later: keep it (spool) and retry."""


class RefusedWriteError(ServiceError):
    """The server refused the request, not its data (endpoint, credentials, size limit):
    keep the batch; it is stored once the configuration is fixed. The message says what to
    fix."""


class TooLargeError(RefusedWriteError):
    """The request was above the server's (or a proxy's) size limit (413): the batch goes in
    smaller parts; a single line that is too large is rejected."""


class SinkFailedError(RefusedWriteError):
    """The sink raised an error it does not translate: a bug in it or in a library under it.
    Handled as a refusal: the batch is kept and the run fails until a write succeeds."""

    @classmethod
    def of(cls, sink: str, exc: Exception) -> SinkFailedError:
        """The error of sink ``sink`` that raised ``exc`` (its cause)."""
        said = redact(str(exc))  # a library's words may quote a request's headers
        error = cls(f"the {sink} sink failed: {type(exc).__name__}: {said} (a bug; report it)")
        error.__cause__ = exc
        return error


class RejectedWriteError(ServiceError):
    """The server refused the batch's data (422, a 400 blaming the points): retrying cannot
    help."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {message}")


#: answers that blame the batch's data: the batch is rejected for good (a 400 only when
#: its text blames the points: ``POINT_ERRORS``)
_BAD_DATA = frozenset({400, 422})
#: what a 400 says when it blames the points, not the request body (lower case): InfluxDB
#: 1.x and 2.x ("unable to parse '<line>': ...", "partial write: field type conflict: ...",
#: "partial write: points beyond retention policy dropped=1", "... max-values-per-tag ..."),
#: InfluxDB 3 ("parsing failed ...", "partial write of line protocol occurred", with
#: ``invalid_lines``) and VictoriaMetrics ("too long line", its only 400 about the data: it
#: skips lines it cannot parse). A body the server cannot read is none of these: InfluxDB
#: says "gzip: invalid header", "flate: corrupt input ...", "unexpected EOF", "unable to read
#: data: ...", VictoriaMetrics "cannot read gzipped influx line protocol data: ..."
POINT_ERRORS = (
    "unable to parse",
    "partial write",
    "field type conflict",
    "beyond retention",
    "parsing failed",
    "invalid_lines",
    "too long line",
    "max-values-per-tag",
)
#: answers that may go away by themselves: the batch is kept and retried
_TRANSIENT = frozenset({0, 408, 425, 429})
#: what to fix, for the answers that blame the request (any other status: its text only)
_FIX = {
    401: "{token}",
    403: "the token may not write to bucket {bucket}",
    404: "no /api/v2/write or no bucket {bucket} here"
    " (wrong URL or bucket, or InfluxDB older than 1.8?)",
    405: "no write API here (wrong URL?)",
    413: "a batch of {lines} lines ({size} bytes gzip'd) is above the server's request"
    " size limit (it is sent in smaller parts; lower TWIN_BATCH_LINES or raise the limit)",
}


def write_error(
    status: int,
    message: str,
    endpoint: str,
    bucket: str,
    lines: int,
    size: int,
    token: str | None = None,
) -> ServiceError:
    """The error of a write that got HTTP ``status`` (0: none) with body ``message``.

    ``token`` names the setting that gave the token ("" when there is none, None when not
    known), for a 401. Unknown answers count as the request's fault: the batch is kept,
    never thrown away; so does a 400 whose text does not blame the points.
    """
    if status in _TRANSIENT or status >= 500:
        return TransientWriteError(f"HTTP {status}: {message}")
    said = f"; the server said: {message[:200]}" if message else ""
    if status in _BAD_DATA:
        if status != 400 or any(what in message.lower() for what in POINT_ERRORS):
            return RejectedWriteError(status, message[:500])
        return RefusedWriteError(
            f"HTTP 400 from {endpoint}: the server refused the request body, not the data"
            " (a proxy altering the gzip'd body or its Content-Encoding?); the batch is kept" + said
        )
    fix = _FIX.get(status, "").format(
        bucket=repr(bucket), lines=lines, size=size, token=_token_fix(token)
    )
    refused = TooLargeError if status == 413 else RefusedWriteError
    return refused(f"HTTP {status} from {endpoint}: {fix or 'refused'}{said}")


def _token_fix(token: str | None) -> str:
    """What to fix for a 401, naming the setting that gave the token (``token``; "": none)."""
    v1 = "user:password for InfluxDB 1.8"
    if token == "":
        return f"the server wants a token and none was given (set {ANY_TOKEN_SETTING}; {v1})"
    return f"the token is refused (from {token or ANY_TOKEN_SETTING}; {v1})"


def gzip_batch(raw: bytes, level: int) -> bytes:
    """``raw`` (line protocol) as one gzip member, the payload ``Sink.write`` takes."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: gzip container
    return c.compress(raw) + c.flush()


def halve_batch(payload: bytes, level: int) -> list[tuple[bytes, int]]:
    """The gzip'd batch ``payload`` as two gzip'd batches of half its lines each, with their
    line counts (for a ``TooLargeError``)."""
    lines = zlib.decompress(payload, 31).splitlines(keepends=True)
    half = len(lines) // 2
    return [(gzip_batch(b"".join(part), level), len(part)) for part in (lines[:half], lines[half:])]


def fitting_part(payload: bytes, room: int, level: int) -> tuple[bytes, int, list[bytes]]:
    """The longest first part of the gzip'd batch ``payload`` that is at most ``room`` bytes
    gzip'd (at ``level``): that part, its line count, and the lines after it (raw, each with
    its newline). The part is empty (``b""``, 0 lines) when not even one line fits."""
    lines = zlib.decompress(payload, 31).splitlines(keepends=True)
    part, lo, hi = b"", 0, len(lines)
    while lo < hi:  # gzip'd sizes grow with the lines taken: the largest that fits
        mid = (lo + hi + 1) // 2
        candidate = gzip_batch(b"".join(lines[:mid]), level)
        if len(candidate) <= room:
            part, lo = candidate, mid
        else:
            hi = mid - 1
    return part, lo, lines[lo:]


def time_range(lines: list[bytes]) -> tuple[int, int] | None:
    """The first and last timestamp (ns) of line-protocol ``lines``; None when a line has
    none."""
    try:
        stamps = [int(line.rsplit(b" ", 1)[1]) for line in lines]
    except (IndexError, ValueError):
        return None
    return (min(stamps), max(stamps)) if stamps else None


def first_line(payload: bytes) -> str:
    """The first line of the gzip'd batch ``payload`` (at most 300 characters), for messages."""
    with contextlib.suppress(zlib.error):
        head = zlib.decompressobj(31).decompress(payload, 4 * _SAMPLE_CHARS)
        return head.split(b"\n", 1)[0].decode("utf-8", "replace")[:_SAMPLE_CHARS]
    return ""


class Sink(Protocol):
    """Destination of gzip'd line-protocol batches.

    ``validate`` checks configuration without I/O (raises ConfigError); ``start`` and
    ``stop`` open and close connections or files; ``write`` delivers one batch.
    """

    name: str

    #: where its batches go (spooled ones keep it); None for a sink without a spool (a file)
    destination: Destination | None

    def validate(self) -> None: ...

    async def start(self) -> None: ...

    async def write(self, payload: bytes, lines: int) -> None: ...

    async def stop(self) -> None: ...


class FileSink:
    """Appends each batch as one gzip member to ``path`` (gzip readers concatenate members).

    The file is plain gzip'd line protocol with nanosecond timestamps, importable as is
    (``influx write --compression gzip --precision ns -f telemetry.lp.gz``, or a POST of the
    file with ``Content-Encoding: gzip``). Each batch is flushed to the file as it is written
    (a killed run loses at most the batch being written); ``stop`` fsyncs it. The file is
    its owner's alone (0600).

    ``start`` begins a new file unless ``append`` (a resumed run goes on in its file). A
    non-empty file already there is renamed to ``previous`` first (one run, one file; the
    one before kept, as ``events.prev.jsonl`` is), or truncated when ``previous`` is None.
    With ``append``, a file whose last member is cut off (a run killed while writing it) is
    cut back to its last whole member, so what follows stays readable; a file that is not
    gzip data (or damaged) is moved to ``previous`` (or refused with a ServiceError) and a
    new one begun.
    """

    name = "file"
    destination: Destination | None = None  # the file holds what is written: no spool

    def __init__(self, path: Path, append: bool = False, previous: Path | None = None) -> None:
        self.path = path
        self.append = append
        self.previous = previous
        self._fh: IO[bytes] | None = None

    def validate(self) -> None:
        if self.path.name == "" or self.path.is_dir():
            raise ConfigError("telemetry", "file", f"{self.path} is not a file path")

    async def start(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        size = self.path.stat().st_size if self.path.is_file() else 0
        if self.append and size:
            whole = whole_members(self.path)
            if whole is None:  # not gzip data: kept aside, never appended to
                self._set_aside(f"{self.path} is not gzip'd line protocol")
            elif whole < size:
                log.warning(
                    "telemetry: %s ends in a cut-off batch (a run killed while writing it):"
                    " its last %d bytes are removed before this run appends",
                    self.path,
                    size - whole,
                )
                os.truncate(self.path, whole)
        elif size:
            self._set_aside(None)
        # the owner's alone, as the event log beside it (a file of an earlier version too)
        self._fh = open_private(self.path, "ab" if self.append else "wb", tighten=True)

    def _set_aside(self, why: str | None) -> None:
        """Move the file there to ``previous``; without one, truncate it (``why`` None) or
        raise ServiceError saying ``why``."""
        if self.previous is not None:
            os.replace(self.path, self.previous)
            if why is not None:
                log.warning("telemetry: %s; kept as %s, a new file begun", why, self.previous)
        elif why is not None:
            raise ServiceError(f"telemetry: {why}; move it away")

    async def write(self, payload: bytes, lines: int) -> None:
        if self._fh is None:
            raise ServiceError(f"telemetry file {self.path} is not open")
        try:
            self._fh.write(payload)
            self._fh.flush()  # whole members in the file: a killed run leaves it readable
        except OSError as exc:
            raise ServiceError(f"telemetry file {self.path}: {exc}") from exc

    async def stop(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


def whole_members(path: Path) -> int | None:
    """The length of the whole gzip members ``path`` begins with: its size when it ends with
    a whole member, less when the last one is cut off; None when it holds anything that is
    not gzip data (not a gzip file, or a damaged one)."""
    good = 0
    offset = 0  # where the data being fed begins in the file
    member = zlib.decompressobj(31)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            data = chunk
            while data:
                try:
                    member.decompress(data)  # the text itself is not kept
                except zlib.error:  # damaged, not cut off: kept whole, aside
                    return None
                if not member.eof:
                    offset += len(data)
                    break
                rest = member.unused_data
                offset += len(data) - len(rest)
                good, data = offset, rest
                member = zlib.decompressobj(31)
    return good


class InfluxSink:
    """InfluxDB v2 write API through influxdb-client's async client (aiohttp).

    Works with InfluxDB 2.x (org, bucket, token), InfluxDB 3 Core (bucket = database),
    InfluxDB 1.8+ (bucket = ``db/rp``, token = ``user:password``) and VictoriaMetrics'
    ``/api/v2/write``. Batches are sent pre-compressed with ``Content-Encoding: gzip`` and
    nanosecond precision. A ``token`` given as an ``InfluxToken`` is named by its setting when
    it is refused. What the server answers is quoted with the token hidden (``redact``);
    ``start`` warns of a token given on the command line or sent over plain http to another
    host (``token_warnings``).
    """

    name = "influx"

    def __init__(
        self, url: str, token: str, org: str, bucket: str, timeout_s: float = 10.0
    ) -> None:
        self.url = url
        self.token = token
        self.org = org
        self.bucket = bucket
        self.timeout_s = timeout_s
        self.destination: Destination | None = Destination(url, org, bucket)
        self.endpoint = url.rstrip("/") + "/api/v2/write"
        self._client: Any = None
        self._service: Any = None

    def validate(self) -> None:
        problem = influx_url_problem(self.url)
        if problem:
            raise ConfigError("telemetry", "influx_url", problem)
        if not self.bucket:
            raise ConfigError("telemetry", "influx_bucket", "must not be empty")
        if self.timeout_s <= 0:
            raise ConfigError("telemetry", "write_timeout_s", "must be > 0")

    async def start(self) -> None:
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
        from influxdb_client.service.write_service import WriteService

        for warning in token_warnings(self.url, self.token):
            log.warning("telemetry: %s", warning)
        self._client = InfluxDBClientAsync(
            url=self.url,
            token=self.token or "-",
            org=self.org or "-",
            timeout=int(self.timeout_s * 1000),
            enable_gzip=False,  # payloads arrive compressed already
        )
        self._service = WriteService(self._client.api_client)

    async def write(self, payload: bytes, lines: int) -> None:
        import aiohttp
        from influxdb_client.rest import ApiException

        if self._service is None:
            raise ServiceError("influx sink is not started")
        try:
            await self._service.post_write_async(
                org=self.org or "-",
                bucket=self.bucket,
                body=payload,
                precision="ns",
                content_encoding="gzip",
                content_type="text/plain; charset=utf-8",
                async_req=False,
                _return_http_data_only=False,
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
            # a server or proxy may quote the request's Authorization header or the token,
            # and a proxy answers with an HTML page: its title, on one line
            message = excerpt(str(body or exc.reason or ""), self.token)
            token = token_source(self.token) if self.token else ""
            raise write_error(
                status, message, self.endpoint, self.bucket, lines, len(payload), token
            ) from exc
        except TimeoutError as exc:  # aiohttp's timeouts too; their text is empty
            raise TransientWriteError(
                f"no answer from {self.endpoint} within {self.timeout_s:g} s (TWIN_WRITE_TIMEOUT_S)"
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            said = redact(str(exc), self.token)
            raise TransientWriteError(f"{self.endpoint}: {type(exc).__name__}: {said}") from exc

    async def stop(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):  # closing a dead connection must not mask
                await self._client.close()
            self._client = None
            self._service = None
            await asyncio.sleep(0)  # let aiohttp close its transports (avoids warnings)
