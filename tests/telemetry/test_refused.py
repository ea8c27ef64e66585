"""A server that refuses the writes themselves (InfluxDB 1.6 without /api/v2/write, a bad
token): the lines are kept in the spool, the run says why and exits 1, and the replay command
it prints sends them where the run sent once that is fixed. Real servers throughout."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.dashboards.influxdb1 import InfluxDB1
from tests.opcua.conftest import start_cli
from tests.telemetry.servers import victoria_metrics
from tests.telemetry.test_victoria_metrics import (
    DAY,
    assert_same_samples,
    exported,
    file_run,
    vm_samples,
)
from twin.cli import main

RUN = ["simulate", "scenarios/default.toml", "--until", "1d", "--signals", "60s", "-q"]
INFLUX = [*RUN, "--no-plots", "--telemetry", "influx"]
AUTH = ("-httpAuth.username=twin", "-httpAuth.password=secret")  # VictoriaMetrics: a token is 401


def status(run: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["telemetry", "status", str(run), "--json"])
    return code, json.loads(capsys.readouterr().out)


def replay_hint(out: str) -> list[str]:
    """The command the run printed to send its spool, as arguments of ``main``."""
    command = out.split("send them with: ", 1)[1].splitlines()[0]
    command = command.partition(" (with TWIN_INFLUX_TOKEN")[0]
    argv = shlex.split(command)
    assert argv[:3] == ["twin", "telemetry", "replay"]
    return argv[1:]


@pytest.mark.services
def test_influxdb_1_6_without_v2_write_keeps_the_lines_and_fails_the_run(
    influx: InfluxDB1, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    argv = [*INFLUX, "--influx-url", influx.url, "--influx-bucket", "celltwin/autogen"]
    assert main([*argv, "--out", str(run)]) == 1
    out = capsys.readouterr().out
    assert f"NOT DELIVERED: HTTP 404 from {influx.url}/api/v2/write: no /api/v2/write" in out
    assert "InfluxDB older than 1.8?" in out
    assert "rejected" not in out
    code, st = status(run, capsys)
    assert code == 1  # kept, but nothing will deliver them until the URL is fixed
    assert st["lines_rejected"] == st["lines_written"] == 0
    assert st["spool_lines"] == st["lines_produced"] > 1000
    assert st["refused"].startswith(f"HTTP 404 from {influx.url}/api/v2/write")


@pytest.mark.services
def test_a_refused_token_keeps_the_lines_for_the_printed_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    vm = victoria_metrics(tmp_path / "vm", args=AUTH)  # answers 401 to a token
    vm.start()
    try:
        monkeypatch.setenv("TWIN_INFLUX_TOKEN", "not-the-token")
        run = tmp_path / "run"
        argv = [*INFLUX, "--influx-url", vm.url, "--influx-bucket", "cell one"]
        assert main([*argv, "--out", str(run)]) == 1
        out = capsys.readouterr().out
        assert f"NOT DELIVERED: HTTP 401 from {vm.url}/api/v2/write: the token is refused" in out
        assert "once fixed, send them with: twin telemetry replay" in out
        assert "(with TWIN_INFLUX_TOKEN set to the token)" in out
        assert "not-the-token" not in out
        code, before = status(run, capsys)
        assert code == 1
        assert before["spool_lines"] == before["lines_produced"] > 1000
        vm.stop()
        vm.args = ()  # the credentials are fixed
        vm.start()
        hint = replay_hint(out)
        assert hint[-2:] == ["--influx-bucket", "cell one"]
        assert main(hint) == 0
        code, after = status(run, capsys)
        assert code == 0
        assert after["spool_lines"] == 0
        assert after["refused"] == ""
        assert after["lines_written"] == after["lines_replayed"] == before["lines_produced"]
        want = vm_samples(file_run(tmp_path, DAY, 60.0))
        assert_same_samples(want, exported(vm, sum(map(len, want.values()))))
    finally:
        vm.stop()


@pytest.mark.services
def test_the_printed_replay_command_sends_where_the_run_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # the run's database is away: nothing listens there yet
    url = f"http://127.0.0.1:{port}"
    run = tmp_path / "run"
    argv = [*INFLUX, "--influx-url", url, "--influx-bucket", "db/rp", "--influx-org", "plant"]
    assert main([*argv, "--out", str(run)]) == 0  # waiting for a database is no failure
    out = capsys.readouterr().out
    assert "NOT DELIVERED" not in out
    assert "TWIN_INFLUX_TOKEN" not in out  # no token was used
    hint = replay_hint(out)
    assert hint == [
        "telemetry",
        "replay",
        str(run / "telemetry-spool"),
        "--influx-url",
        url,
        "--influx-bucket",
        "db/rp",
        "--influx-org",
        "plant",
    ]
    vm = victoria_metrics(tmp_path / "vm", port)
    vm.start()
    try:
        assert main(hint) == 0
        want = vm_samples(file_run(tmp_path, DAY, 60.0))
        assert_same_samples(want, exported(vm, sum(map(len, want.values()))))
    finally:
        vm.stop()


@pytest.mark.services
@pytest.mark.parametrize("refused", [True, False], ids=["token-refused", "database-away"])
async def test_twin_run_exits_1_when_it_stops_with_refused_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: bool
) -> None:
    """As ``twin simulate``: lines kept because the server refuses them fail the run; lines
    waiting for a database that is away do not."""
    vm = victoria_metrics(tmp_path / "vm", args=AUTH)  # answers 401 to a token
    if refused:
        vm.start()
    monkeypatch.setenv("TWIN_INFLUX_TOKEN", "not-the-token")
    monkeypatch.setenv("TWIN_STOP_TIMEOUT_S", "5")
    try:
        twin = await start_cli(
            "scenarios/default.toml",
            *("--port", "0", "--insecure-dev", "--out", str(tmp_path / "run")),
            *("--users", str(tmp_path / "users.toml"), "--pki", str(tmp_path / "pki")),
            *("--history", str(tmp_path / "h.sqlite")),
            *("--telemetry", "influx", "--influx-url", vm.url),
        )
        try:
            rest = await twin.stop(1 if refused else 0)
        finally:
            await twin.kill()
    finally:
        vm.stop()
    line = next(t for t in rest.splitlines() if t.startswith("telemetry (influx): "))
    assert "lines in spool" in line
    if refused:
        assert f"NOT DELIVERED: HTTP 401 from {vm.url}/api/v2/write: the token is refused" in line
    else:
        assert "NOT DELIVERED" not in line
