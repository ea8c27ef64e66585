"""What the twin logs comes out on stderr as the CLI's other messages do, in one format for
every command: ``warning: <message>``, ``error: <message>``; once each, whichever library
configured logging (influxdb-client's module-level ``logging.debug`` used to install Python's
default ``ERROR:twin.telemetry:...`` format, ``twin run`` its own ``WARNING name: ...``)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SCENARIOS, free_port
from tests.opcua.conftest import run_args, start_cli
from tests.telemetry.servers import victoria_metrics
from twin.cli import main

TWIN = str(Path(sys.executable).with_name("twin"))  # the console script
DEFAULT = str(SCENARIOS / "default.toml")


def simulate_to_influx(out: Path, url: str) -> list[str]:
    return [
        *("simulate", DEFAULT, "--until", "2h", "-q", "--no-plots", "--out", str(out)),
        *("--telemetry", "influx", "--influx-url", url, "--influx-org", "o"),
        *("--influx-bucket", "b", "--influx-token", "t"),
    ]


def test_telemetry_warnings_are_warning_lines_once_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for run in ("a", "b"):  # the second command adds no second handler
        assert main(simulate_to_influx(tmp_path / run, url)) == 0
        lines = capsys.readouterr().err.splitlines()
        assert all(line.startswith("warning: telemetry: ") for line in lines), lines
        unavailable = [line for line in lines if "influx unavailable (" in line]
        assert len(unavailable) == 1, lines
        left = (
            f"warning: telemetry: 1 batch (81 lines) left in spool {tmp_path / run}/"
            "telemetry-spool for the next run"
        )
        assert lines.count(left) == 1, lines
    assert not any(type(h).__module__ == "twin.cli.common" for h in logging.getLogger().handlers)


@pytest.mark.services
def test_a_refused_write_is_an_error_line_in_a_real_process(tmp_path: Path) -> None:
    vm = victoria_metrics(tmp_path / "vm", args=("-httpAuth.username=u", "-httpAuth.password=p"))
    vm.start()
    try:
        args = simulate_to_influx(tmp_path / "run", vm.url)
        done = subprocess.run([TWIN, *args], capture_output=True, text=True, check=False)
    finally:
        vm.stop()
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert all(line.startswith(("warning: telemetry: ", "error: telemetry: ")) for line in lines)
    refused = (
        f"error: telemetry: influx refused the write, keeping the batches: HTTP 401 from {vm.url}"
    )
    assert [line.startswith(refused) for line in lines].count(True) == 1, done.stderr
    assert lines[-1].startswith("warning: telemetry: 1 batch (81 lines) left in spool ")


async def test_twin_run_warns_in_the_same_format(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    (pki / "own").mkdir(parents=True)
    (pki / "own" / "cert.der").write_bytes(b"not a certificate")
    (pki / "own" / "key.pem").write_bytes(b"not a key either")
    twin = await start_cli(
        DEFAULT,
        *run_args(tmp_path, pki=pki, history=tmp_path / "h.sqlite"),
        *("--telemetry", "none"),
    )
    try:
        await twin.stop()
    finally:
        await twin.kill()
    warned = f"warning: unreadable server certificate {pki}/own/cert.der: creating a new one"
    assert twin.banner.splitlines().count(warned) == 1, twin.banner
    assert "WARNING" not in twin.banner
