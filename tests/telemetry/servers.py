"""A real VictoriaMetrics (Debian package ``victoria-metrics``) on a free loopback port.

Started with a temporary data directory and ``-retentionPeriod=100y`` (simulated runs are
stamped with the scenario start, which may be long ago). ``stop`` ends it gracefully (SIGTERM:
VictoriaMetrics flushes what it acknowledged); ``start`` again reuses port and data
directory, which is how the outage tests take the database away and bring it back.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import free_port, missing_service

__all__ = ["VictoriaMetrics", "find_victoria_metrics", "victoria_metrics"]

BINARY = "/usr/bin/victoria-metrics"


def find_victoria_metrics() -> str | None:
    """Path of the victoria-metrics binary, or None when it is not installed."""
    if Path(BINARY).is_file():
        return BINARY
    return shutil.which("victoria-metrics")


def victoria_metrics(
    root: Path, port: int | None = None, args: tuple[str, ...] = ()
) -> VictoriaMetrics:
    """A VictoriaMetrics to start (skips the test, or fails it under TWIN_REQUIRE_SERVICES,
    when it is not installed)."""
    binary = find_victoria_metrics()
    if binary is None:
        missing_service("victoria-metrics not installed (make services)")
    assert binary is not None
    return VictoriaMetrics(binary, root, port, args)


class VictoriaMetrics:
    """One VictoriaMetrics process; ``url`` is its HTTP base (InfluxDB v2 write API at
    ``/api/v2/write``, export at ``/api/v1/export``)."""

    def __init__(
        self, binary: str, root: Path, port: int | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.binary = binary
        self.root = root
        self.port = port or free_port()
        #: further command-line flags (``start`` after changing them restarts with them)
        self.args = args
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = root / "victoria-metrics.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start and wait until ``/health`` answers OK (bounded poll: process readiness)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    self.binary,
                    f"-httpListenAddr=127.0.0.1:{self.port}",
                    f"-storageDataPath={self.root / 'data'}",
                    "-retentionPeriod=100y",
                    "-search.disableCache",
                    "-loggerLevel=ERROR",
                    *self.args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"victoria-metrics exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"victoria-metrics not healthy after {timeout}s: {self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        """Graceful stop (SIGTERM; acknowledged data is flushed to disk), kill on timeout."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self._log.read_text(errors="replace")[-n:]
        except FileNotFoundError:
            return ""

    def _get(self, path: str, params: dict[str, str] | None = None) -> bytes:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=30) as resp:
            return bytes(resp.read())

    def force_flush(self) -> None:
        """Make recently written samples visible to queries and export."""
        self._get("/internal/force_flush")

    def export(self, match: str = '{__name__!=""}') -> list[dict[str, Any]]:
        """All series matching ``match`` with every raw sample (after a forced flush)."""
        self.force_flush()
        body = self._get("/api/v1/export", {"match[]": match, "start": "1"})
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def count(self, match: str = '{__name__!=""}') -> int:
        """Number of raw samples matching ``match``."""
        return sum(len(series["values"]) for series in self.export(match))

    def wait_for_count(
        self, expected: int, match: str = '{__name__!=""}', timeout: float = 10.0
    ) -> int:
        """Poll until ``expected`` samples are visible or ``timeout`` passes; returns the last
        count. Acknowledged samples become searchable shortly after a forced flush, not
        always at once (server-side visibility; a bounded poll, not a synchronisation)."""
        deadline = time.monotonic() + timeout
        got = self.count(match)
        while got < expected and time.monotonic() < deadline:
            time.sleep(0.2)
            got = self.count(match)
        return got

    def samples(self, match: str = '{__name__!=""}') -> dict[tuple[str, frozenset[Any]], list]:
        """``{(metric name, labels): [(timestamp ms, value), ...]}`` sorted by time."""
        out: dict[tuple[str, frozenset[Any]], list] = {}
        for series in self.export(match):
            labels = dict(series["metric"])
            name = labels.pop("__name__")
            key = (name, frozenset(labels.items()))
            out.setdefault(key, []).extend(zip(series["timestamps"], series["values"], strict=True))
        for values in out.values():
            values.sort()
        return out
