"""The influx sink over real HTTP against a scripted loopback server: status code handling."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import free_port
from tests.telemetry.fakes import lines, make
from twin.cli import main
from twin.telemetry import (
    SPOOL_DIR,
    InfluxSink,
    Spool,
    TelemetryPipeline,
    TelemetrySettings,
)

#: in a ``Scripted.script``: the request is taken and not answered (a database that hangs)
HOLD = 0


class Scripted:
    """Answers writes with the next status of ``script`` (then 204); keeps accepted lines.

    A ``HOLD`` in the script sets ``held`` and waits for ``release``; the write is not taken.
    """

    def __init__(self) -> None:
        self.script: list[int] = []
        self.accepted: list[str] = []
        self.requests: list[dict[str, str]] = []
        self.authorization: set[str] = set()
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def write(self, request: web.Request) -> web.Response:
        self.requests.append(
            {**request.query, "encoding": request.headers.get("Content-Encoding", "")}
        )
        self.authorization.add(request.headers.get("Authorization", ""))
        body = await request.read()
        status = self.script.pop(0) if self.script else 204
        if status == HOLD:
            self.held.set()
            await self.release.wait()
            return web.Response(status=503)  # to a client long gone
        if status == 204:
            # aiohttp has undone the Content-Encoding: gzip already
            self.accepted += body.decode().splitlines()
            return web.Response(status=204)
        # a 400 as InfluxDB 2.x words one about the points (one about the body is refused)
        said = "unable to parse 'm,t=a v=': missing field value" if status == 400 else ""
        return web.json_response(
            {"code": "invalid", "message": f"scripted {status} {said}"}, status=status
        )


@pytest.fixture
async def server() -> AsyncIterator[tuple[Scripted, str]]:
    scripted = Scripted()
    app = web.Application()
    app.router.add_post("/api/v2/write", scripted.write)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield scripted, f"http://127.0.0.1:{port}"
    finally:
        scripted.release.set()  # a held request ends (cleanup would wait for it)
        await runner.cleanup()


def pipeline(url: str, tmp_path: Path) -> TelemetryPipeline:
    sink = InfluxSink(url, "user:pass", "org", "db/rp")
    spool = Spool(tmp_path / "spool", 10**7)
    return make(tmp_path, sink, spool=spool, max_in_flight=1, retry_max_s=0.02)


async def test_status_codes(
    server: tuple[Scripted, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scripted, url = server
    scripted.script = [400, 503, 429]
    p = pipeline(url, tmp_path)
    await p.start()
    with caplog.at_level(logging.WARNING, logger="twin.telemetry"):
        p.write_lines(lines(0, 10))  # 400: rejected for good
        await p.flush()
        p.write_lines(lines(10, 10))  # 503: spooled, then 429 on the first replay
        await p.flush()
        stats = await p.stop(10)
    assert stats.lines_rejected == 10
    assert stats.lines_spooled == 10
    assert stats.lines_replayed == 10
    assert scripted.accepted == lines(10, 10)
    assert stats.balanced()
    assert "rejected a batch of 10 lines: HTTP 400" in caplog.text
    assert "sample line: m,t=a v=0i 0" in caplog.text
    assert scripted.requests[0] == {
        "org": "org",
        "bucket": "db/rp",
        "precision": "ns",
        "encoding": "gzip",
    }


@pytest.mark.parametrize("status", [401, 403, 404, 405, 418])
async def test_a_write_refused_for_url_or_token_keeps_the_batch(
    server: tuple[Scripted, str], tmp_path: Path, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    scripted, url = server
    scripted.script = [status] * 1000  # refused until the end
    p = pipeline(url, tmp_path)
    await p.start()
    with caplog.at_level(logging.ERROR, logger="twin.telemetry"):
        p.write_lines(lines(0, 10))
        await p.flush()
        p.write_lines(lines(10, 10))  # waits in the spool behind the first
        stats = await p.stop(10)
    assert stats.lines_rejected == 0
    assert stats.spool_lines == 20
    assert stats.balanced()
    assert stats.refused.startswith(f"HTTP {status} from {url}/api/v2/write: ")
    assert caplog.text.count("refused the write, keeping the batches") == 1


async def test_a_batch_too_large_goes_in_halves_down_to_single_lines(
    server: tuple[Scripted, str], tmp_path: Path
) -> None:
    scripted, url = server
    # 8 lines: too large, then its first half (4) too, whose halves (2, 2) are taken; the
    # second half (4) is too large down to its lines, of which only the last is taken
    scripted.script = [413, 413, 204, 204, 413, 413, 413, 413, 413, 413, 204]
    p = pipeline(url, tmp_path)
    await p.start()
    p.write_lines(lines(0, 8))
    stats = await p.stop(10)
    assert scripted.accepted == lines(0, 4) + lines(7, 1)
    assert stats.lines_written == 5
    assert stats.lines_rejected == 3
    assert stats.batches_split == 5  # 8, 4 (first), 4 (second), 2, 2
    assert stats.spool_lines == 0
    assert stats.refused == ""
    assert stats.balanced()


@pytest.mark.parametrize("how", ["hurried", "deadline"])
@pytest.mark.parametrize(
    ("script", "written"),
    [
        # 10 lines: too large; its first half (5) is taken, the second held
        ((413, 204, HOLD), 5),
        # its first half (5) too large as well: of its halves (2, 3) the first is taken, the
        # second held, and the second half of the batch (5) is not sent at all
        ((413, 413, 204, HOLD), 2),
    ],
)
async def test_a_stop_between_halves_spools_only_the_lines_not_sent(
    server: tuple[Scripted, str], tmp_path: Path, script: tuple[int, ...], written: int, how: str
) -> None:
    scripted, url = server
    scripted.script = list(script)
    p = pipeline(url, tmp_path)
    await p.start()
    p.write_lines(lines(0, 10))
    if how == "hurried":  # a second Ctrl-C while the stop waits for the held half
        stopping = asyncio.create_task(p.stop(60))
        await asyncio.wait_for(scripted.held.wait(), 10)
        assert p.hurry()
        stats = await asyncio.wait_for(stopping, 10)
    else:  # the stop deadline passes while the half is held
        await asyncio.wait_for(scripted.held.wait(), 10)
        stats = await p.stop(0.2)
    assert scripted.accepted == lines(0, written)
    spooled = [
        line
        for path in sorted((tmp_path / "spool").glob("*.lp.gz"))
        for line in gzip.decompress(path.read_bytes()).decode().splitlines()
    ]
    assert spooled == lines(written, 10 - written)  # the lines not sent, each once
    assert stats.lines_written == written
    assert stats.spool_lines == 10 - written
    assert stats.lines_dropped == stats.lines_rejected == 0
    assert stats.balanced()


async def test_refused_batches_are_sent_once_the_server_takes_them(
    server: tuple[Scripted, str], tmp_path: Path
) -> None:
    scripted, url = server
    scripted.script = [404, 401]  # the first write and the first replay
    p = pipeline(url, tmp_path)
    await p.start()
    p.write_lines(lines(0, 10))
    await p.flush()
    stats = await p.stop(10)
    assert scripted.accepted == lines(0, 10)
    assert stats.lines_replayed == 10
    assert stats.refused == ""
    assert stats.balanced()


@pytest.mark.parametrize(("status", "outcome"), [(400, "rejected"), (422, "rejected"), (408, "")])
async def test_bad_data_is_rejected_and_a_timeout_retried(
    server: tuple[Scripted, str], tmp_path: Path, status: int, outcome: str
) -> None:
    scripted, url = server
    scripted.script = [status]
    p = pipeline(url, tmp_path)
    await p.start()
    p.write_lines(lines(0, 10))
    await p.flush()
    stats = await p.stop(10)
    assert stats.lines_rejected == (10 if outcome else 0)
    assert stats.lines_written == (0 if outcome else 10)
    assert stats.refused == ""
    assert stats.balanced()


def test_spool_bound_hit_is_counted_and_reported(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("TWIN_SPOOL_MAX_BYTES", "20000")
    monkeypatch.setenv("TWIN_BATCH_LINES", "500")
    monkeypatch.setenv("TWIN_STOP_TIMEOUT_S", "0.2")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    run = tmp_path / "run"
    args = ["simulate", "scenarios/default.toml", "--until", "6h", "--signals", "10s", "-q"]
    argv = [*args, "--no-plots", "--telemetry", "influx", "--influx-url", url, "--out", str(run)]
    assert main(argv) == 1  # exit 1: something was lost
    out = capsys.readouterr().out
    assert " DROPPED (spool full: TWIN_SPOOL_MAX_BYTES 19.5 KiB)" in out
    assert "telemetry: spool full (" in caplog.text
    assert "TWIN_SPOOL_MAX_BYTES 19.5 KiB, " in caplog.text
    # the spool is named where it is after the run (it was written aside, then moved)
    spool = run / SPOOL_DIR
    assert f"lines in spool {spool}," in out
    assert f"); send them with: twin telemetry replay {spool} --influx-url {url}\n" in out
    assert f"left in spool {spool} for the next run" in caplog.text
    assert ".partial-" not in out + caplog.text
    assert main(["telemetry", "status", str(run), "--json"]) == 1  # exit 1: something was lost
    status = json.loads(capsys.readouterr().out)
    assert status["lines_dropped"] > 0
    assert status["lines_written"] == 0
    assert 0 < status["spool_bytes"] <= 20000
    assert status["lines_produced"] == status["lines_dropped"] + status["spool_lines"]


async def test_the_token_is_read_from_twin_influx_token_file(
    server: tuple[Scripted, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Docker-secrets convention: the file holds the token (its newline is not part of
    it); the run writes with it and prints it nowhere."""
    scripted, url = server
    secret = tmp_path / "influx-token"
    secret.write_text("s3cret-write-token\n", encoding="utf-8")
    monkeypatch.delenv("TWIN_INFLUX_TOKEN", raising=False)
    monkeypatch.setenv("TWIN_INFLUX_TOKEN_FILE", str(secret))
    run = tmp_path / "run"
    argv = ["simulate", "scenarios/default.toml", "--until", "2h", "--no-plots", "-q"]
    argv += ["--telemetry", "influx", "--influx-url", url, "--out", str(run)]
    assert await asyncio.to_thread(main, argv) == 0  # the server answers on this loop
    assert scripted.authorization == {"Token s3cret-write-token"}
    assert len(scripted.accepted) > 0
    assert "s3cret" not in "".join(capsys.readouterr())


