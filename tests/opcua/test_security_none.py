"""A secure channel without security: served for discovery only unless --insecure-dev offers
it, and a method call whose session has no role is denied whatever the channel. The clients
here are asyncua clients patched to use a None endpoint the server does not list."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from asyncua import Client, ua
from asyncua.crypto import security_policies as sp
from asyncua.server import binary_server_asyncio
from asyncua.server.uaprocessor import UaProcessor

from opcua_server.nodesets import NS
from tests.opcua.conftest import SIGN_ENCRYPT, USERS, Twin, mes_comment, raw_call, start_twin

pytestmark = pytest.mark.asyncio(loop_scope="module")

_NONE_URI = sp.SecurityPolicyNone.URI


def _none_endpoint(url: str) -> ua.EndpointDescription:
    """What a hostile client makes up: a None endpoint with a user name token in clear."""
    token = ua.UserTokenPolicy(
        PolicyId="username", TokenType=ua.UserTokenType.UserName, SecurityPolicyUri=_NONE_URI
    )
    return ua.EndpointDescription(
        EndpointUrl=url,
        SecurityMode=ua.MessageSecurityMode.None_,
        SecurityPolicyUri=_NONE_URI,
        UserIdentityTokens=[token],
    )


@pytest.fixture
def none_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncua's client refuses an endpoint the server does not list: make it up."""

    def find(
        endpoints: list[ua.EndpointDescription], mode: ua.MessageSecurityMode, uri: str
    ) -> ua.EndpointDescription:
        return _none_endpoint(endpoints[0].EndpointUrl)

    monkeypatch.setattr(Client, "find_endpoint", staticmethod(find))


async def _plain(url: str, user: str) -> Client:
    client = Client(url, timeout=5)
    client.set_user(user)
    client.set_password(USERS[user][1])
    await client.connect()
    return client


@pytest.mark.usefixtures("none_endpoint")
@pytest.mark.parametrize("user", ["vera", "erin"])
async def test_a_none_channel_not_offered_gets_no_session(twin: Twin, user: str) -> None:
    """The reported case: a None channel, the password in clear. The old server made a
    session whose methods all answered Good (any user an engineer)."""
    try:
        client = await _plain(twin.url, user)
    except ua.UaStatusCodeError as exc:
        refused: int | str = exc.code
    else:
        await client.disconnect()
        refused = "connected"
    assert refused == ua.StatusCodes.BadSecurityPolicyRejected


async def test_a_policy_not_offered_is_refused_when_the_channel_opens(twin: Twin) -> None:
    """Basic256 is known to asyncua but not offered: an Error message, the socket closed
    (the client is not left waiting for an answer)."""
    client = Client(twin.url, timeout=3)
    client.application_uri = twin.cert.uri
    await client.set_security(
        sp.SecurityPolicyBasic256,
        certificate=str(twin.cert.cert),
        private_key=str(twin.cert.key),
        mode=SIGN_ENCRYPT,
        server_certificate=str(twin.root / "pki" / "own" / "cert.der"),
    )
    with pytest.raises(ua.UaStatusCodeError) as err:
        await client.connect()
    assert err.value.code == ua.StatusCodes.BadSecurityPolicyRejected


@contextlib.contextmanager
def _channels_unscreened() -> Iterator[None]:
    """asyncua's own processor: no channel screening at all (as before the fix)."""
    gated = binary_server_asyncio.UaProcessor
    binary_server_asyncio.UaProcessor = UaProcessor
    try:
        yield
    finally:
        binary_server_asyncio.UaProcessor = gated


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def unscreened(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Twin]:
    t = await start_twin(tmp_path_factory.mktemp("opcua-unscreened"))
    try:
        yield t
    finally:
        await t.server.stop()


def _s(value: str) -> ua.Variant:
    return ua.Variant(value, ua.VariantType.String)


def _d(value: float) -> ua.Variant:
    return ua.Variant(value, ua.VariantType.Double)


_ORDER = '{"id": "NONE-1", "product": {"type": "printed_housing"}}'
_CONTROL = "Cell.JobManagement.JobOrderControl"


@pytest.mark.usefixtures("none_endpoint")
@pytest.mark.parametrize(
    ("owner", "method", "args"),
    [
        ("Cell", "SetSpeed", [_d(7.0)]),
        ("Cell", "InjectFault", [_s("cnc1"), _s("breakdown"), _d(0.0)]),
        ("Cell", "ClearFault", [_s("cnc1")]),
        ("Cell", "Pause", []),
        ("Cell", "Resume", []),
        ("Cell", "SubmitOrder", [_s(_ORDER)]),
        ("Cell", "CancelOrder", [_s("NONE-1")]),
        ("Cell", "Forecast", [_s("1h")]),
        (_CONTROL, "Cancel", [_s("NONE-1"), mes_comment()]),
    ],
)
async def test_a_call_whose_role_is_unknown_is_denied(
    unscreened: Twin, owner: str, method: str, args: list[ua.Variant]
) -> None:
    """Were a None channel let through again (here: asyncua's own processor, which does not
    screen channels), its sessions have no role (the role comes with the offered policies'
    permission rules): every method is denied, to an engineer's login too."""
    with _channels_unscreened():
        client = await _plain(unscreened.url, "erin")
    try:
        obj = client.get_node(ua.NodeId(owner, unscreened.ns(NS.TWIN)))
        ns = unscreened.ns(NS.TWIN if owner == "Cell" else NS.ISA95_JOBCONTROL)
        speed, paused = unscreened.driver.speed, unscreened.driver.paused
        result = await raw_call(client, obj, f"{ns}:{method}", *args)
        assert result.StatusCode.value == ua.StatusCodes.BadUserAccessDenied
        assert (unscreened.driver.speed, unscreened.driver.paused) == (speed, paused)
        assert "NONE-1" not in unscreened.engine.jobs
        assert unscreened.engine.machines["cnc1"].state != "OutOfService"
    finally:
        await client.disconnect()
