"""Users of the OPC UA server: a TOML file of names, roles and scrypt password hashes.

File format (create and edit it with ``twin users add``, ``passwd``, ``remove``)::

    [users.alice]
    role = "engineer"
    password = "scrypt$131072$8$1$<salt, base64>$<hash, base64>"

Roles are ordered: a viewer browses, reads, subscribes and reads history; an operator can
also control jobs (submit, cancel orders); an engineer can also control the simulation
(speed, pause, resume) and inject or clear faults. A password has at least 8 characters, not
all of them spaces.

Logins are logged on the ``opcua_server.audit`` logger (``AUDIT_LOGGER``) and throttled
(``opcua_server.throttle``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import functools
import hashlib
import hmac
import logging
import math
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w
from asyncua.crypto.permission_rules import User, UserRole

from opcua_server.folders import private_folders
from opcua_server.peer import PEER, host_of
from opcua_server.settings import Limits
from opcua_server.throttle import LoginThrottle
from twin.errors import ConfigError
from twin.files import write_durably
from twin.model.loader import read_toml
from twin.text import plural

if TYPE_CHECKING:
    from asyncua.server.internal_server import InternalServer

__all__ = [
    "AUDIT_LOGGER",
    "Role",
    "TwinUser",
    "TwinUserManager",
    "UserRecord",
    "add_user",
    "check_password",
    "find_user",
    "hash_password",
    "load_users",
    "remove_user",
    "set_password",
    "shown_user",
    "verify_password",
]

AUDIT_LOGGER = "opcua_server.audit"

_log = logging.getLogger(__name__)

_N, _R, _P = 2**17, 8, 1  # scrypt cost of new hashes: 128 MiB, ~0.3 s per check
_N_MAX = 2**20  # a stored hash asking for more (a slip in the file) is not checked: 1 GiB
_NAME_MAX = 64
_PASSWORD_MIN = 8
_HEADER = b"# cell-twin OPC UA users: scrypt password hashes; edit with `twin users ...`\n"


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


def check_password(password: str) -> None:
    """Raises ConfigError unless ``password`` has at least 8 characters, not all whitespace."""
    if len(password) < _PASSWORD_MIN or password.isspace():
        raise ConfigError(
            "command line",
            "password",
            f"must have at least {_PASSWORD_MIN} characters, not all of them spaces",
        )


def hash_password(password: str, *, cost: int = _N) -> str:
    """scrypt hash with a random salt, as ``scrypt$N$r$p$salt$hash`` (base64 parts), N =
    ``cost`` (a power of two; a test suite logging in hundreds of times may take 2^14, the
    cost of older hashes); raises ConfigError for a password ``check_password`` refuses."""
    check_password(password)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=cost, r=_R, p=_P, dklen=32, maxmem=_maxmem(cost, _R, _P)
    )
    b64 = base64.b64encode
    return f"scrypt${cost}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches ``encoded``; False for a wrong password or a bad hash.
    A hash is checked with the cost it was made with (older ones: N = 2^14), up to N = 2^20
    with r = 8."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        cost, block, parallel = int(n), int(r), int(p)
        if scheme != "scrypt" or cost * block > _N_MAX * _R or parallel > 16:
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=cost,
            r=block,
            p=parallel,
            dklen=len(expected),
            maxmem=_maxmem(cost, block, parallel),
        )
    except (ValueError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


def _maxmem(n: int, r: int, p: int) -> int:
    """The memory scrypt needs for these parameters, with room (OpenSSL's default allows
    32 MiB, less than N = 2^17 with r = 8 takes)."""
    return 128 * r * (n + p + 2) + 1024 * 1024


def load_users(path: Path) -> dict[str, UserRecord]:
    """Users from ``path``; raises ConfigError naming the file and the bad entry."""
    try:
        data = read_toml(path)  # a bad file worded as a scenario's: "invalid TOML: ... (at line"
    except ConfigError as exc:
        if isinstance(exc.__cause__, FileNotFoundError):
            raise ConfigError(
                str(path), None, "users file not found (create it with `twin users add NAME`)"
            ) from None
        raise
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


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password at the default cost, made once per process (0.3 s): what
    an unknown user's password is checked against, so that it costs what a known one does."""
    return hash_password(secrets.token_urlsafe(16))