@pytest.mark.parametrize(
    ("content", "token", "error"),
    [
        (None, None, "environment: TWIN_INFLUX_TOKEN_FILE: cannot read {path}: No such file"),
        ("\n", None, "environment: TWIN_INFLUX_TOKEN_FILE: {path} is empty"),
        ("s3cret", "other", "environment: TWIN_INFLUX_TOKEN: TWIN_INFLUX_TOKEN_FILE gives the"),
    ],
)
def test_a_token_file_that_cannot_serve_is_named(
    content: str | None,
    token: str | None,
    error: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "influx-token"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    monkeypatch.setenv("TWIN_INFLUX_TOKEN_FILE", str(path))
    if token is None:
        monkeypatch.delenv("TWIN_INFLUX_TOKEN", raising=False)
    else:
        monkeypatch.setenv("TWIN_INFLUX_TOKEN", token)
    run = tmp_path / "run"
    argv = ["simulate", "scenarios/default.toml", "--until", "2h", "--no-plots", "-q"]
    assert main([*argv, "--telemetry", "influx", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"error: {error.format(path=path)}" in err
    assert "s3cret" not in err
    assert not run.exists()


@pytest.mark.parametrize(
    ("size", "max_bytes"),
    [("20000", 20000), ("1MiB", 1024 * 1024), ("256 MiB", 256 * 1024 * 1024), ("1GB", 10**9)],
)
def test_the_spool_bound_is_bytes_or_a_size(size: str, max_bytes: int) -> None:
    # the README's settings table gives the default as "256 MiB": that form is accepted too
    assert TelemetrySettings(spool_max_bytes=size).spool_max_bytes == max_bytes


def test_a_spool_bound_that_is_no_size_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWIN_SPOOL_MAX_BYTES", "lots")
    run = tmp_path / "run"
    argv = ["simulate", "scenarios/default.toml", "--until", "2h", "--no-plots", "-q"]
    assert main([*argv, "--out", str(run)]) == 2
    assert (
        "error: environment: TWIN_SPOOL_MAX_BYTES: expected bytes or a size such as 256MiB or"
        " 1GB, got 'lots'" in capsys.readouterr().err
    )
    assert not run.exists()
