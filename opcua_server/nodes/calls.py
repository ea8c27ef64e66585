"""What the families' methods share: the answer to a refused call, reported in
``Cell/LastCommandResult`` like the result of every command."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from asyncua import ua

from twin.errors import InvalidStateError

if TYPE_CHECKING:
    from opcua_server.nodes.base import BuildContext

__all__ = [
    "LAST_COMMAND_RESULT",
    "refusal_code",
    "refuse",
    "refused_call",
    "report_result",
]

_log = logging.getLogger(__name__)

LAST_COMMAND_RESULT = "Cell.LastCommandResult"  # its NodeId's identifier (twin namespace)


def report_result(ctx: BuildContext, text: str) -> None:
    """Queue ``text`` ("<method>: ok" or "<method>: <why it was refused>") for
    ``Cell/LastCommandResult``, the result of the last command an operator or engineer gave."""
    ctx.write(ctx.nid(LAST_COMMAND_RESULT), text, ua.VariantType.String)


def refusal_code(exc: Exception) -> int:
    """The Bad status code answering a command the twin refused with ``exc``:
    BadInvalidState when the command does not apply in the current state
    (``InvalidStateError``), else BadInvalidArgument (a bad or unknown argument)."""
    if isinstance(exc, InvalidStateError):
        return ua.StatusCodes.BadInvalidState
    return ua.StatusCodes.BadInvalidArgument


def refused_call(code: int, message: str, index: int | None, inputs: int) -> ua.CallMethodResult:
    """A Bad Call result (a refused call changes nothing and has no output arguments):
    ``code`` for the call and for input argument ``index``, with ``message`` in that
    argument's diagnostic info; the other ``inputs`` arguments Good. ``index`` None (or
    beyond ``inputs``): no argument is singled out."""
    result = ua.CallMethodResult()
    result.StatusCode = ua.StatusCode(code)
    result.InputArgumentResults = [
        result.StatusCode if i == index else ua.StatusCode() for i in range(inputs)
    ]
    result.InputArgumentDiagnosticInfos = [
        ua.DiagnosticInfo(AdditionalInfo=message) if i == index else ua.DiagnosticInfo()
        for i in range(inputs)
    ]
    return result


def refuse(
    ctx: BuildContext,
    method: str,
    code: int,
    message: str,
    index: int | None,
    inputs: int,
    *,
    diagnostic: str | None = None,
) -> ua.CallMethodResult:
    """``refused_call`` for a call of ``method`` the client got wrong: logged without a
    traceback (the client's mistake, not the server's) and reported in LastCommandResult as
    "<method>: <message>"; the argument's diagnostic info says ``diagnostic`` (default
    ``message``)."""
    _log.info("%s rejected: %s", method, message)
    report_result(ctx, f"{method}: {message}")
    return refused_call(code, diagnostic if diagnostic is not None else message, index, inputs)