def add_user(path: Path, name: str, role: Role, password: str, *, cost: int = _N) -> bool:
    """Add or replace user ``name`` in the file (created if missing, mode 0600); ``cost``:
    as ``hash_password``'s.

    Returns True if the user existed before. Raises ConfigError for a bad name or password
    (``check_password``) or an invalid file, which it leaves as it is.
    """
    if not name or len(name) > _NAME_MAX or not name.isprintable() or name.strip() != name:
        raise ConfigError("command line", "NAME", "must be 1-64 printable characters")
    hashed = hash_password(password, cost=cost)
    with _editing(path, missing_ok=True) as users:
        existed = name in users
        users[name] = UserRecord(name, role, hashed)
    return existed


def set_password(path: Path, name: str, password: str) -> Role:
    """Give user ``name`` a new password (its role kept); returns its role. Raises ConfigError
    for an unknown user, a password ``check_password`` refuses or an invalid file."""
    hashed = hash_password(password)
    with _editing(path) as users:
        record = _known(path, users, name)
        users[name] = UserRecord(name, record.role, hashed)
    return record.role


def remove_user(path: Path, name: str, *, last_engineer: bool = False) -> Role:
    """Remove user ``name`` from the file; returns the role it had. Raises ConfigError for an
    unknown user or an invalid file, and, unless ``last_engineer``, when ``name`` is the last
    engineer (nobody could control the simulation any more)."""
    with _editing(path) as users:
        record = _known(path, users, name)
        others = [u for u in users.values() if u.name != name and u.role is Role.ENGINEER]
        if record.role is Role.ENGINEER and not others and not last_engineer:
            raise ConfigError(
                str(path),
                f"users.{name}",
                "is the last engineer: nobody could control the simulation or faults any more "
                "(add another engineer first, or remove it with --force)",
            )
        del users[name]
    return record.role


def find_user(path: Path, name: str) -> UserRecord:
    """User ``name`` of the file; raises ConfigError for an unknown user or an invalid file."""
    return _known(path, load_users(path), name)


def _known(path: Path, users: Mapping[str, UserRecord], name: str) -> UserRecord:
    record = users.get(name)
    if record is None:
        known = ", ".join(sorted(users)) or "none"
        raise ConfigError(str(path), f"users.{name}", f"no such user (users: {known})")
    return record


