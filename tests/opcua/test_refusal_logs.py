"""A refused request is one warning that says why, never an error: asyncua logs each
ServiceFault it sends as an error (``sending service fault response``), a second line under
the twin's warning that reads as a fault of the server (an operator sees a wrong password
as a server error)."""

from __future__ import annotations

import logging

import pytest
from asyncua import ua

from tests.opcua.conftest import Twin

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _server_side(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The server's records (the twin's and asyncua's server), not the test client's."""
    return [r for r in caplog.records if r.name.startswith(("opcua_server", "asyncua.server"))]


def _said(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in _server_side(caplog) if r.levelno == level]


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in _server_side(caplog) if r.levelno >= logging.ERROR]


async def test_a_refused_login_is_its_audit_line_alone(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with pytest.raises(ua.UaStatusCodeError) as err:
        await twin.client("vera", password="not-her-password")
    assert err.value.code == ua.StatusCodes.BadUserAccessDenied
    assert _errors(caplog) == []
    (warning,) = _said(caplog, logging.WARNING)
    assert warning.startswith("login refused: 'vera' from 127.0.0.1:")
    assert warning.endswith(": wrong password")


async def test_a_channel_not_offered_is_the_gates_warning_alone(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    """A session over security None (only discovery there): refused, told once."""
    caplog.set_level(logging.INFO)
    with pytest.raises(ua.UaStatusCodeError) as err:
        await twin.client(None, policy=None)
    assert err.value.code == ua.StatusCodes.BadSecurityPolicyRejected
    assert _errors(caplog) == []
    (warning,) = _said(caplog, logging.WARNING)
    assert "security None is not offered (discovery only)" in warning


async def test_a_service_no_role_may_use_is_one_warning_naming_it(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    """Write (the twin's values are the engine's): BadUserAccessDenied for every user."""
    async with twin.session("vera") as client:
        caplog.set_level(logging.INFO)
        node = client.get_node(ua.ObjectIds.Server_ServerStatus_State)
        with pytest.raises(ua.UaStatusCodeError) as err:
            await node.write_value(ua.Variant(0, ua.VariantType.Int32))
    assert err.value.code == ua.StatusCodes.BadUserAccessDenied
    assert _errors(caplog) == []
    (warning,) = _said(caplog, logging.WARNING)
    # the service in brackets: "a ActivateSession request" would not read right
    assert warning.startswith("refused a request (Write) from 127.0.0.1:")
    assert warning.endswith(": BadUserAccessDenied")
