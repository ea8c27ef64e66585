"""Users of the OPC UA server: a TOML file of names, roles and scrypt password hashes.

File format (create and edit it with ``twin users add``)::

    [users.alice]
    role = "engineer"
    password = "scrypt$16384$8$1$<salt, base64>$<hash, base64>"

Roles are ordered: a viewer browses, reads, subscribes and reads history; an operator can
also control jobs (submit, cancel orders); an engineer can also control the simulation
(speed, pause, resume) and inject or clear faults.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w
from asyncua.crypto.permission_rules import User, UserRole

from twin.errors import ConfigError

if TYPE_CHECKING:
    from asyncua.server.internal_server import InternalServer

__all__ = [
    "Role",
    "TwinUser",
    "TwinUserManager",
    "UserRecord",
    "add_user",
    "hash_password",
    "load_users",
    "verify_password",
]

_log = logging.getLogger(__name__)

_N, _R, _P = 2**14, 8, 1  # scrypt cost: ~16 MiB, tens of ms per check
_NAME_MAX = 64


class Role(IntEnum):
    """Roles in increasing order of rights; a role has the rights of those below it."""

    VIEWER = 1
    OPERATOR = 2
    ENGINEER = 3

    @classmethod
    def parse(cls, value: str, where: str = "role") -> Role:
        try:
            return cls[value.upper()]
        except KeyError:
            known = ", ".join(r.name.lower() for r in cls)
            raise ConfigError("users", where, f"unknown role {value!r} (known: {known})") from None


@dataclass
class TwinUser(User):
    """An authenticated session user with its twin role (asyncua's ``User`` plus ``twin_role``)."""

    twin_role: Role = Role.VIEWER


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    role: Role
    password_hash: str


def hash_password(password: str) -> str:
    """scrypt hash with a random salt, as ``scrypt$N$r$p$salt$hash`` (base64 parts)."""
    if not password:
        raise ConfigError("users", "password", "must not be empty")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches ``encoded``; False for a wrong password or a bad hash."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def load_users(path: Path) -> dict[str, UserRecord]:
    """Users from ``path``; raises ConfigError naming the file and the bad entry."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            str(path), None, "users file not found (create it with `twin users add NAME`)"
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), None, str(exc)) from exc
    users: dict[str, UserRecord] = {}
    table = data.get("users", {})
    if not isinstance(table, dict):
        raise ConfigError(str(path), "users", "must be a table of users")
    for name, entry in table.items():
        where = f"users.{name}"
        if not isinstance(entry, dict):
            raise ConfigError(str(path), where, "must be a table with role and password")
        role, pw = entry.get("role"), entry.get("password")
        if not isinstance(role, str):
            raise ConfigError(str(path), f"{where}.role", "missing (viewer, operator, engineer)")
        if not isinstance(pw, str) or not pw.startswith("scrypt$"):
            raise ConfigError(
                str(path), f"{where}.password", "must be a scrypt hash (use `twin users add`)"
            )
        try:
            parsed = Role.parse(role, f"{where}.role")
        except ConfigError as exc:
            raise ConfigError(str(path), f"{where}.role", exc.reason) from None
        users[name] = UserRecord(name, parsed, pw)
    return users


def add_user(path: Path, name: str, role: Role, password: str) -> bool:
    """Add or replace user ``name`` in the file (created if missing, mode 0600).

    Returns True if the user existed before.
    """
    if not name or len(name) > _NAME_MAX or not name.isprintable() or name.strip() != name:
        raise ConfigError("command line", "NAME", "must be 1-64 printable characters")
    users = load_users(path) if path.exists() else {}
    existed = name in users
    users[name] = UserRecord(name, role, hash_password(password))
    doc: dict[str, Any] = {
        "users": {
            u.name: {"role": u.role.name.lower(), "password": u.password_hash}
            for u in users.values()
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"# cell-twin OPC UA users: scrypt password hashes; edit with `twin users add`\n")
        tomli_w.dump(doc, fh)
    tmp.replace(path)
    return existed


class TwinUserManager:
    """asyncua user manager: username/password against the users file; anonymous if allowed.

    With ``path`` the users are the file's: read when the manager is made (ConfigError when it
    is missing or invalid) and again when it changes (its mtime, size or inode, checked at each
    login: one ``stat``), so users added, changed or removed with ``twin users add`` or by hand
    apply from the next session on, without a restart. A file that becomes invalid allows no
    user at all (logged) until it is fixed: a broken edit never keeps a user someone meant to
    remove. Without ``path`` the ``users`` given are fixed.

    ``insecure_dev`` allows anonymous sessions (development only): engineers while there are
    no users at all, viewers once there are; a missing file is then no users, not an error.

    A successful check is remembered as an HMAC of the password under a per-process key, so
    reconnecting clients do not pay the scrypt cost each time (the hash stays the authority).
    """

    def __init__(
        self,
        users: dict[str, UserRecord] | None = None,
        *,
        path: Path | None = None,
        insecure_dev: bool = False,
    ) -> None:
        self._path = path
        self._insecure = insecure_dev
        self._key = secrets.token_bytes(32)
        self._verified: dict[str, bytes] = {}
        self._users = dict(users or {})
        self._stamp = self._stat()  # before the read: a change after it is read again
        if path is not None:
            self._users = self._load(path)

    @property
    def users(self) -> Mapping[str, UserRecord]:
        """The users now (the file re-read if it changed)."""
        return self._current()

    def anonymous_role(self) -> Role | None:
        """The role of an anonymous session; None when anonymous sessions are refused."""
        if not self._insecure:
            return None
        return Role.VIEWER if self._current() else Role.ENGINEER

    def _load(self, path: Path) -> dict[str, UserRecord]:
        if self._insecure and not path.exists():
            return {}
        return load_users(path)

    def _stat(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _current(self) -> dict[str, UserRecord]:
        """The users, re-read first if the file changed since they were read."""
        if self._path is None:
            return self._users
        stamp = self._stat()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._users = self._load(self._path)
            except ConfigError as exc:
                _log.error("users file unusable, no user can log in until it is fixed: %s", exc)
                self._users = {}
            self._verified = {n: m for n, m in self._verified.items() if n in self._users}
        return self._users

    def get_user(
        self,
        iserver: InternalServer,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        # ``certificate`` is the secure channel's client certificate, present for any token;
        # X509 identity tokens are not offered, so no username means an anonymous token
        if username is None:
            anonymous = self.anonymous_role()
            if anonymous is not None:
                return TwinUser(role=UserRole.User, name="anonymous", twin_role=anonymous)
            return None
        record = self._current().get(username)
        if record is None or password is None:
            return None
        mac = hmac.new(self._key, f"{record.password_hash}\0{password}".encode(), "sha256").digest()
        known = self._verified.get(username)
        if known is None or not hmac.compare_digest(known, mac):
            if not verify_password(password, record.password_hash):
                return None
            self._verified[username] = mac
        return TwinUser(role=UserRole.User, name=username, twin_role=record.role)
