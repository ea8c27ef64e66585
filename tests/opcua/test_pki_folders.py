"""The pki folders are the owner's alone: created 0700 whatever the umask; the server refuses
to start on one every user may write to, and warns about one its group may write to."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from opcua_server.security import ensure_certificate
from tests.opcua.conftest import start_twin
from twin.errors import ConfigError

_SUBS = ("own", "trusted", "rejected", "crl")


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 000: what mkdir gets is what the code asks for."""
    before = os.umask(0)
    try:
        yield
    finally:
        os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _ensure(pki: Path) -> None:
    ensure_certificate(pki, "urn:cell-twin:opcua-server", "127.0.0.1", "cell-twin test")


@pytest.mark.usefixtures("open_umask")
def test_the_folders_are_created_0700_whatever_the_umask(tmp_path: Path) -> None:
    pki = tmp_path / "var" / "opcua" / "pki"
    _ensure(pki)
    created = [tmp_path / "var", tmp_path / "var" / "opcua", pki, *(pki / s for s in _SUBS)]
    assert {str(p.relative_to(tmp_path)): _mode(p) for p in created} == {
        str(p.relative_to(tmp_path)): 0o700 for p in created
    }
    assert _mode(pki / "own" / "key.pem") == 0o600


async def test_the_server_refuses_to_start_on_a_folder_every_user_may_write_to(
    tmp_path: Path,
) -> None:
    trusted = tmp_path / "pki" / "trusted"
    trusted.mkdir(parents=True)
    trusted.chmod(0o777)  # as the old code made it under umask 000
    try:
        twin = await start_twin(tmp_path)
    except ConfigError as exc:
        refused = str(exc)
    else:
        await twin.server.stop()
        refused = "started"
    assert refused == (
        f"{trusted}: every user may write to it (mode 0777); make it yours alone: chmod 700"
    )


def test_a_parent_every_user_may_write_to_is_refused_unless_sticky(tmp_path: Path) -> None:
    """Anyone could move the pki folder aside and put their own in its place; the sticky bit
    (as on /tmp) lets only the owner rename it."""
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    with pytest.raises(ConfigError, match="state: every user may write to it"):
        _ensure(state / "pki")
    state.chmod(0o1777)
    _ensure(state / "pki")


def test_a_folder_another_user_made_first_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a shared folder such as /tmp (sticky: accepted as the parent, without a warning)
    another user may make the pki folder first, and could then trust a client or replace the
    key: it must be this user's (or root's)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    pki = shared / "pki"
    (pki / "trusted").mkdir(parents=True, mode=0o755)
    as_root = os.geteuid() == 0
    if as_root:
        away, owner = pki / "trusted", 65534  # nobody's
        os.chown(away, owner, owner)
    else:
        # giving a folder away needs root: this process passes for another user instead, so
        # every folder made here is someone else's (pki the first checked)
        away, owner = pki, os.geteuid()
        monkeypatch.setattr("opcua_server.folders.os.geteuid", lambda: owner + 1)
    refused = rf"{re.escape(str(away))}: owned by another user \(uid {owner},"
    with pytest.raises(ConfigError, match=refused):
        _ensure(pki)
    if as_root:
        os.chown(pki / "trusted", 0, 0)  # root's
    else:
        monkeypatch.undo()  # this user's again
    _ensure(pki)
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []


def test_a_folder_its_group_may_write_to_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    crl = tmp_path / "pki" / "crl"
    crl.mkdir(parents=True)
    crl.chmod(0o770)
    _ensure(tmp_path / "pki")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"{crl}: its group may write to it (mode 0770); chmod 700 unless that is intended"
    ]


@pytest.mark.usefixtures("open_umask")
def test_the_users_file_and_history_folders_are_created_0700(tmp_path: Path) -> None:
    # the first `twin run` under umask 000 made var/opcua 0777 for the users file, then
    # refused to start on it; anyone could have replaced the users there
    from opcua_server.history import SqliteHistory
    from opcua_server.users import Role, add_user

    users = tmp_path / "var" / "opcua" / "users.toml"
    add_user(users, "admin", Role.ENGINEER, "a-long-password")
    assert _mode(users.parent) == _mode(users.parent.parent) == 0o700
    assert _mode(users) == 0o600
    history = tmp_path / "hist" / "db" / "history.sqlite"
    store = SqliteHistory(history, retention_s=60.0, max_values=10, max_events=10)

    async def open_and_close() -> None:
        await store.init()
        await store.stop()

    asyncio.run(open_and_close())
    assert _mode(history.parent) == _mode(history.parent.parent) == 0o700
