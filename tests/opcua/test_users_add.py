"""``twin users add`` and ``list`` (in ``twin.cli.users`` with passwd and remove): the
password read as the others read it, and the last engineer never demoted by accident."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from opcua_server import Role, add_user, load_users
from opcua_server.users import verify_password
from tests.opcua.conftest import USERS
from twin.cli import main


@pytest.fixture
def users(tmp_path: Path) -> Path:
    """vera (viewer), otto (operator), erin (the one engineer)."""
    path = tmp_path / "users.toml"
    for name, (role, password) in USERS.items():
        add_user(path, name, role, password)
    return path


def _add(
    monkeypatch: pytest.MonkeyPatch, users: Path, *args: str, stdin: str = "new-pass\n"
) -> tuple[int, io.StringIO]:
    given = io.StringIO(stdin)
    monkeypatch.setattr("sys.stdin", given)
    code = main(["users", "add", *args, "--file", str(users), "--password-stdin"])
    return code, given


def test_the_last_engineer_is_not_demoted_without_force(
    users: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = users.read_bytes()
    for role in ("viewer", "operator"):
        code, stdin = _add(monkeypatch, users, "erin", "--role", role)
        assert code == 2
        assert capsys.readouterr().err == (
            f"error: {users}: users.erin: is the last engineer; with role {role}, nobody could"
            " control the simulation or faults any more (add another engineer first, or give"
            " --force)\n"
        )
        assert stdin.tell() == 0  # refused before the password was read
    assert users.read_bytes() == before
    # the same role, a new password: fine
    assert _add(monkeypatch, users, "erin", "--role", "engineer")[0] == 0
    assert capsys.readouterr().out == f"updated erin (engineer): new password in {users}\n"
    # with another engineer beside it, an engineer may take another role
    assert _add(monkeypatch, users, "olga", "--role", "engineer")[0] == 0
    assert capsys.readouterr().out == f"added olga (engineer) in {users}\n"
    assert _add(monkeypatch, users, "erin", "--role", "operator")[0] == 0
    assert capsys.readouterr().out == (
        f"updated erin (engineer -> operator): new password in {users}\n"
    )
    # olga is the last one now: only with --force
    assert _add(monkeypatch, users, "olga", "--role", "viewer")[0] == 2
    assert _add(monkeypatch, users, "olga", "--role", "viewer", "--force")[0] == 0
    olga = load_users(users)["olga"]
    assert olga.role is Role.VIEWER
    assert verify_password("new-pass", olga.password_hash)


def test_add_reads_the_password_as_passwd_does(
    users: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    typed: Iterator[str] = iter(["first-pass", "other-pass"])
    monkeypatch.setattr("twin.cli.users._ask_password", lambda prompt: next(typed))
    assert main(["users", "add", "olga", "--file", str(users)]) == 2
    assert capsys.readouterr().err == "error: command line: password: the two entries differ\n"
    assert "olga" not in load_users(users)
    assert main(["users", "--help"]) == 0  # add and list beside passwd and remove
    listed = capsys.readouterr().out
    assert all(f" {command} " in listed for command in ("add", "list", "passwd", "remove"))
