"""A session moves to a new secure channel (a client reconnecting) only for the client that
made it: the new channel must be signed with the certificate of the session's channel, and
the session must have been activated on its own channel first. The clients here open a
channel without a session and activate another client's session on it, as a client that
learnt its authentication token and server nonce would (both cross a Sign-only channel in
clear, and asyncua counts the tokens up from 1000)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from asyncua import Client, ua

from tests.opcua.conftest import POLICY, SIGN_ENCRYPT, USERS, ClientCert, Twin, make_client_cert

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def other(twin: Twin) -> Iterator[ClientCert]:
    """Another client, trusted too."""
    cert = make_client_cert(twin.root / "other-client", "urn:cell-twin:other-client")
    trusted = twin.root / "pki" / "trusted" / "other-client.der"
    shutil.copy(cert.cert, trusted)
    yield cert
    trusted.unlink()


async def _activate_on_new_channel(
    twin: Twin, cert: ClientCert, session: Client, user: str = "vera"
) -> str:
    """The name of the status answering ActivateSession of ``session``'s session on a new
    channel signed with ``cert``'s key, ``user`` logging in."""
    client = Client(twin.url, timeout=5)
    client.application_uri = cert.uri
    await client.set_security(
        POLICY, certificate=str(cert.cert), private_key=str(cert.key), mode=SIGN_ENCRYPT
    )
    await client.connect_sessionless()
    client.uaclient.session.restore_authentication_token(
        session.uaclient.session.authentication_token
    )
    client._server_nonce = session._server_nonce
    try:
        await client.activate_session(user, USERS[user][1])
    except ua.UaStatusCodeError as exc:
        return ua.StatusCode(exc.code).name
    finally:
        await client.close_secure_channel()
        client.disconnect_socket()
    return "Good"


async def test_a_session_moves_only_to_a_channel_of_its_own_certificate(
    twin: Twin, other: ClientCert, caplog: pytest.LogCaptureFixture
) -> None:
    """The reported case: another trusted client activates an engineer's session on its own
    channel (the old server moved it: the other client got its subscriptions, the session
    became the other client's user). The session's own client may move it."""
    async with twin.session("erin") as owner:
        assert await _activate_on_new_channel(twin, other, owner) == "BadSecurityChecksFailed"
        assert "refused to move a session to a secure channel from 127.0.0.1:" in caplog.text
        assert "not signed with the certificate of the session's channel" in caplog.text
        assert await owner.nodes.server.read_browse_name()  # untouched
        assert await _activate_on_new_channel(twin, twin.cert, owner, "erin") == "Good"


async def test_a_session_is_first_activated_on_the_channel_that_created_it(
    twin: Twin,
) -> None:
    """OPC 10000-4 5.7.3.1: the first ActivateSession of a session comes over the channel of
    its CreateSession, whatever the certificate of another channel."""
    creator = Client(twin.url, timeout=5)
    creator.application_uri = twin.cert.uri
    cert, key = str(twin.cert.cert), str(twin.cert.key)
    await creator.set_security(POLICY, certificate=cert, private_key=key, mode=SIGN_ENCRYPT)
    await creator.connect_sessionless()
    try:
        await creator.create_session()
        refused = await _activate_on_new_channel(twin, twin.cert, creator)
        assert refused == "BadSecurityChecksFailed"
    finally:
        await creator.close_session()
        await creator.close_secure_channel()
        creator.disconnect_socket()
