"""The telemetry token is never shown nor left readable: a server (or proxy) that quotes the
request's Authorization header in its error is quoted with the credentials hidden, on the
console and in the spool's status; the spool and its files are the owner's alone; a token
given on the command line or sent over plain http to another host is warned about. A real
HTTP server (``Frontend`` in ``leak`` mode) answers the writes."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.telemetry.fakes import lines
from tests.telemetry.frontend import Frontend
from tests.telemetry.test_refused import INFLUX
from twin.cli import main
from twin.telemetry import SPOOL_DIR, InfluxSink
from twin.telemetry.settings import InfluxToken, redact

TOKEN = "Zr8a-9qLmT3xWv_secret=="


@pytest.fixture
def leaky() -> Iterator[Frontend]:
    server = Frontend("http://127.0.0.1:9")  # never forwards: it answers itself
    server.mode = "leak"
    server.start()
    try:
        yield server
    finally:
        server.stop()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("token", "status"),
    [(TOKEN, 401), (TOKEN, 400), (TOKEN, 503), ("twin:s3cret-Pass9", 401)],
    ids=["401", "400-body", "503", "user-password"],
)
def test_a_server_quoting_the_token_is_quoted_without_it(
    leaky: Frontend,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    token: str,
    status: int,
) -> None:
    """Refused (401, a 400 about the body) or away (503), the server's answer is quoted
    with ``[REDACTED]`` where it had the credentials; the spool directory is 0700, its
    batches, origins and status 0600."""
    leaky.leak_status = status
    monkeypatch.delenv("TWIN_INFLUX_TOKEN_FILE", raising=False)
    monkeypatch.setenv("TWIN_INFLUX_TOKEN", token)
    monkeypatch.setenv("TWIN_STOP_TIMEOUT_S", "2")
    run = tmp_path / "run"
    main([*INFLUX, "--influx-url", leaky.url, "--out", str(run)])
    out, err = capsys.readouterr()
    assert leaky.requests > 0
    assert "[REDACTED]" in out + err  # it was quoted
    spool = run / SPOOL_DIR
    saved = json.loads((spool / "status.json").read_text(encoding="utf-8"))
    assert "[REDACTED]" in saved["last_error"]
    for secret in {token, token.partition(":")[2]} - {""}:
        assert secret not in out + err
        assert secret not in (spool / "status.json").read_text(encoding="utf-8")
    assert mode(spool) == 0o700
    files = [p for p in spool.iterdir() if not p.name.startswith(".")]
    assert {p.name for p in files} >= {"status.json", "origins.json"}
    assert len(files) > 2  # and the batches
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_a_spool_of_an_earlier_version_is_closed_to_others(
    leaky: Frontend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "run" / SPOOL_DIR
    spool.mkdir(parents=True, mode=0o755)
    spool.chmod(0o755)
    (spool / "status.json").write_text("{}", encoding="utf-8")
    (spool / "status.json").chmod(0o644)
    monkeypatch.setenv("TWIN_STOP_TIMEOUT_S", "2")
    main([*INFLUX, "--influx-url", leaky.url, "--out", str(tmp_path / "run")])
    assert mode(spool) == 0o700
    assert mode(spool / "status.json") == 0o600


def test_a_token_on_the_command_line_is_warned_about(
    leaky: Frontend,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("TWIN_INFLUX_TOKEN", "TWIN_INFLUX_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWIN_STOP_TIMEOUT_S", "2")
    argv = [*INFLUX, "--influx-url", leaky.url, "--out", str(tmp_path / "run")]
    main([*argv, "--influx-token", TOKEN])
    err = capsys.readouterr().err
    assert (
        "warning: telemetry: --influx-token puts the token on the command line, where every"
        " user of this host can read it (ps, /proc)"
    ) in err
    assert "set TWIN_INFLUX_TOKEN_FILE (a file only you can read) or TWIN_INFLUX_TOKEN" in err
    assert "unencrypted" not in err  # to this host


@pytest.mark.parametrize(
    ("url", "token", "warned"),
    [
        ("http://influx.plant.example:8086", "t0ken", True),
        ("http://10.0.0.5:8086", "t0ken", True),
        ("https://influx.plant.example:8086", "t0ken", False),
        ("http://127.0.0.1:8086", "t0ken", False),
        ("http://[::1]:8086", "t0ken", False),
        ("http://localhost:8086", "t0ken", False),
        ("http://influx.plant.example:8086", "", False),
    ],
)
async def test_a_token_over_plain_http_to_another_host_is_warned_about(
    caplog: pytest.LogCaptureFixture, url: str, token: str, warned: bool
) -> None:
    sink = InfluxSink(url, InfluxToken(token, "TWIN_INFLUX_TOKEN") if token else "", "o", "b")
    with caplog.at_level(logging.WARNING, logger="twin.telemetry"):
        await sink.start()
        await sink.stop()
    host = url.split("//")[1].rsplit(":", 1)[0]
    said = f"telemetry: the token goes unencrypted (http://) to {host}: anyone on the network"
    assert (said in caplog.text) is warned


@pytest.mark.parametrize(
    ("text", "token", "shown"),
    [
        (f"Authorization: Token {TOKEN}", "", "Authorization: [REDACTED]"),
        ('{"Authorization": "Bearer eyJhbGci.x1"}', "", '{"Authorization": "[REDACTED]"}'),
        (
            "got Bearer eyJhbGci.x1 and Token 0aF3kL9x==",
            "",
            "got Bearer [REDACTED] and Token [REDACTED]",
        ),
        (f"token {TOKEN} is not valid", TOKEN, "token [REDACTED] is not valid"),
        ("user twin, password s3cret-Pass9", "twin:s3cret-Pass9", "user twin, password [REDACTED]"),
        ("Basic dHdpbjpzM2NyZXQtUGFzczk=", "twin:s3cret-Pass9", "Basic [REDACTED]"),
        # words are no credentials
        ("unauthorized access: token required", "", "unauthorized access: token required"),
        (
            "Token is invalid; authorization not found",
            "",
            "Token is invalid; authorization not found",
        ),
        ("a short token: ab", "ab", "a short token: ab"),
    ],
)
def test_redact(text: str, token: str, shown: str) -> None:
    assert redact(text, token) == shown


def test_a_line_that_quotes_no_credentials_is_kept() -> None:
    assert redact("\n".join(lines(0, 3)), TOKEN) == "\n".join(lines(0, 3))
