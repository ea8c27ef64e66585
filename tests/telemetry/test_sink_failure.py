"""What a sink should never do, and what the twin does when one does.

Credentials in the InfluxDB URL are refused before anything runs (aiohttp will not send them
along with the token's Authorization header, and the error it raised for that was lost in a
task). An exception no sink should raise (a bug, faked by ``FakeSink`` mode ``bug`` and by a
patched ``InfluxSink.write``) keeps the batch in the spool, is reported once, keeps the
accounting balanced and fails the run.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from tests.telemetry.fakes import FakeSink
from tests.telemetry.test_pipeline import lines, make
from twin.cli import main
from twin.errors import ConfigError
from twin.telemetry import InfluxSink

RUN = ["simulate", "scenarios/default.toml", "--until", "2h", "--no-plots", "-q"]
SECRET = "URLPASSWORD"


@pytest.mark.parametrize(
    ("source", "url", "named"),
    [
        ("option", f"http://user:{SECRET}@127.0.0.1:9/", "command line: --influx-url"),
        ("option", "http://user@127.0.0.1:9/", "command line: --influx-url"),
        ("environment", f"http://user:{SECRET}@127.0.0.1:9/", "environment: TWIN_INFLUX_URL"),
        ("environment", f"ftp://user:{SECRET}@127.0.0.1:9/", "environment: TWIN_INFLUX_URL"),
        # no scheme: the credentials are not where a URL parser looks for them
        ("environment", f"user:{SECRET}@127.0.0.1:9", "environment: TWIN_INFLUX_URL"),
        ("option", f"user:{SECRET}@db/celltwin", "command line: --influx-url"),
    ],
)
def test_credentials_in_the_url_are_refused_before_the_run(
    source: str,
    url: str,
    named: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = tmp_path / "run"
    argv = [*RUN, "--telemetry", "influx", "--out", str(run)]
    if source == "option":
        argv += ["--influx-url", url]
    else:
        monkeypatch.setenv("TWIN_INFLUX_URL", url)
    assert main(argv) == 2
    out = capsys.readouterr()
    text = out.out + out.err
    assert f"error: {named}: must not contain a user name or password" in out.err
    assert "give the credentials as the token instead (TWIN_INFLUX_TOKEN" in out.err
    assert SECRET not in text
    assert "Traceback" not in text
    assert not run.exists()  # refused before anything ran


def test_the_influx_sink_refuses_credentials_in_its_url() -> None:
    sink = InfluxSink(f"https://admin:{SECRET}@influx.example:8086", "", "org", "bucket")
    with pytest.raises(ConfigError, match="must not contain a user name or password") as info:
        sink.validate()
    assert info.value.field == "influx_url"
    assert SECRET not in str(info.value)


async def test_a_sink_bug_keeps_the_batches_reports_once_and_they_go_once_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = FakeSink()
    sink.mode = "bug"
    p = make(tmp_path, sink)
    await p.start()
    with caplog.at_level(logging.WARNING):
        p.write_lines(lines(0, 30))  # three batches
        await p.flush()
        async with asyncio.timeout(5):  # the replay loop tries the spool again: the same bug
            while sink.attempts <= 2:
                sink.attempted.clear()
                await sink.attempted.wait()
        stats = await p.stop(0.2)
    assert sink.attempts > 2
    assert stats.lines_produced == stats.spool_lines == stats.lines_spooled == 30
    assert stats.lines_written == stats.lines_dropped == stats.lines_rejected == 0
    assert stats.balanced()
    assert stats.refused.startswith("the fake sink failed: ValueError: Cannot combine")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.name for r in errors] == ["twin.telemetry"]  # once, and no "never retrieved"
    assert "the fake sink failed: ValueError" in errors[0].getMessage()
    status = json.loads((tmp_path / "spool" / "status.json").read_text())
    assert status["refused"] == stats.refused
    assert status["spool_lines"] == 30

    fixed = FakeSink()
    again = make(tmp_path, fixed)
    await again.start()
    replayed = await again.stop(5)
    assert sorted(fixed.lines) == sorted(lines(0, 30))
    assert replayed.spool_lines == 0
    assert replayed.refused == ""


def test_a_run_whose_sink_fails_keeps_its_lines_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def bug(self: InfluxSink, payload: bytes, lines: int) -> None:
        raise ValueError("Cannot combine AUTHORIZATION header with AUTH argument")

    monkeypatch.setattr(InfluxSink, "write", bug)
    run = tmp_path / "run"
    argv = [*RUN, "--telemetry", "influx", "--influx-url", "http://127.0.0.1:9", "--out", str(run)]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "NOT DELIVERED: the influx sink failed: ValueError: Cannot combine" in out
    assert "once fixed, send them with: twin telemetry replay" in out
    assert main(["telemetry", "status", str(run), "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    assert status["lines_produced"] == status["spool_lines"] > 0
    assert status["lines_written"] == status["lines_dropped"] == status["lines_rejected"] == 0