@contextlib.contextmanager
def _editing(path: Path, missing_ok: bool = False) -> Iterator[dict[str, UserRecord]]:
    """The users of the file to change, written back (atomically, mode 0600) when the block
    ends without an error. One edit at a time (a lock beside the file): two `twin users` at
    once would otherwise lose one's change."""
    private_folders(path.parent, [])  # 0700: who may write there may replace the users
    with open(path.parent / f".{path.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        users = load_users(path) if path.exists() or not missing_ok else {}
        yield users
        _write_users(path, users)


def _write_users(path: Path, users: Mapping[str, UserRecord]) -> None:
    doc: dict[str, Any] = {
        "users": {
            u.name: {"role": u.role.name.lower(), "password": u.password_hash}
            for u in users.values()
        }
    }
    write_durably(path, _HEADER + tomli_w.dumps(doc).encode(), mode=0o600)


class TwinUserManager:
    """asyncua user manager: username/password against the users file; anonymous if allowed.

    With ``path`` the users are the file's: read when the manager is made (ConfigError when it
    is missing or invalid) and again when it changes (its mtime, size or inode, checked at each
    login: one ``stat``), so users added, changed or removed with ``twin users`` or by hand
    apply from the next session on, without a restart. A file that becomes invalid allows no
    user at all (logged, naming the file and line) until it is fixed: a broken edit never keeps
    a user someone meant to remove. Without ``path`` the ``users`` given are fixed.

    ``insecure_dev`` allows anonymous sessions (development only): engineers while the file has
    never existed since the manager was made, viewers once it has, also when it then breaks or
    vanishes: a broken file never raises anyone's rights. A missing file is then no users,
    not an error.

    Every check costs the same, for an unknown user too (a dummy hash is checked): the time
    of a refusal tells nothing of which names exist. ``throttle`` (a ``LoginThrottle``)
    counts failures per user name at a client address, per user name and per client address,
    refuses locked ones unchecked, and budgets the checks; ``limits`` (``Limits.login_*``,
    ``password_check*``) says how many failures lock each, so that a guesser at one address
    locks its own guesses at a name soon (5) and the address, or the name everywhere, only
    later (20): other users behind the same address log in meanwhile. A success starts the
    name afresh (at that address and everywhere), not the address; a new password in the
    file lifts the name's locks.
    A successful check is remembered as an HMAC of the password under a per-process key, so
    reconnecting clients do not pay the scrypt cost each time (the hash stays the authority).

    Each login is logged on ``audit`` (default: the ``opcua_server.audit`` logger): user name,
    client address, role or why it was refused; never a password. Successes at INFO,
    refusals at WARNING.
    """

    def __init__(
        self,
        users: dict[str, UserRecord] | None = None,
        *,
        path: Path | None = None,
        insecure_dev: bool = False,
        throttle: LoginThrottle | None = None,
        limits: Limits | None = None,
        audit: logging.Logger | None = None,
    ) -> None:
        self._path = path
        self._insecure = insecure_dev
        self._limits = limits = limits or Limits()
        self.throttle = throttle or LoginThrottle(
            limit=limits.login_failures_per_user_at_address,
            base_s=limits.login_lock_s,
            cap_s=limits.login_lock_max_s,
            forget_s=max(3600.0, limits.login_lock_max_s),
            checks_per_s=limits.password_checks_per_s,
            burst=limits.password_check_burst,
        )
        self._audit = audit or logging.getLogger(AUDIT_LOGGER)
        self._key = secrets.token_bytes(32)
        self._dummy = _dummy_hash()  # the check of unknown users
        self._verified: dict[str, bytes] = {}
        self._checking: asyncio.Lock | None = None  # made in the event loop that checks
        self._users = dict(users or {})
        self._seen = path is None and bool(self._users)  # anonymous sessions only view
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
        self._current()
        return Role.VIEWER if self._seen else Role.ENGINEER

    def _load(self, path: Path) -> dict[str, UserRecord]:
        if self._insecure and not path.exists():
            if self._seen:
                _log.error(
                    "users file %s is gone: no user can log in and anonymous sessions stay "
                    "viewers until it is back",
                    path,
                )
            return {}
        self._seen = True  # it exists: whatever it holds, anonymous sessions only view now
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
            before = self._users
            try:
                self._users = self._load(self._path)
            except ConfigError as exc:
                _log.error("users file unusable, no user can log in until it is fixed: %s", exc)
                self._users = {}
            self._verified = {n: m for n, m in self._verified.items() if n in self._users}
            for name, record in self._users.items():
                old = before.get(name)
                if old is not None and old.password_hash != record.password_hash:
                    self.throttle.forget(_user_key(name))  # a new password: a fresh start
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
        peer = PEER.get()
        host = host_of(peer) if peer else ""
        peer = peer or "an unknown address"
        if username is None:
            anonymous = self.anonymous_role()
            if anonymous is None:
                self._audit.warning("login refused: anonymous from %s: not allowed", peer)
                return None
            self._audit.info("login ok: anonymous (%s) from %s", anonymous.name.lower(), peer)
            return TwinUser(role=UserRole.User, name="anonymous", twin_role=anonymous)
        prepared = _PREPARED.get()
        mac = self._login_mac(username, password or "")
        if prepared is not None and hmac.compare_digest(prepared[0], mac):
            record, why = prepared[1]
        else:
            record, why = self._check(username, password or "", host)
        if record is None:
            self._audit.warning("login refused: %s from %s: %s", shown_user(username), peer, why)
            return None
        self._audit.info(
            "login ok: %s (%s) from %s", shown_user(username), record.role.name.lower(), peer
        )
        return TwinUser(role=UserRole.User, name=username, twin_role=record.role)

    def _check(self, username: str, password: str, host: str) -> _Result:
        """The user if ``password`` is right, else None and why (for the audit log); the
        password checked here, on the caller's thread (see ``prepared``)."""
        step = self._begin(username, password, host)
        if not isinstance(step, _Pending):
            return step
        return self._end(step, verify_password(password, step.encoded))

    def _begin(self, username: str, password: str, host: str) -> _Result | _Pending:
        """What ``_check`` answers without checking the password (locked, known, no budget),
        or the check to make."""
        users = self._current()  # first: a password changed in the file lifts its lock
        limits = self._login_keys(username, host)
        for key in limits:
            locked = self.throttle.locked_for(key)
            if locked > 0:
                count = self.throttle.failures(key)
                more = math.ceil(locked)
                return None, f"{key} locked for {more} s more after {plural(count, 'failure')}"
        record = users.get(username)
        encoded = self._dummy if record is None else record.password_hash
        mac = hmac.new(self._key, f"{encoded}\0{password}".encode(), "sha256").digest()
        known = self._verified.get(username)
        pending = _Pending(username, record, encoded, mac, limits)
        if record is not None and known is not None and hmac.compare_digest(known, mac):
            return self._end(pending, True)
        if not self.throttle.take_check():
            return None, "not checked: too many password checks at once (server busy)"
        # an unknown user costs the same check (a dummy hash): no timing tells names apart
        return pending

    def _end(self, pending: _Pending, right: bool) -> _Result:
        """The answer to a login whose password was checked: ``right`` or not."""
        record, keys = pending.record, pending.limits
        if record is None or not right:
            why = "unknown user" if record is None else "wrong password"
            for key, seconds in self.throttle.failed(keys, keys).items():
                why += f"; {key} locked for {seconds:.0f} s"
            return None, why
        self._verified[pending.username] = pending.mac
        # the name starts afresh, not the address: a success of one account (a viewer's)
        # must not let its address go on guessing at others
        self.throttle.succeeded(k for k in keys if k.startswith("user "))
        return record, ""

    @contextlib.asynccontextmanager
    async def prepared(self, username: str, password: str) -> AsyncIterator[None]:
        """Within the block, ``get_user`` of this login (the same name and password, in the
        same task) answers what was checked before it: the password checked on a worker
        thread, not on the event loop that serves every session, one check at a time (so
        that the throttle counts each failure before the next check). asyncua asks
        ``get_user`` synchronously, while activating a session."""
        peer = PEER.get()
        host = host_of(peer) if peer else ""
        if self._checking is None:
            self._checking = asyncio.Lock()
        async with self._checking:
            step = self._begin(username, password, host)
            if isinstance(step, _Pending):
                right = await asyncio.to_thread(verify_password, password, step.encoded)
                step = self._end(step, right)
        token = _PREPARED.set((self._login_mac(username, password), step))
        try:
            yield
        finally:
            _PREPARED.reset(token)

    def _login_mac(self, username: str, password: str) -> bytes:
        return hmac.new(self._key, f"{username}\0{password}".encode(), "sha256").digest()

    def _login_keys(self, username: str, host: str) -> dict[str, int]:
        """The throttle's keys of a login, the most specific first, with the failures that
        lock each."""
        lim, name = self._limits, _user_key(username)
        if not host:  # no address known (a check from inside the server): as one address
            return {name: lim.login_failures_per_user_at_address}
        return {
            f"{name} at {host}": lim.login_failures_per_user_at_address,
            name: lim.login_failures_per_user,
            f"address {host}": lim.login_failures_per_address,
        }


_Result = tuple[UserRecord | None, str]
#: the answer ``TwinUserManager.prepared`` made for the login being handled: the HMAC of its
#: name and password, and the answer
_PREPARED: ContextVar[tuple[bytes, _Result] | None] = ContextVar("_PREPARED", default=None)


@dataclass(frozen=True, slots=True)
class _Pending:
    """A login whose password is to be checked against ``encoded``."""

    username: str
    record: UserRecord | None
    encoded: str
    mac: bytes  # of the hash and the password: remembered when right
    limits: dict[str, int]  # the throttle's keys, with the failures that lock each


def _user_key(name: str) -> str:
    # a bounded key whatever the length of the name a client sends
    if len(name) > _NAME_MAX:
        name = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
    return f"user {name!r}"


def shown_user(name: str) -> str:
    """A user name as the audit log shows it: quoted, escaped, at most 64 characters."""
    return repr(name if len(name) <= _NAME_MAX else name[:_NAME_MAX] + "...")
