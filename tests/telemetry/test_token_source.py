"""A refused token (401) is named by the setting that gave it: TWIN_INFLUX_TOKEN, the file of
TWIN_INFLUX_TOKEN_FILE (as Docker Compose gives it), or --influx-token; never by its value.
Real VictoriaMetrics with basic auth, which answers 401 to a wrong token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.opcua.conftest import start_cli
from tests.telemetry.servers import VictoriaMetrics, victoria_metrics
from tests.telemetry.test_refused import AUTH, INFLUX

WRONG = "not-the-token"


@pytest.fixture
def guarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VictoriaMetrics]:
    for name in ("TWIN_INFLUX_TOKEN", "TWIN_INFLUX_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    vm = victoria_metrics(tmp_path / "vm", args=AUTH)
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets" / "influx-token"
    path.parent.mkdir()
    path.write_text(WRONG + "\n", encoding="utf-8")
    return path


@pytest.mark.services
@pytest.mark.parametrize("given", ["env", "file", "option", "none"])
def test_a_refused_token_names_the_setting_that_gave_it(
    guarded: VictoriaMetrics,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    given: str,
) -> None:
    from twin.cli import main

    argv = [*INFLUX, "--influx-url", guarded.url, "--out", str(tmp_path / "run")]
    path = token_file(tmp_path)
    if given == "env":
        monkeypatch.setenv("TWIN_INFLUX_TOKEN", WRONG)
    elif given == "file":
        monkeypatch.setenv("TWIN_INFLUX_TOKEN_FILE", str(path))
    elif given == "option":
        argv += ["--influx-token", WRONG]
    assert main(argv) == 1
    out = capsys.readouterr().out
    refused = f"NOT DELIVERED: HTTP 401 from {guarded.url}/api/v2/write: "
    source = {
        "env": "TWIN_INFLUX_TOKEN",
        "file": f"TWIN_INFLUX_TOKEN_FILE ({path})",
        "option": "--influx-token",
    }
    if given == "none":
        assert refused + "the server wants a token and none was given (set TWIN_INFLUX_TOKEN" in out
    else:
        assert refused + f"the token is refused (from {source[given]}; user:password" in out
    hint = out.split("send them with: ", 1)[1]
    if given == "file":
        assert f"(with TWIN_INFLUX_TOKEN_FILE set to {path})" in hint
    elif given != "none":
        assert "(with TWIN_INFLUX_TOKEN set to the token)" in hint
    assert WRONG not in out


@pytest.mark.services
async def test_twin_run_names_the_token_file(
    guarded: VictoriaMetrics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``twin run`` as Docker Compose starts it: the token from TWIN_INFLUX_TOKEN_FILE."""
    path = token_file(tmp_path)
    monkeypatch.setenv("TWIN_INFLUX_TOKEN_FILE", str(path))
    monkeypatch.setenv("TWIN_STOP_TIMEOUT_S", "5")
    twin = await start_cli(
        "scenarios/default.toml",
        *("--port", "0", "--insecure-dev", "--out", str(tmp_path / "run")),
        *("--users", str(tmp_path / "users.toml"), "--pki", str(tmp_path / "pki")),
        *("--history", str(tmp_path / "h.sqlite")),
        *("--telemetry", "influx", "--influx-url", guarded.url),
    )
    try:
        rest = await twin.stop(1)
    finally:
        await twin.kill()
    line = next(t for t in rest.splitlines() if t.startswith("telemetry (influx): "))
    assert f"the token is refused (from TWIN_INFLUX_TOKEN_FILE ({path}); " in line
    assert WRONG not in rest
