"""Password hashes: new ones cost scrypt N = 2^17 (128 MiB, tenths of a second), older ones
(N = 2^14) are still checked with the cost they were made with; and the check of a login runs
on a worker thread, so the sessions the event loop serves go on meanwhile (asyncua asks the
user manager synchronously: a check on the loop stalled every client for its duration)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Callable

import pytest

from opcua_server import Role, add_user
from opcua_server import users as users_module
from opcua_server.users import hash_password, verify_password
from tests.opcua.conftest import Twin

ASYNC = pytest.mark.asyncio(loop_scope="module")


def test_new_hashes_cost_n_2_17_and_old_ones_still_verify() -> None:
    assert hash_password("a-password").split("$")[:4] == ["scrypt", "131072", "8", "1"]
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"a-password", salt=salt, n=2**14, r=8, p=1, dklen=32)
    b64 = base64.b64encode
    old = f"scrypt$16384$8$1${b64(salt).decode()}${b64(digest).decode()}"
    assert verify_password("a-password", old)
    assert not verify_password("another-one", old)
    assert not verify_password("a-password", f"scrypt${2**30}$8$1${b64(salt).decode()}$AAAA")


@ASYNC
async def test_a_login_is_checked_off_the_event_loop(
    twin: Twin, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(twin.root / "users.toml", "alice", Role.OPERATOR, "alice-pass")  # not cached
    verify: Callable[[str, str], bool] = users_module.verify_password

    def slow(password: str, encoded: str) -> bool:
        time.sleep(1.0)  # a slow machine's scrypt
        return verify(password, encoded)

    monkeypatch.setattr(users_module, "verify_password", slow)
    async with twin.session("vera") as viewer:
        login = asyncio.create_task(twin.client("alice", password="alice-pass"))
        slowest = 0.0  # a turn of reading and resting (the client shares the server's loop)
        while not login.done():
            started = time.perf_counter()
            await viewer.nodes.server.read_browse_name()
            await asyncio.sleep(0.05)
            slowest = max(slowest, time.perf_counter() - started)
        await (await login).disconnect()
    assert slowest < 0.5
