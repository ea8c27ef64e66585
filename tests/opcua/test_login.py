"""Logins against a served twin: an unknown user costs the check a known one does, failures
lock the user name at the client address (after 5), the client address and the user name
everywhere (after 20; a right password too) until the lock ends, the password checks are
budgeted, every login is audited, and a users file that breaks or vanishes never makes
anonymous sessions engineers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asyncua import Client, ua

from opcua_server import Role, add_user
from opcua_server import users as users_module
from opcua_server.nodesets import NS
from opcua_server.throttle import LoginThrottle
from opcua_server.users import TwinUserManager
from tests.opcua.conftest import POLICY, SIGN_ENCRYPT, Twin, start_twin
from twin.clock import ManualClock

pytestmark = pytest.mark.asyncio(loop_scope="module")

AUDIT = "opcua_server.audit"


def _manager(twin: Twin) -> TwinUserManager:
    assert twin.server.server is not None
    manager = twin.server.server.iserver.user_manager
    assert isinstance(manager, TwinUserManager)
    return manager


def _throttle(twin: Twin, **options: Any) -> ManualClock:
    """A fresh throttle on ``twin``'s logins, on a clock the test advances."""
    clock = ManualClock()
    _manager(twin).throttle = LoginThrottle(clock=clock, **options)
    return clock


async def _denied(twin: Twin, user: str, password: str) -> None:
    with pytest.raises(ua.UaStatusCodeError) as err:
        await twin.client(user, password=password)
    assert err.value.code == ua.StatusCodes.BadUserAccessDenied


async def _allowed(twin: Twin, user: str, password: str) -> None:
    client = await twin.client(user, password=password)
    await client.disconnect()


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hashes the server checked a password against (one scrypt each)."""
    seen: list[str] = []
    verify: Callable[[str, str], bool] = users_module.verify_password

    def counted(password: str, encoded: str) -> bool:
        seen.append(encoded)
        return verify(password, encoded)

    monkeypatch.setattr(users_module, "verify_password", counted)
    return seen


@pytest.fixture
def remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Password checks remembered (the same wrong guess against the same hash checked once):
    a test of many failures need not pay scrypt (N = 2^17) for each."""
    monkeypatch.setattr(
        users_module, "verify_password", functools.cache(users_module.verify_password)
    )


async def test_an_unknown_user_costs_the_check_a_known_one_does(
    twin: Twin, checks: list[str]
) -> None:
    """The time of a refusal tells nothing of which user names exist: an unknown user's
    password is checked too, against a hash of the same cost."""
    _throttle(twin)
    # a user of the default cost (the suite's own users have older, cheaper hashes)
    add_user(twin.root / "users.toml", "carla", Role.VIEWER, "carla-pass")
    await _denied(twin, "carla", "a-wrong-guess")
    await _denied(twin, "mallory", "a-wrong-guess")
    assert len(checks) == 2
    known, unknown = (encoded.split("$")[:4] for encoded in checks)
    assert unknown == known == ["scrypt", "131072", "8", "1"]


async def test_failures_lock_the_user_name_even_for_the_right_password(twin: Twin) -> None:
    clock = _throttle(twin)
    for i in range(5):
        await _denied(twin, "erin", f"guess-{i}")
    await _denied(twin, "erin", "erin-pass")  # the right one: locked all the same
    clock.advance(1.0)  # the fifth failure locked for 1 s
    await _allowed(twin, "erin", "erin-pass")


async def test_a_success_does_not_clear_the_address_for_other_names(
    twin: Twin, remembered: None
) -> None:
    """A guesser with an account of its own (a viewer) cannot log in with it every few
    guesses to start its address afresh: a success starts only its own name afresh."""
    clock = _throttle(twin, burst=64)  # more checks than the default burst
    for i in range(19):
        await _denied(twin, f"nobody-{i}", "a-wrong-guess")
    await _allowed(twin, "vera", "vera-pass")
    await _denied(twin, "nobody-19", "a-wrong-guess")  # the address's 20th failure
    await _denied(twin, "erin", "erin-pass")  # locked address: a right password too
    clock.advance(1.0)
    await _allowed(twin, "erin", "erin-pass")


async def test_failures_from_one_address_lock_it_longer_each_time(
    twin: Twin, remembered: None
) -> None:
    """Guesses spread over user names count for the client's address: its locks double."""
    clock = _throttle(twin, burst=64)  # more checks than the default burst
    for i in range(20):
        await _denied(twin, f"nobody-{i}", "a-wrong-guess")
    await _denied(twin, "vera", "vera-pass")  # locked address: a right password too
    clock.advance(1.0)
    await _denied(twin, "nobody-20", "a-wrong-guess")  # the 21st failure: 2 s
    clock.advance(1.0)
    await _denied(twin, "vera", "vera-pass")
    clock.advance(1.0)
    await _allowed(twin, "vera", "vera-pass")


async def test_a_guesser_does_not_lock_out_the_other_users_of_its_address(
    twin: Twin, remembered: None
) -> None:
    """The reported case: five failed logins from one address (a guesser, or one user who
    forgot a password, behind the NAT address of a whole plant) locked every user of that
    address. Now the name guessed at is locked there, the address only after 20 failures."""
    _throttle(twin, burst=64)  # more checks than the default burst
    for i in range(6):
        await _denied(twin, "erin", f"guess-{i}")
    for i in range(10):
        await _denied(twin, f"nobody-{i}", "a-wrong-guess")
    await _denied(twin, "erin", "erin-pass")  # its name, at this address: locked
    await _allowed(twin, "vera", "vera-pass")
    await _allowed(twin, "otto", "otto-pass")


