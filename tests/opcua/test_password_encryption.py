"""A user name token's password crosses the network encrypted: by the channel (SignAndEncrypt)
or by the client, as the token policy each other endpoint advertises asks. A client that sends
it in clear anyway (here: an asyncua client patched to ignore the token policy) is refused."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from asyncua import Client, ua
from asyncua.crypto import security_policies as sp

from tests.opcua.conftest import USERS, Twin, start_twin

pytestmark = pytest.mark.asyncio(loop_scope="module")

_NONE_URI = sp.SecurityPolicyNone.URI
_SIGN = ua.MessageSecurityMode.Sign


async def _token_policy(twin: Twin, uri: str, mode: ua.MessageSecurityMode) -> str:
    """The SecurityPolicyUri of the user name token policy of the endpoint ``uri``/``mode``."""
    endpoints = await Client(twin.url).connect_and_get_server_endpoints()
    (endpoint,) = [e for e in endpoints if (e.SecurityPolicyUri, e.SecurityMode) == (uri, mode)]
    (token,) = [t for t in endpoint.UserIdentityTokens if t.TokenType == ua.UserTokenType.UserName]
    return str(token.SecurityPolicyUri)


async def _login(twin: Twin, policy: type | None, mode: ua.MessageSecurityMode, clear: bool) -> str:
    """'connected', or the name of the status refusing vera's login; ``clear``: the password
    is sent in clear whatever the endpoint's token policy says."""
    client = Client(twin.url, timeout=5)
    client.application_uri = twin.cert.uri
    if policy is not None:
        cert, key = str(twin.cert.cert), str(twin.cert.key)
        await client.set_security(policy, certificate=cert, private_key=key, mode=mode)
    client.set_user("vera")
    client.set_password(USERS["vera"][1])
    if clear:

        def plain(kind: ua.UserTokenType) -> ua.UserTokenPolicy:
            return ua.UserTokenPolicy("username", kind, SecurityPolicyUri=_NONE_URI)

        client.server_policy = plain
    try:
        await client.connect()
    except ua.UaStatusCodeError as exc:
        return ua.StatusCode(exc.code).name
    await client.disconnect()
    return "connected"


@pytest.mark.parametrize(
    "policy",
    [sp.SecurityPolicyBasic256Sha256, sp.SecurityPolicyAes256Sha256RsaPss],
    ids=["Basic256Sha256", "Aes256Sha256RsaPss"],
)
async def test_a_password_in_clear_on_a_sign_only_channel_is_refused(
    twin: Twin, policy: type, caplog: pytest.LogCaptureFixture
) -> None:
    """The reported case: a Sign channel, the password readable on the wire. The endpoint
    asks for it encrypted with the channel's policy; a client that does so logs in."""
    assert await _token_policy(twin, policy.URI, _SIGN) == policy.URI  # type: ignore[attr-defined]
    assert await _login(twin, policy, _SIGN, clear=False) == "connected"
    with caplog.at_level(logging.WARNING, "opcua_server.audit"):
        assert await _login(twin, policy, _SIGN, clear=True) == "BadIdentityTokenInvalid"
    (line,) = [m for m in caplog.messages if m.startswith("login refused")]
    assert line.startswith("login refused: 'vera' from 127.0.0.1:")
    assert "its password came unencrypted over a Sign channel" in line
    assert USERS["vera"][1] not in caplog.text


async def test_a_password_in_clear_on_the_insecure_dev_none_channel_is_refused(
    tmp_path: Path,
) -> None:
    """--insecure-dev's None endpoint asks for the password encrypted (with Basic256Sha256,
    the server's certificate is in the endpoint): a client that does so logs in; one that
    sends it in clear is refused as on a Sign channel."""
    dev = await start_twin(tmp_path, insecure=True)
    none = ua.MessageSecurityMode.None_
    try:
        assert await _token_policy(dev, _NONE_URI, none) == sp.SecurityPolicyBasic256Sha256.URI
        assert await _login(dev, None, none, clear=False) == "connected"
        assert await _login(dev, None, none, clear=True) == "BadIdentityTokenInvalid"
    finally:
        await dev.server.stop()
