"""Certificates created once and reused; the users file keeps only scrypt hashes."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import pytest
from cryptography import x509

from opcua_server import Role, add_user, load_users
from opcua_server.security import ensure_certificate
from opcua_server.users import TwinUser, TwinUserManager, UserRecord, verify_password
from tests.opcua.conftest import TEST_COST
from twin.errors import ConfigError


def test_certificate_is_created_once_and_reused(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path, "urn:x", "127.0.0.1", "x")
    data = first.cert.read_bytes()
    again = ensure_certificate(tmp_path, "urn:x", "127.0.0.1", "x")
    assert first.created
    assert not again.created
    assert again.cert.read_bytes() == data
    assert (first.key.stat().st_mode & 0o777) == 0o600
    moved = ensure_certificate(tmp_path, "urn:x", "192.0.2.7", "x")  # new address: new SAN
    assert moved.created
    cert = x509.load_der_x509_certificate(moved.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("192.0.2.7") in san.get_values_for_type(x509.IPAddress)


def test_users_file_stores_only_scrypt_hashes(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    assert not add_user(path, "alice", Role.OPERATOR, "s3cret-pass")
    text = path.read_text()
    assert "s3cret-pass" not in text
    assert "scrypt$" in text
    assert (path.stat().st_mode & 0o777) == 0o600
    users = load_users(path)
    assert users["alice"].role is Role.OPERATOR
    assert verify_password("s3cret-pass", users["alice"].password_hash)
    assert not verify_password("s3cret-pas", users["alice"].password_hash)
    assert add_user(path, "alice", Role.ENGINEER, "new-pass")  # replaces
    assert load_users(path)["alice"].role is Role.ENGINEER
    path.write_text('[users.bob]\nrole = "admin"\npassword = "scrypt$1$1$1$AA==$AA=="\n')
    with pytest.raises(ConfigError, match=r"users\.bob\.role: unknown role 'admin'"):
        load_users(path)
    path.write_text('[users.bob]\nrole = "viewer"\npassword = "plain"\n')
    with pytest.raises(ConfigError, match=r"users\.bob\.password"):
        load_users(path)


def test_users_file_is_read_again_only_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A login costs a ``stat`` of the users file; it is parsed again only after it changed."""
    from opcua_server import users as users_module

    path = tmp_path / "users.toml"
    add_user(path, "vera", Role.VIEWER, "vera-pass", cost=TEST_COST)
    reads: list[Path] = []
    load = users_module.load_users

    def counted(p: Path) -> dict[str, UserRecord]:
        reads.append(p)
        return load(p)

    monkeypatch.setattr(users_module, "load_users", counted)
    manager = TwinUserManager(path=path)
    for _ in range(3):
        assert manager.get_user(None, "vera", "vera-pass") is not None
    assert len(reads) == 1  # once, when the manager was made: logins only stat it
    add_user(path, "vera", Role.VIEWER, "other-pass", cost=TEST_COST)
    reads.clear()  # add_user's own read
    assert manager.get_user(None, "vera", "vera-pass") is None
    assert manager.get_user(None, "vera", "other-pass") is not None
    assert len(reads) == 1


def test_missing_nodesets_say_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from twin.cli import main

    monkeypatch.setenv("TWIN_NODESETS_DIR", str(tmp_path))
    users = tmp_path / "users.toml"
    assert main(["run", "--port", "0", "--users", str(users)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "Opc.Ua.MachineTool.NodeSet2.xml" in err
    assert "scripts/fetch-nodesets.sh" in err
    assert "TWIN_NODESETS_DIR" in err
    assert not users.exists()  # nothing was created


def test_taken_port_is_one_line_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from tests.opcua.conftest import require_nodesets
    from twin.cli import main

    require_nodesets()  # checked first: without the files the error is about them
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        users = tmp_path / "users.toml"
        args = ["run", "--port", str(port), "--users", str(users), "--out", str(tmp_path / "o")]
        assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"error: cannot listen on opc.tcp://127.0.0.1:{port}/cell-twin: Address already in use"
    )
    assert not users.exists()
    assert not (tmp_path / "o").exists()


def test_insecure_dev_without_users_file_follows_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """--insecure-dev: a missing users file is no users, not an error; anonymous sessions are
    engineers until a user is added, viewers from then on. Secure: refused at start."""
    path = tmp_path / "users.toml"
    with pytest.raises(ConfigError, match=r"users\.toml"):
        TwinUserManager(path=path)
    manager = TwinUserManager(path=path, insecure_dev=True)
    with caplog.at_level(logging.ERROR):
        assert manager.get_user(None, "vera", "vera-pass") is None
    assert caplog.text == ""
    anonymous = manager.get_user(None)
    assert isinstance(anonymous, TwinUser)
    assert anonymous.twin_role == Role.ENGINEER
    add_user(path, "vera", Role.VIEWER, "vera-pass", cost=TEST_COST)
    anonymous = manager.get_user(None)
    assert isinstance(anonymous, TwinUser)
    assert anonymous.twin_role == Role.VIEWER
    assert manager.get_user(None, "vera", "vera-pass") is not None
    assert set(manager.users) == {"vera"}