async def _guesser(twin: Twin, attempts: int) -> int:
    """One secure channel, one session, ``attempts`` ActivateSession calls with wrong
    passwords; returns how many were refused with BadUserAccessDenied."""
    client = Client(twin.url, timeout=10)
    client.application_uri = twin.cert.uri
    await client.set_security(
        POLICY, certificate=str(twin.cert.cert), private_key=str(twin.cert.key), mode=SIGN_ENCRYPT
    )
    await client.connect_socket()
    refused = 0
    try:
        await client.send_hello()
        await client.open_secure_channel()
        await client.create_session()
        for i in range(attempts):
            try:
                await client.activate_session("erin", f"guess-{i}")
            except ua.UaStatusCodeError as exc:
                refused += exc.code == ua.StatusCodes.BadUserAccessDenied
    finally:
        with contextlib.suppress(Exception):
            await client.close_secure_channel()
        client.disconnect_socket()
    return refused


async def test_guessing_sessions_cost_a_bounded_number_of_checks(
    twin: Twin, checks: list[str]
) -> None:
    """Eight sessions guessing 25 times each on their channels: the scrypt checks (run on
    the event loop every session shares) stop at the lock; a viewer reads meanwhile."""
    _throttle(twin)
    async with twin.session("vera") as viewer:
        checks.clear()  # the viewer's own login
        guessers = [_guesser(twin, 25) for _ in range(8)]
        refused = await asyncio.gather(*guessers, viewer.nodes.server.read_browse_name())
        assert refused[:8] == [25] * 8
    assert len(checks) == 5  # the fifth failure locked the name at that address


async def test_password_checks_are_budgeted(twin: Twin, checks: list[str]) -> None:
    """Beyond the budget a login is refused unchecked (a right one too) and counts as no
    failure; the budget refills with time."""
    clock = _throttle(twin, checks_per_s=1.0, burst=2, limit=100)
    add_user(twin.root / "users.toml", "alice", Role.OPERATOR, "alice-pass")  # not cached
    await _denied(twin, "nobody-1", "a-wrong-guess")
    await _denied(twin, "nobody-2", "a-wrong-guess")
    await _denied(twin, "alice", "alice-pass")
    assert len(checks) == 2
    clock.advance(1.0)
    await _allowed(twin, "alice", "alice-pass")
    assert len(checks) == 3
    assert _manager(twin).throttle.failures("user 'alice'") == 0


async def test_every_login_is_audited_without_its_password(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    _throttle(twin)
    with caplog.at_level(logging.INFO, logger=AUDIT):
        await _allowed(twin, "otto", "otto-pass")
        await _denied(twin, "erin", "my-secret-guess")
        await _denied(twin, "mallory", "my-secret-guess")
    lines = [r.getMessage() for r in caplog.records if r.name == AUDIT]
    peer = r"from 127\.0\.0\.1:\d+"
    assert len(lines) == 3, lines
    assert re.fullmatch(rf"login ok: 'otto' \(operator\) {peer}", lines[0])
    assert re.fullmatch(rf"login refused: 'erin' {peer}: wrong password", lines[1])
    assert re.fullmatch(rf"login refused: 'mallory' {peer}: unknown user", lines[2])
    assert [r.levelno for r in caplog.records if r.name == AUDIT] == [20, 30, 30]
    assert "secret" not in caplog.text
    assert "otto-pass" not in caplog.text


async def test_a_lock_is_audited(twin: Twin, caplog: pytest.LogCaptureFixture) -> None:
    _throttle(twin)
    with caplog.at_level(logging.WARNING, logger=AUDIT):
        for i in range(5):
            await _denied(twin, "erin", f"guess-{i}")
        await _denied(twin, "erin", "erin-pass")
    lines = [r.getMessage() for r in caplog.records if r.name == AUDIT]
    assert lines[4].endswith("wrong password; user 'erin' at 127.0.0.1 locked for 1 s")
    assert lines[5].endswith("user 'erin' at 127.0.0.1 locked for 1 s more after 5 failures")
    assert "erin-pass" not in caplog.text


@pytest_asyncio.fixture(loop_scope="module")
async def dev(tmp_path: Path) -> AsyncIterator[Twin]:
    """A --insecure-dev twin of its own (its users file is changed)."""
    t = await start_twin(tmp_path, insecure=True)
    try:
        yield t
    finally:
        await t.server.stop()


async def _anonymous_pause(dev: Twin) -> ua.StatusCode:
    """The status of an anonymous Pause call (Good: the session is an engineer)."""
    client = Client(dev.url, timeout=10)
    await client.connect()
    try:
        cell = await client.nodes.objects.get_child(f"{dev.ns(NS.TWIN)}:Cell")
        try:
            await cell.call_method(f"{dev.ns(NS.TWIN)}:Pause")
        except ua.UaStatusCodeError as exc:
            return ua.StatusCode(exc.code)
        return ua.StatusCode(ua.StatusCodes.Good)
    finally:
        await client.disconnect()


async def test_a_users_file_that_vanishes_or_breaks_keeps_anonymous_a_viewer(
    dev: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    users = dev.root / "users.toml"
    denied = ua.StatusCode(ua.StatusCodes.BadUserAccessDenied)
    assert await _anonymous_pause(dev) == denied
    good = users.read_bytes()
    users.unlink()
    with caplog.at_level(logging.ERROR):
        assert await _anonymous_pause(dev) == denied
    assert f"users file {users} is gone" in caplog.text
    users.write_text('[users.vera]\nrole = "viewer"\npassword = \n')
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert await _anonymous_pause(dev) == denied
    assert f"users file unusable, no user can log in until it is fixed: {users}:" in caplog.text
    assert "line 3" in caplog.text
    users.write_bytes(good)
    assert await _anonymous_pause(dev) == denied
    await _allowed(dev, "vera", "vera-pass")
