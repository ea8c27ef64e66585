"""Every method call is audited on the opcua_server.audit logger: who (user and role), from
where (the client address), which method on which object, and the status answered; never the
arguments."""

from __future__ import annotations

import pytest
from asyncua import Client, ua

from opcua_server.nodesets import NS
from tests.opcua.conftest import USERS, Twin, raw_call

pytestmark = pytest.mark.asyncio(loop_scope="module")

_ORDER = '{"id": "AUDIT-SECRET-7", "product": {"type": "printed_housing"}}'


def _address(client: Client) -> str:
    """The client's end of its connection, as the server sees it."""
    host, port = client.uaclient.protocol.transport.get_extra_info("sockname")[:2]
    return f"{host}:{port}"


async def _call(client: Client, twin: Twin, method: str, *args: ua.Variant) -> ua.StatusCode:
    cell = await client.nodes.objects.get_child(f"{twin.ns(NS.TWIN)}:Cell")
    return (await raw_call(client, cell, f"{twin.ns(NS.TWIN)}:{method}", *args)).StatusCode


def _audit(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "opcua_server.audit"]


async def test_each_call_is_audited_with_user_role_address_method_and_status(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="opcua_server.audit")
    async with twin.session("otto") as otto, twin.session("vera") as vera:
        submitted = await _call(otto, twin, "SubmitOrder", ua.Variant(_ORDER))
        denied = await _call(vera, twin, "Pause")
        calls = [line for line in _audit(caplog) if line[1].startswith("call ")]
        assert calls == [
            ("INFO", f"call SubmitOrder on Cell by 'otto' (operator) from {_address(otto)}: Good"),
            (
                "WARNING",
                f"call Pause on Cell by 'vera' (viewer) from {_address(vera)}: BadUserAccessDenied",
            ),
        ]
    assert submitted.is_good()
    assert denied.value == ua.StatusCodes.BadUserAccessDenied
    logged = "\n".join(message for _, message in _audit(caplog))
    assert "AUDIT-SECRET-7" not in logged  # the arguments are not logged
    assert all(password not in logged for _, password in USERS.values())


async def test_a_request_of_several_calls_is_audited_per_call(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="opcua_server.audit")
    async with twin.session("erin") as client:
        cell = await client.nodes.objects.get_child(f"{twin.ns(NS.TWIN)}:Cell")
        requests = []
        for method, args in (("SetSpeed", [ua.Variant(-1.0)]), ("Forecast", [ua.Variant("1h")])):
            request = ua.CallMethodRequest()
            request.ObjectId = cell.nodeid
            request.MethodId = (await cell.get_child(f"{twin.ns(NS.TWIN)}:{method}")).nodeid
            request.InputArguments = args
            requests.append(request)
        await client.uaclient.call(requests)
        where = _address(client)
    calls = [message for _, message in _audit(caplog) if message.startswith("call ")]
    assert calls == [
        f"call SetSpeed on Cell by 'erin' (engineer) from {where}: BadInvalidArgument",
        f"call Forecast on Cell by 'erin' (engineer) from {where}: Good",
    ]
