"""``LoginThrottle`` on a hand-driven clock (locks that double up to a cap, a success that
starts afresh, bounded memory, the budget of checks), and the user manager's anonymous role
and locks as the users file changes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from opcua_server import Role, add_user
from opcua_server.throttle import LoginThrottle
from opcua_server.users import TwinUser, TwinUserManager, set_password
from tests.conftest import assert_public_surface_is_all
from tests.opcua.conftest import TEST_COST
from twin.clock import ManualClock


def test_public_surface_is_all() -> None:
    assert_public_surface_is_all("opcua_server.throttle")


def test_locks_double_up_to_the_cap_and_a_success_starts_afresh() -> None:
    clock = ManualClock()
    throttle = LoginThrottle(limit=3, base_s=1.0, cap_s=4.0, clock=clock)
    assert throttle.failed(["a"]) == {}
    assert throttle.failed(["a"]) == {}
    assert throttle.locked_for("a") == 0.0
    locks_a, locks_b = [], []
    for _ in range(4):
        locked = throttle.failed(["a", "b"])
        locks_a.append(locked.get("a"))
        locks_b.append(locked.get("b"))
        clock.advance(throttle.locked_for("a"))
    assert locks_a == [1.0, 2.0, 4.0, 4.0]
    assert locks_b == [None, None, 1.0, 2.0]
    assert throttle.failures("b") == 4
    throttle.succeeded(["a", "b"])
    assert (throttle.failures("a"), throttle.locked_for("b")) == (0, 0.0)


def test_failures_are_forgotten_and_memory_is_bounded() -> None:
    clock = ManualClock()
    throttle = LoginThrottle(forget_s=600.0, max_entries=100, clock=clock)
    for i in range(10_000):
        throttle.failed([f"user {i}"])
    assert len(throttle) == 100
    assert throttle.failures("user 9999") == 1  # the most recent are kept
    assert throttle.failures("user 0") == 0
    clock.advance(600.0)
    throttle.failed(["another"])
    assert len(throttle) == 1


def test_the_budget_of_checks_refills_with_time() -> None:
    clock = ManualClock()
    throttle = LoginThrottle(checks_per_s=2.0, burst=3, clock=clock)
    assert [throttle.take_check() for _ in range(4)] == [True, True, True, False]
    clock.advance(0.5)
    assert [throttle.take_check() for _ in range(2)] == [True, False]
    clock.advance(100.0)  # never more than a burst saved up
    assert sum(throttle.take_check() for _ in range(5)) == 3


def test_a_new_password_lifts_the_user_names_lock(tmp_path: Path) -> None:
    """The admin's answer to a locked-out user: ``twin users passwd``."""
    path = tmp_path / "users.toml"
    add_user(path, "erin", Role.ENGINEER, "erin-pass", cost=TEST_COST)
    manager = TwinUserManager(path=path, throttle=LoginThrottle(clock=ManualClock()))
    for i in range(5):
        assert manager.get_user(None, "erin", f"guess-{i}") is None
    assert manager.get_user(None, "erin", "erin-pass") is None
    set_password(path, "erin", "erin-new-pass")
    assert manager.get_user(None, "erin", "erin-new-pass") is not None


def _anonymous(manager: TwinUserManager) -> Role:
    user = manager.get_user(None)
    assert isinstance(user, TwinUser)
    return user.twin_role


def test_anonymous_is_an_engineer_only_while_no_users_file_ever_existed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """--insecure-dev: the documented development mode (no users file: anonymous engineers)
    holds for a file that never existed; once one did, a file that vanishes, breaks or holds
    no user leaves anonymous sessions viewers, and the error names the file and the line."""
    path = tmp_path / "users.toml"
    manager = TwinUserManager(path=path, insecure_dev=True)
    assert _anonymous(manager) is Role.ENGINEER
    add_user(path, "vera", Role.VIEWER, "vera-pass")
    assert _anonymous(manager) is Role.VIEWER
    path.unlink()
    with caplog.at_level(logging.ERROR):
        assert _anonymous(manager) is Role.VIEWER
    assert f"users file {path} is gone" in caplog.text
    path.write_text("[users]\n\n[users.vera\n")
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert _anonymous(manager) is Role.VIEWER
    assert f"{path}: " in caplog.text
    assert "(at line 3, column 12)" in caplog.text
    path.write_text("[users]\n")
    assert _anonymous(manager) is Role.VIEWER
    # a users file that exists from the start, empty: viewers too
    assert _anonymous(TwinUserManager(path=path, insecure_dev=True)) is Role.VIEWER
