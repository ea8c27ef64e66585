"""The login throttle's limits are settings (``Limits.login_*``): how many failures lock a
user name at one address, a user name everywhere and an address, and how long."""

from __future__ import annotations

from pathlib import Path

from opcua_server import Limits, Role, add_user
from opcua_server.peer import PEER
from opcua_server.users import TwinUserManager
from tests.opcua.conftest import TEST_COST


def _login(manager: TwinUserManager, user: str, password: str, peer: str) -> bool:
    token = PEER.set(peer)
    try:
        return manager.get_user(None, user, password) is not None
    finally:
        PEER.reset(token)


def test_the_limits_come_from_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    # the suite's cheaper hashes: the limits are what is tested, not the cost of a check
    add_user(path, "erin", Role.ENGINEER, "erin-pass", cost=TEST_COST)
    add_user(path, "vera", Role.VIEWER, "vera-pass", cost=TEST_COST)
    limits = Limits(
        login_failures_per_user_at_address=2,
        login_failures_per_user=3,
        login_failures_per_address=4,
        login_lock_s=30.0,
    )
    manager = TwinUserManager(path=path, limits=limits)
    assert manager.throttle.base_s == 30.0
    a, b, c = "10.0.0.1:1000", "10.0.0.2:1000", "10.0.0.3:1000"
    for peer in (a, a):
        assert not _login(manager, "erin", "wrong", peer)
    assert not _login(manager, "erin", "erin-pass", a)  # 2 at this address: locked there
    assert _login(manager, "vera", "vera-pass", a)  # not the address
    assert not _login(manager, "erin", "wrong", b)  # the name's 3rd failure: locked everywhere
    assert not _login(manager, "erin", "erin-pass", c)
    for user in ("x", "y", "z", "w"):
        assert not _login(manager, user, "wrong", c)  # the address's 4th failure
    assert not _login(manager, "vera", "vera-pass", c)
    assert 29.0 < manager.throttle.locked_for("address 10.0.0.3") <= 30.0
