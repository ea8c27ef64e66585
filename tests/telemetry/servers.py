"""A real VictoriaMetrics (Debian package ``victoria-metrics``) on a free loopback port, and a
real nginx (``nginx-light``) to put in front of it as a reverse proxy.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import free_port, missing_service

__all__ = [
    "NginxProxy",
    "VictoriaMetrics",
    "find_victoria_metrics",
    "nginx_proxy",
    "victoria_metrics",
]

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
        if not _answers(self._proc, self.binary, f"{self.url}/health", timeout, self.log_tail):
            self.stop()
            raise RuntimeError(f"victoria-metrics not healthy after {timeout}s: {self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        """Graceful stop (SIGTERM; acknowledged data is flushed to disk), kill on timeout."""
        if self._proc is not None:
            _terminate(self._proc, timeout)
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


NGINX = "/usr/sbin/nginx"

_NGINX_CONF = """\
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size {max_body};
        location / {{ proxy_pass {upstream}; }}
    }}
}}
"""


def nginx_proxy(root: Path, upstream: str, max_body: str) -> NginxProxy:
    """An nginx reverse proxy to ``upstream`` that refuses request bodies above ``max_body``
    (413), as one in front of a database does (skips the test, or fails it under
    TWIN_REQUIRE_SERVICES, when nginx is not installed)."""
    binary = NGINX if Path(NGINX).is_file() else shutil.which("nginx")
    if binary is None:
        missing_service("nginx not installed (make services)")
    assert binary is not None
    return NginxProxy(binary, root, upstream, max_body)


class NginxProxy:
    """One nginx process (no master, no daemon) with its config, logs and temporary files
    under ``root``; ``url`` is its HTTP base."""

    def __init__(self, binary: str, root: Path, upstream: str, max_body: str) -> None:
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = _NGINX_CONF.format(
            root=root, port=self.port, max_body=max_body, upstream=upstream
        )
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        """Start and wait until the port answers (bounded poll: process readiness)."""
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "nginx.conf"
        conf.write_text(self.config, encoding="utf-8")
        self._proc = subprocess.Popen(
            [
                self.binary,
                "-p",
                str(self.root),
                "-e",
                str(self.root / "error.log"),
                "-c",
                str(conf),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # /health through the proxy: VictoriaMetrics' answer
        if not _answers(self._proc, self.binary, f"{self.url}/health", timeout, self.log_tail):
            self.stop()
            raise RuntimeError(f"nginx not answering after {timeout}s: {self.log_tail()}")

    def stop(self) -> None:
        if self._proc is not None:
            _terminate(self._proc, 10.0)
        self._proc = None

    def log_tail(self, n: int = 2000) -> str:
        try:
            return (self.root / "error.log").read_text(errors="replace")[-n:]
        except FileNotFoundError:
            return ""


def _answers(
    proc: subprocess.Popen[bytes],
    binary: str,
    url: str,
    timeout: float,
    log_tail: Callable[[], str],
) -> bool:
    """Poll ``url`` until it answers 200 (True) or ``timeout`` passes (False): process
    readiness. Raises RuntimeError naming ``binary`` (the program ``proc`` runs) with the end
    of its log when the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{binary} exited with {proc.returncode}: {log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    return False


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Graceful stop (SIGTERM), kill on timeout."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
