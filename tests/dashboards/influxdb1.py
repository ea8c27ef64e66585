"""A real InfluxDB 1.x (Debian package ``influxdb``) on a free loopback port, for the tests.

The server gets a minimal config in a temporary directory: HTTP on 127.0.0.1:<free port>, the
RPC service on another free loopback port, meta/data/wal under the directory, reporting,
monitoring and every other listener off.
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
from typing import Any, BinaryIO

from tests.conftest import free_port, missing_service

__all__ = ["InfluxDB1", "find_influxd", "influxdb1"]

INFLUXD = "/usr/bin/influxd"

CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root}/meta"
  logging-enabled = false

[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  trace-logging-enabled = false

[coordinator]
  log-queries-after = "0s"

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = false
  log-enabled = false
  flux-enabled = false

[subscriber]
  enabled = false

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false

[continuous_queries]
  enabled = false
"""


def find_influxd() -> str | None:
    """Path of the influxd binary, or None when InfluxDB 1.x is not installed."""
    if Path(INFLUXD).is_file():
        return INFLUXD
    return shutil.which("influxd")


def influxdb1(root: Path) -> InfluxDB1:
    """An influxd to start in ``root`` (skips the test, or fails it under
    TWIN_REQUIRE_SERVICES, when InfluxDB 1.x is not installed)."""
    binary = find_influxd()
    if binary is None:
        missing_service("InfluxDB 1.x (influxd) not installed: apt-get install influxdb")
    assert binary is not None
    return InfluxDB1(binary, root)


class InfluxDB1:
    """One influxd process; ``start`` waits for /ping, ``stop`` terminates it."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "influxdb.conf"
        config.write_text(
            CONFIG.format(root=self.root, rpc_port=free_port(), http_port=self.port),
            encoding="utf-8",
        )
        self._log = (self.root / "influxd.log").open("wb")
        self._proc = subprocess.Popen(
            [self.binary, "-config", str(config)], stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"influxd exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as r:
                    if r.status == 204:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)  # polling a readiness endpoint with a bounded deadline
        self.stop()
        raise RuntimeError(f"influxd not ready after {timeout} s: {self.log_tail()}")

    def log_tail(self) -> str:
        path = self.root / "influxd.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _post(self, path: str, params: dict[str, str], body: bytes) -> bytes:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        req = urllib.request.Request(url, data=body, method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return bytes(r.read())

    def query(self, q: str, db: str | None = None) -> dict[str, Any]:
        """Run one InfluxQL statement (GET, like Grafana's default); the first result."""
        params = {"q": q, "epoch": "ms"}
        if db is not None:
            params["db"] = db
        url = f"{self.url}/query?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                data = json.loads(r.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{q}: HTTP {exc.code} {exc.read()!r}") from exc
        result: dict[str, Any] = data["results"][0]
        return result

    def create_database(self, db: str) -> None:
        self._post("/query", {"q": f'CREATE DATABASE "{db}"'}, b"")

    def write(self, db: str, lines: list[str], chunk: int = 5000) -> None:
        """Write line protocol (nanosecond timestamps) through /write, in chunks."""
        for i in range(0, len(lines), chunk):
            body = "\n".join(lines[i : i + chunk]).encode()
            self._post("/write", {"db": db, "precision": "ns"}, body)
