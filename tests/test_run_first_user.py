"""The first run's engineer ``admin`` is made only once every check passed, and its password
is shown even when the start fails after it was made: no later start would show it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opcua_server import Role, load_users
from opcua_server.users import verify_password
from tests.conftest import SCENARIOS
from tests.opcua.conftest import require_nodesets, run_args
from twin.cli import main


def _args(tmp_path: Path, **files: Path) -> list[str]:
    scenario = str(SCENARIOS / "default.toml")
    return ["run", scenario, *run_args(tmp_path, **files), "--telemetry", "none"]


def test_a_start_refused_up_front_makes_no_user(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notadir").write_text("")
    args = _args(tmp_path, history=tmp_path / "notadir" / "history.sqlite")
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert err == f"error: command line: --history: {tmp_path / 'notadir'} is not a directory\n"
    assert "password" not in out
    assert not (tmp_path / "users.toml").exists()


def test_the_password_is_shown_when_the_server_fails_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_nodesets()
    pki = tmp_path / "pki"
    (pki / "own" / "key.pem").mkdir(parents=True)  # no check foresees it: the server fails
    assert main(_args(tmp_path)) == 2
    out, err = capsys.readouterr()
    assert err == f"error: command line: --pki: {pki / 'own' / 'key.pem'}: Is a directory\n"
    shown = re.search(r"^password of admin \(shown once\): (\S+)$", out, re.MULTILINE)
    assert shown is not None, out
    admin = load_users(tmp_path / "users.toml")["admin"]
    assert admin.role is Role.ENGINEER
    assert verify_password(shown.group(1), admin.password_hash)
    # the next start, refused again, shows nothing: the user exists
    assert main(_args(tmp_path)) == 2
    assert "password" not in capsys.readouterr().out


def test_a_start_failing_after_the_server_stops_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    require_nodesets()
    from opcua_server import TwinServer
    from twin.errors import ServiceError

    stopped: list[TwinServer] = []
    stop = TwinServer.stop

    async def spy(self: TwinServer, grace_s: float = 10.0) -> None:
        stopped.append(self)
        await stop(self, grace_s)

    async def fails(self: object, driver: object) -> None:
        raise ServiceError("telemetry failed to start")

    monkeypatch.setattr(TwinServer, "stop", spy)
    monkeypatch.setattr("twin.cli.live.LiveTelemetry.start", fails)
    assert main(_args(tmp_path)) == 2
    out, err = capsys.readouterr()
    assert err == "error: telemetry failed to start\n"
    assert len(stopped) == 1  # it had started: its sessions closed, its history flushed
    assert "password of admin (shown once): " in out
