"""Security: endpoints and policies, users and passwords, client trust list, certificates,
the insecure development mode, resource limits, and sessions left behind."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import tomli_w
from asyncua import Client, ua
from asyncua.crypto import security_policies as sp
from asyncua.server.internal_session import InternalSession
from cryptography import x509

from opcua_server import Limits, Role, add_user, load_users
from opcua_server.nodesets import NS
from opcua_server.security import default_application_uri
from opcua_server.users import UserRecord
from tests.opcua.conftest import Twin, make_client_cert, start_twin

pytestmark = pytest.mark.asyncio(loop_scope="module")

POLICIES = {
    "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256",
    "http://opcfoundation.org/UA/SecurityPolicy#Aes128_Sha256_RsaOaep",
    "http://opcfoundation.org/UA/SecurityPolicy#Aes256_Sha256_RsaPss",
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def dev(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Twin]:
    """A server in --insecure-dev mode (security None and anonymous offered)."""
    t = await start_twin(tmp_path_factory.mktemp("opcua-dev"), insecure=True)
    try:
        yield t
    finally:
        await t.server.stop()


async def _endpoints(url: str) -> list[ua.EndpointDescription]:
    client = Client(url)
    return list(await client.connect_and_get_server_endpoints())


async def test_secure_by_default_endpoints(twin: Twin) -> None:
    endpoints = await _endpoints(twin.url)
    offered = {(e.SecurityPolicyUri, e.SecurityMode) for e in endpoints}
    assert offered == {
        (p, m)
        for p in POLICIES
        for m in (ua.MessageSecurityMode.Sign, ua.MessageSecurityMode.SignAndEncrypt)
    }
    for e in endpoints:
        kinds = {t.TokenType for t in e.UserIdentityTokens}
        assert kinds == {ua.UserTokenType.UserName}
        cert = x509.load_der_x509_certificate(e.ServerCertificate)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uri = twin.server.application_uri
        assert uri == default_application_uri()  # a new installation's: it names the host
        assert e.Server.ApplicationUri == uri
        assert uri in san.get_values_for_type(x509.UniformResourceIdentifier)
        assert "localhost" in san.get_values_for_type(x509.DNSName)
        assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)


@pytest.mark.parametrize(
    "policy",
    [
        sp.SecurityPolicyBasic256Sha256,
        sp.SecurityPolicyAes128Sha256RsaOaep,
        sp.SecurityPolicyAes256Sha256RsaPss,
    ],
)
@pytest.mark.parametrize(
    "mode", [ua.MessageSecurityMode.Sign, ua.MessageSecurityMode.SignAndEncrypt]
)
async def test_every_policy_and_mode_connects(
    twin: Twin, policy: type, mode: ua.MessageSecurityMode
) -> None:
    async with twin.session("vera", policy=policy, mode=mode) as client:
        assert await client.nodes.server.read_browse_name()


async def test_no_security_and_anonymous_are_refused(twin: Twin) -> None:
    plain = Client(twin.url, timeout=5)
    with pytest.raises(ua.UaError):
        await plain.connect()
    with pytest.raises(ua.UaStatusCodeError) as err:
        await twin.client(None)
    assert err.value.code in (
        ua.StatusCodes.BadIdentityTokenRejected,
        ua.StatusCodes.BadUserAccessDenied,
    )


async def _denied(twin: Twin, user: str, password: str) -> None:
    with pytest.raises(ua.UaStatusCodeError) as err:
        await twin.client(user, password=password)
    assert err.value.code == ua.StatusCodes.BadUserAccessDenied


async def _allowed(twin: Twin, user: str, password: str) -> None:
    client = await twin.client(user, password=password)
    await client.disconnect()


async def test_wrong_password_is_denied(twin: Twin) -> None:
    await _denied(twin, "erin", "guess")
    await _denied(twin, "mallory", "x")


async def test_users_changes_apply_to_the_next_session_without_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``twin users add`` while the server runs: a new user logs in, a changed password
    replaces the old one, a removed user is refused; a broken file lets nobody in (logged)
    until it is fixed."""
    twin = await start_twin(tmp_path)
    users = tmp_path / "users.toml"
    try:
        await _denied(twin, "alice", "alice-pass")
        add_user(users, "alice", Role.OPERATOR, "alice-pass")
        await _allowed(twin, "alice", "alice-pass")
        add_user(users, "vera", Role.VIEWER, "vera-new")  # the banner's advice for admin
        await _denied(twin, "vera", "vera-pass")
        await _allowed(twin, "vera", "vera-new")
        kept = {n: r for n, r in load_users(users).items() if n != "alice"}
        _write_users(users, kept)  # alice removed by hand
        await _denied(twin, "alice", "alice-pass")
        await _allowed(twin, "vera", "vera-new")
        good = users.read_bytes()
        users.write_text("[users.vera\n")
        await _denied(twin, "vera", "vera-new")
        assert "users file unusable" in caplog.text
        users.write_bytes(good)
        await _allowed(twin, "vera", "vera-new")
    finally:
        await twin.server.stop()


def _write_users(path: Path, users: dict[str, UserRecord]) -> None:
    """The users file as a hand edit leaves it: same inode, mtime set explicitly (a coarse
    file-system clock could otherwise show no change)."""
    before = path.stat().st_mtime_ns
    with path.open("wb") as fh:
        doc = {
            n: {"role": r.role.name.lower(), "password": r.password_hash} for n, r in users.items()
        }
        tomli_w.dump({"users": doc}, fh)
    os.utime(path, ns=(before + 10**9, before + 10**9))


