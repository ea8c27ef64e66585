"""``twin users add | passwd | remove | list``: the password rule, clear errors that leave the
file as it was, the file always 0600, and changes a running server applies at the next
session."""

from __future__ import annotations

import fcntl
import io
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua

from opcua_server import Role, add_user, load_users
from opcua_server import users as users_module
from opcua_server.users import verify_password
from tests.conftest import assert_public_surface_is_all
from tests.opcua.conftest import Twin, start_twin
from twin.cli import main
from twin.errors import ConfigError
from twin.model.loader import read_toml

RULE = "error: command line: password: must have at least 8 characters, not all of them spaces\n"


def _twin_users(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str, stdin: str = ""
) -> tuple[int, str, str]:
    """``twin users ARGS`` with ``stdin``: exit code, standard output and error."""
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["users", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_public_surface_is_all() -> None:
    assert_public_surface_is_all("twin.cli.users")


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "users.toml"
    add_user(path, "erin", Role.ENGINEER, "erin-pass")
    add_user(path, "vera", Role.VIEWER, "vera-pass")
    return path


@pytest.mark.parametrize("password", ["a", " ", "1234567", " " * 8, "\t \t \t \t "])
def test_short_or_blank_passwords_are_refused(
    users: Path,
    password: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = users.read_bytes()
    for args in (["add", "erin", "--role", "engineer"], ["passwd", "erin"], ["add", "new"]):
        code, _, err = _twin_users(
            monkeypatch, capsys, *args, "--file", str(users), "--password-stdin", stdin=password
        )
        assert (code, err) == (2, RULE)
    assert users.read_bytes() == before


def test_passwd_keeps_the_role(
    users: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["passwd", "vera", "--file", str(users), "--password-stdin"]
    code, out, _ = _twin_users(monkeypatch, capsys, *args, stdin="a new pass phrase\n")
    assert code == 0
    assert out == f"new password for vera (viewer) in {users}\n"
    vera = load_users(users)["vera"]
    assert vera.role is Role.VIEWER
    assert verify_password("a new pass phrase", vera.password_hash)
    assert not verify_password("vera-pass", vera.password_hash)


def test_passwd_of_an_unknown_user_names_the_users(
    users: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = users.read_bytes()
    args = ["passwd", "bob", "--file", str(users), "--password-stdin"]
    code, _, err = _twin_users(monkeypatch, capsys, *args, stdin="bob-password\n")
    assert code == 2
    assert err == f"error: {users}: users.bob: no such user (users: erin, vera)\n"
    # asked at a terminal, it says so before asking for a password
    code, _, err = _twin_users(monkeypatch, capsys, *args[:-1])
    assert code == 2
    assert "no such user" in err
    assert users.read_bytes() == before


def test_remove_refuses_the_last_engineer_unless_forced(
    users: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = users.read_bytes()
    code, _, err = _twin_users(monkeypatch, capsys, "remove", "erin", "--file", str(users))
    assert code == 2
    assert err == (
        f"error: {users}: users.erin: is the last engineer: nobody could control the simulation"
        " or faults any more (add another engineer first, or remove it with --force)\n"
    )
    assert users.read_bytes() == before
    code, _, err = _twin_users(monkeypatch, capsys, "remove", "bob", "--file", str(users))
    assert (code, err) == (2, f"error: {users}: users.bob: no such user (users: erin, vera)\n")
    add_user(users, "emil", Role.ENGINEER, "emil-pass")
    code, out, _ = _twin_users(monkeypatch, capsys, "remove", "erin", "--file", str(users))
    assert (code, out) == (0, f"removed erin (engineer) from {users}\n")
    code, out, _ = _twin_users(
        monkeypatch, capsys, "remove", "emil", "--force", "--file", str(users)
    )
    assert (code, out) == (0, f"removed emil (engineer) from {users}\n")
    code, out, _ = _twin_users(monkeypatch, capsys, "remove", "vera", "--file", str(users))
    assert code == 0
    code, out, _ = _twin_users(monkeypatch, capsys, "list", "--file", str(users))
    assert (code, out) == (0, "")
    assert load_users(users) == {}


def test_a_leftover_temporary_file_never_widens_the_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file is written through a new temporary file of a name of its own, created 0600:
    neither a leftover of an older version nor a link planted at a known name is used."""
    users = tmp_path / "users.toml"
    leftover = tmp_path / "users.toml.tmp"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("keep")
    elsewhere.chmod(0o644)
    os.symlink(elsewhere, leftover)
    args = ["add", "olga", "--file", str(users), "--password-stdin"]
    assert _twin_users(monkeypatch, capsys, *args, stdin="olga-pass\n")[0] == 0
    args = ["passwd", "olga", "--file", str(users), "--password-stdin"]
    assert _twin_users(monkeypatch, capsys, *args, stdin="olga-pass-2\n")[0] == 0
    assert (users.stat().st_mode & 0o777) == 0o600
    assert not users.is_symlink()
    assert elsewhere.read_text() == "keep"
    assert verify_password("olga-pass-2", load_users(users)["olga"].password_hash)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".users.toml.lock",
        "elsewhere",
        "users.toml",
        "users.toml.tmp",
    ]  # no temporary file left behind


def test_an_edit_holds_the_lock_until_it_is_written(tmp_path: Path) -> None:
    """Two `twin users` at once: each edit reads the file and writes it back holding a lock
    beside it, so the second reads what the first wrote (without it, the second write
    replaced the first: one change lost)."""
    users = tmp_path / "users.toml"
    add_user(users, "admin", Role.ENGINEER, "admin-pass")
    reading = threading.Event()
    release = threading.Event()
    real = users_module.load_users

    def held(path: Path) -> dict[str, Any]:
        read = real(path)
        reading.set()
        assert release.wait(30)  # the edit stays open until the test has looked
        return read

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(users_module, "load_users", held)
        first = threading.Thread(target=add_user, args=(users, "bob", Role.VIEWER, "bob-passw"))
        first.start()
        assert reading.wait(30)
        with (tmp_path / ".users.toml.lock").open("a") as lock:
            with pytest.raises(BlockingIOError):  # another edit would wait here
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            release.set()
            first.join(30)
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once written
    add_user(users, "carol", Role.VIEWER, "carol-pass")
    assert sorted(load_users(users)) == ["admin", "bob", "carol"]


@pytest.mark.asyncio
async def test_passwd_and_remove_apply_to_the_next_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    twin: Twin = await start_twin(tmp_path)
    users = str(tmp_path / "users.toml")
    try:
        args = ["passwd", "otto", "--file", users, "--password-stdin"]
        assert _twin_users(monkeypatch, capsys, *args, stdin="otto-new-pass\n")[0] == 0
        async with twin.session("otto", password="otto-new-pass"):
            pass
        with pytest.raises(ua.UaStatusCodeError) as old:
            await twin.client("otto")  # the old password
        assert old.value.code == ua.StatusCodes.BadUserAccessDenied
        assert _twin_users(monkeypatch, capsys, "remove", "otto", "--file", users)[0] == 0
        with pytest.raises(ua.UaStatusCodeError) as removed:
            await twin.client("otto", password="otto-new-pass")
        assert removed.value.code == ua.StatusCodes.BadUserAccessDenied
    finally:
        await twin.server.stop()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"[users.erin]\nrole = \n", "invalid TOML: Invalid value (at line 2, column 8)"),
        (
            b'[users.erin]\nrole = "engineer',
            "invalid TOML: Unterminated string (at end of document)",
        ),
        (b"\xff\xfe[users]", "not UTF-8 text (byte 0xff at offset 0): save it as UTF-8"),
    ],
)
def test_a_broken_users_file_is_worded_as_a_broken_scenario(
    tmp_path: Path,
    text: bytes,
    reason: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every command that reads the users file says what a scenario file's loader says of the
    same text (``read_toml``): that it is not TOML (or not UTF-8) and where, in one line, exit
    code 2."""
    users = tmp_path / "users.toml"
    users.write_bytes(text)
    with pytest.raises(ConfigError) as as_scenario:
        read_toml(users)
    line = f"error: {as_scenario.value}\n"
    assert line.startswith(f"error: {users}: {reason}"), line
    stdin = "--password-stdin"
    for args in (["list"], ["add", "erin", stdin], ["passwd", "erin", stdin], ["remove", "erin"]):
        code, out, err = _twin_users(
            monkeypatch, capsys, *args, "--file", str(users), stdin="pa55word\n"
        )
        assert (code, out, err) == (2, "", line), args
    assert main(["run", "--users", str(users), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr() == ("", line)
    assert users.read_bytes() == text
    assert not (tmp_path / "out").exists()