async def test_untrusted_client_certificate_until_moved_to_trusted(twin: Twin) -> None:
    stranger = make_client_cert(twin.root / "stranger", "urn:cell-twin:stranger")
    with pytest.raises((ua.UaError, ConnectionError, asyncio.TimeoutError)):
        await twin.client("vera", cert=stranger)
    rejected = list((twin.root / "pki" / "rejected").glob("urn_cell-twin_stranger*.der"))
    assert len(rejected) == 1
    assert rejected[0].read_bytes() == stranger.cert.read_bytes()
    # the documented way to trust a client: move its certificate to trusted/
    shutil.move(rejected[0], twin.root / "pki" / "trusted" / rejected[0].name)
    client = await twin.client("vera", cert=stranger)
    await client.disconnect()


async def test_with_nothing_trusted_yet_a_client_is_refused_and_kept_to_trust(
    twin: Twin,
) -> None:
    """A first run: trusted/ is empty. The client's certificate is refused as untrusted (not
    an internal error) and copied to rejected/, as the banner says."""
    trusted = twin.root / "pki" / "trusted"
    kept = {cert.name: cert.read_bytes() for cert in trusted.iterdir()}
    for name in kept:
        (trusted / name).unlink()
    try:
        with pytest.raises(ua.UaStatusCodeError) as err:
            await twin.client("vera")
        assert err.value.code == ua.StatusCodes.BadCertificateUntrusted
        rejected = list((twin.root / "pki" / "rejected").glob("*.der"))
        assert len(rejected) == 1
        assert rejected[0].read_bytes() == twin.cert.cert.read_bytes()
        shutil.move(rejected[0], trusted / rejected[0].name)
        client = await twin.client("vera")
        await client.disconnect()
    finally:  # the module's twin as it was, so a failure here cannot fail later tests
        for cert in trusted.iterdir():
            cert.unlink()
        for name, data in kept.items():
            (trusted / name).write_bytes(data)


async def test_insecure_dev_offers_none_and_anonymous_viewer(dev: Twin) -> None:
    endpoints = await _endpoints(dev.url)
    none = [e for e in endpoints if e.SecurityMode == ua.MessageSecurityMode.None_]
    assert none
    assert ua.UserTokenType.Anonymous in {t.TokenType for t in none[0].UserIdentityTokens}
    client = Client(dev.url, timeout=5)
    await client.connect()
    try:
        cell = await client.nodes.objects.get_child(f"{dev.ns(NS.TWIN)}:Cell")
        # with users configured, anonymous sessions only view
        with pytest.raises(ua.UaStatusCodeError) as err:
            await cell.call_method(f"{dev.ns(NS.TWIN)}:Pause")
        assert err.value.code == ua.StatusCodes.BadUserAccessDenied
    finally:
        await client.disconnect()


async def test_connect_disconnect_cycles_leave_no_session(dev: Twin) -> None:
    for i in range(1000):
        client = Client(dev.url, timeout=5)
        await client.connect()
        if i % 100 == 0:  # some with a subscription left for the server to clean up
            await client.create_subscription(100, None)
        await client.disconnect()
    # the server sees the last TCP close a moment after the client, and asyncua offers no
    # notification of it: poll, bounded
    idle = {"sessions": 0, "connections": 0, "subscriptions": 0}
    deadline = asyncio.get_running_loop().time() + 5.0
    while dev.server.load() != idle and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    assert dev.server.load() == idle


async def test_limits(tmp_path: Path) -> None:
    previous = InternalSession.max_connections
    # asyncua counts sessions in one process-wide class attribute, which a server stopped
    # with sessions open leaves raised (other tests' PLC servers): count this server's only
    counted = InternalSession._current_connections
    InternalSession._current_connections = 0
    limits = Limits(
        max_sessions=2,
        max_monitored_items_per_subscription=5,
        max_message_size=64 * 1024,
        max_chunk_size=8192,
    )
    t = await start_twin(tmp_path, insecure=True, limits=limits)
    clients: list[Client] = []
    try:
        for _ in range(2):
            c = Client(t.url, timeout=5)
            await c.connect()
            clients.append(c)
        extra = Client(t.url, timeout=5)
        with pytest.raises(ua.UaStatusCodeError) as err:
            await extra.connect()
        assert err.value.code == ua.StatusCodes.BadMaxConnectionsReached
        sub = await clients[0].create_subscription(100, None)
        nodes = [clients[0].get_node(n) for n in list(t.server.signal_nodes.values())[:7]]
        results = await sub.subscribe_data_change(nodes, ua.AttributeIds.Value)
        assert sum(isinstance(r, int) for r in results) == 5
        refused = [r for r in results if not isinstance(r, int)]
        assert len(refused) == 2
        assert all(r.value == ua.StatusCodes.BadTooManyMonitoredItems for r in refused)
        big = [clients[1].get_node(ua.NodeId(f"no-such-node-{i:06d}", 2)) for i in range(5000)]
        with pytest.raises((ua.UaError, ConnectionError, asyncio.TimeoutError)):
            await clients[1].read_values(big)
        # the server still serves the well-behaved client
        assert await clients[0].nodes.server.read_browse_name()
    finally:
        for c in clients:
            # the oversized request may have closed that connection
            with contextlib.suppress(Exception):
                await c.disconnect()
        await t.server.stop()
        InternalSession.max_connections = previous
        InternalSession._current_connections = counted
