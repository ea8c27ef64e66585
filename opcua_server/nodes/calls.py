"""What the families' methods share: the caller's role checked, the input arguments checked
against their declaration (count, DataType and ValueRank), the answer to a refused call,
reported in ``Cell/LastCommandResult`` like the result of every command, and the audit line of
every call (``audit_calls``).

A method's handler is only called with arguments that fit its declared ``InputArguments``:
a missing or surplus argument is answered BadArgumentsMissing or BadTooManyArguments, an
argument of another type (or an array for a scalar, a scalar for an array) BadTypeMismatch
naming the argument and the type expected, an argument holding more than ``MAX_TEXT``
characters of text or ``MAX_ELEMENTS`` array elements (its structures' fields included)
BadOutOfRange naming the argument and the limit, before the twin hears of the call (and
before anything parses it). A text the server shows others (``LastCommandResult``, the log)
holds at most ``MAX_SHOWN`` characters, an argument echoed in it at most 64
(``shown_text``), so a huge argument is not copied to every viewer.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from asyncua import ua

from opcua_server.peer import PEER
from opcua_server.security import CALLER
from opcua_server.users import AUDIT_LOGGER, Role
from twin.errors import InvalidStateError

if TYPE_CHECKING:
    from opcua_server.nodes.base import BuildContext

__all__ = [
    "LAST_COMMAND_RESULT",
    "MAX_ELEMENTS",
    "MAX_SHOWN",
    "MAX_TEXT",
    "access_denied",
    "argument_error",
    "audit_calls",
    "guard_calls",
    "refusal_code",
    "refuse",
    "refused_call",
    "report_result",
    "shown_text",
    "variant_text",
]

_log = logging.getLogger(__name__)

LAST_COMMAND_RESULT = "Cell.LastCommandResult"  # its NodeId's identifier (twin namespace)
MAX_TEXT = 64 * 1024  # characters of text in one input argument
MAX_ELEMENTS = 10_000  # array elements in one input argument
MAX_SHOWN = 1_000  # characters of a message shown to others (LastCommandResult, the log)
_ECHOED = 64  # characters of an argument echoed in such a message (as ``shown_user``)


def access_denied(
    name: str, role: Role, given: int, parent: ua.NodeId, owner: ua.NodeId
) -> ua.CallMethodResult | None:
    """The refusal of a call of method ``name`` on object ``parent`` before its arguments
    are looked at, or None: BadMethodInvalid when ``parent`` is not the method's ``owner``
    (OPC 10000-4: the method must be a component of the object), BadUserAccessDenied when
    the calling session's role is below ``role`` or not known (fails closed: a session the
    permission rules did not see, or a call from inside the server, has no role). In the
    method's own result, so that the other methods of the same Call request go on; nothing
    of the twin changes, LastCommandResult included (a viewer leaves no trace in what
    everyone reads)."""
    if parent != owner:
        message = f"{name}: is a method of {owner.to_string()}, not of {parent.to_string()}"
        return refused_call(ua.StatusCodes.BadMethodInvalid, message, None, given)
    caller = CALLER.get()
    if caller is not None and caller.twin_role >= role:
        return None
    held = "has no role" if caller is None else f"is {caller.twin_role.name.lower()}"
    message = f"{name}: needs the {role.name.lower()} role; this session {held}"
    # not logged here: the audit line of the call (``audit_calls``) is a warning already
    return refused_call(ua.StatusCodes.BadUserAccessDenied, message, None, given)


def audit_calls(iserver: Any, audit: logging.Logger | None = None) -> None:
    """Log every method call ``iserver`` answers on ``audit`` (default: the
    ``opcua_server.audit`` logger, as logins are): per method of a Call request, the method
    and its object (browse names), the session's user and role, the client address and the
    status answered; never the arguments (an order or a comment may carry anything). A call
    the role may not make is a warning, the others info. Wraps asyncua's method service (its
    ``call``, which every session's Call request goes through)."""
    log = audit or logging.getLogger(AUDIT_LOGGER)
    service, aspace = iserver.method_service, iserver.aspace
    call = service.call

    def name(nodeid: ua.NodeId) -> str:
        browse = aspace.read_attribute_value(nodeid, ua.AttributeIds.BrowseName)
        return str(browse.Value.Value.Name) if browse.StatusCode.is_good() else nodeid.to_string()

    async def audited(methods: list[ua.CallMethodRequest]) -> list[ua.CallMethodResult]:
        results: list[ua.CallMethodResult] = await call(methods)
        caller, peer = CALLER.get(), PEER.get() or "inside the server"
        who = "a session without role"
        if caller is not None:
            who = f"{caller.name!r} ({caller.twin_role.name.lower()})"
        for request, result in zip(methods, results, strict=False):
            status = result.StatusCode
            denied = status.value == ua.StatusCodes.BadUserAccessDenied
            log.log(
                logging.WARNING if denied else logging.INFO,
                "call %s on %s by %s from %s: %s",
                name(request.MethodId),
                name(request.ObjectId),
                who,
                peer,
                status.name,
            )
        return results

    service.call = audited


def guard_calls(iserver: Any) -> None:
    """A method of ``iserver`` that raises an exception is answered BadUnexpectedError and
    logged with its object, without its arguments (asyncua logs the whole request, arguments
    included: a 200 KB order on stderr). Wraps asyncua's ``_run_method`` of the method
    service."""
    service = iserver.method_service
    run = service._run_method

    async def guarded(func: Any, parent: ua.NodeId, *args: Any) -> Any:
        try:
            return await run(func, parent, *args)
        except Exception:
            _log.exception(
                "a method of %s failed (its %d arguments are not logged)",
                parent.to_string(),
                len(args),
            )
            result = ua.CallMethodResult()
            result.StatusCode = ua.StatusCode(ua.StatusCodes.BadUnexpectedError)
            return result

    service._run_method = guarded


_V = ua.VariantType
# a Double argument also takes these (an integer or a single-precision number typed by hand)
_WIDENS = {_V.Double: (_V.Float, _V.Int32, _V.UInt32)}
_STRUCTURE, _BASE_DATA_TYPE = ua.ObjectIds.Structure, ua.ObjectIds.BaseDataType


def report_result(ctx: BuildContext, text: str) -> None:
    """Queue ``text`` ("<method>: ok" or "<method>: <why it was refused>") for
    ``Cell/LastCommandResult``, the result of the last command an operator or engineer gave
    (at most ``MAX_SHOWN`` characters of it: every viewer reads it)."""
    ctx.write(ctx.nid(LAST_COMMAND_RESULT), shown_text(text), ua.VariantType.String)


def shown_text(text: str, arguments: Sequence[object] = ()) -> str:
    """``text`` as the server shows it to others: each of the string ``arguments`` longer
    than 64 characters cut to 64 and "..." where ``text`` quotes it, then ``text`` cut to
    ``MAX_SHOWN`` characters (its length said)."""
    for arg in arguments:
        if isinstance(arg, str) and len(arg) > _ECHOED:
            short = arg[:_ECHOED] + "..."
            text = text.replace(repr(arg), repr(short)).replace(arg, short)
    if len(text) > MAX_SHOWN:
        text = f"{text[:MAX_SHOWN]}... ({len(text):,} characters)"
    return text


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
    arguments: Sequence[object] = (),
) -> ua.CallMethodResult:
    """``refused_call`` for a call of ``method`` the client got wrong: logged without a
    traceback (the client's mistake, not the server's) and reported in LastCommandResult as
    "<method>: <message>"; the argument's diagnostic info says ``diagnostic`` (default
    ``message``). The ``arguments`` of the call are shortened where the texts quote them
    (``shown_text``)."""
    message = shown_text(message, arguments)
    _log.info("%s rejected: %s", method, message)
    report_result(ctx, f"{method}: {message}")
    diagnostic = message if diagnostic is None else shown_text(diagnostic, arguments)
    return refused_call(code, diagnostic, index, inputs)


def argument_error(
    args: Sequence[ua.Variant],
    inputs: Sequence[ua.Argument],
    names: Sequence[str],
    *,
    optional: int = 0,
) -> tuple[int, str, int | None] | None:
    """What is wrong with ``args`` for a method declaring ``inputs`` (their ``names`` as the
    messages call them; the last ``optional`` ones may be left out): None if they fit, else
    the status code, the message and the index of the argument to mark (None: none, e.g. a
    missing one)."""
    required = len(inputs) - optional
    if not required <= len(args) <= len(inputs):
        code = ua.StatusCodes.BadArgumentsMissing
        surplus = None
        if len(args) > len(inputs):
            code, surplus = ua.StatusCodes.BadTooManyArguments, len(inputs)
        return code, f"{_expects(names, required)}, got {len(args)}", surplus
    for i, (arg, spec) in enumerate(zip(args, inputs, strict=False)):
        if not _fits(arg, spec):
            message = f"{names[i]}: expected {_type_text(spec)}, got {variant_text(arg)}"
            return ua.StatusCodes.BadTypeMismatch, message, i
        text, elements = _size(arg)
        if text > MAX_TEXT:
            message = f"{names[i]}: {text:,} characters of text, at most {MAX_TEXT:,}"
            return ua.StatusCodes.BadOutOfRange, message, i
        if elements > MAX_ELEMENTS:
            message = f"{names[i]}: {elements:,} array elements, at most {MAX_ELEMENTS:,}"
            return ua.StatusCodes.BadOutOfRange, message, i
    return None


def _size(arg: ua.Variant) -> tuple[int, int]:
    """The characters of text (strings, byte strings, localized texts, names) and the array
    elements in ``arg``, through its structures' fields and variants (no recursion: a deep
    structure costs no stack)."""
    text = elements = 0
    stack: list[object] = [arg.Value]
    while stack:
        value = stack.pop()
        if isinstance(value, str | bytes):
            text += len(value)
        elif isinstance(value, list):
            elements += len(value)
            stack.extend(value)
        elif isinstance(value, ua.Variant):
            stack.append(value.Value)
        elif isinstance(value, ua.ExtensionObject):  # one the server could not decode
            text += len(value.Body or b"")
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            # a structure, LocalizedText and QualifiedName included
            stack.extend(getattr(value, f.name) for f in dataclasses.fields(value))
    return text, elements


def _expects(names: Sequence[str], required: int) -> str:
    """ "expects 2 arguments (machine, kind)", "expects 1 or 2 arguments (JobOrderID,
    optional Comment)"."""
    if not names:
        return "expects no arguments"
    listed = [*names[:required], *(f"optional {n}" for n in names[required:])]
    count = str(required)
    if required < len(names):
        count += f" {'or' if len(names) == required + 1 else 'to'} {len(names)}"
    plural = "" if count == "1" else "s"
    return f"expects {count} argument{plural} ({', '.join(listed)})"


def _fits(arg: ua.Variant, spec: ua.Argument) -> bool:
    """Whether ``arg`` is of the argument's DataType and ValueRank: a built-in type exactly (a
    Double also from Float, Int32, UInt32), a structure as the decoded class of that data type
    (the server decodes only the structures it knows, so a subtype sent by a client could not
    be decoded either); abstract and other data types are not checked. A Null variant is an
    absent array, so it fits an array argument only."""
    rank = spec.ValueRank
    if arg.VariantType == _V.Null:
        return rank != ua.ValueRank.Scalar
    dims = arg.Dimensions or []
    if arg.is_array or dims:
        if rank == ua.ValueRank.Scalar or (rank > 0 and len(dims or [0]) != rank):
            return False
        if rank == ua.ValueRank.ScalarOrOneDimension and len(dims) > 1:
            return False
        elements = _flat(arg.Value)
    elif rank >= ua.ValueRank.OneOrMoreDimensions:
        return False
    else:
        elements = [arg.Value]
    dtype = spec.DataType
    if dtype.NamespaceIndex == 0 and isinstance(dtype.Identifier, int):
        if dtype.Identifier == _BASE_DATA_TYPE:
            return True
        if dtype.Identifier == _STRUCTURE:
            return arg.VariantType == _V.ExtensionObject
        if dtype.Identifier <= _V.DiagnosticInfo.value:
            expected = _V(dtype.Identifier)
            return arg.VariantType == expected or arg.VariantType in _WIDENS.get(expected, ())
    if dtype in ua.extension_objects_by_datatype:
        return arg.VariantType == _V.ExtensionObject and all(
            ua.datatype_by_extension_object.get(type(e)) == dtype for e in elements
        )
    return True


def _flat(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, list):
        return [e for v in value for e in _flat(v)]
    return [value]


def _type_text(spec: ua.Argument) -> str:
    """ "Double", "ISA95JobOrderDataType", "ISA95StateDataType[]"."""
    dtype = spec.DataType
    cls = ua.extension_objects_by_datatype.get(dtype)
    if cls is not None:
        name = cls.__name__
    elif dtype.NamespaceIndex == 0 and isinstance(dtype.Identifier, int):
        name = ua.ObjectIdNames.get(dtype.Identifier, dtype.to_string())
    else:
        name = dtype.to_string()
    return f"{name}[]" if spec.ValueRank >= ua.ValueRank.OneOrMoreDimensions else name


def variant_text(arg: ua.Variant) -> str:
    """What a client sent in a variant: "Int32", "String[]", "ExtensionObject" (a structure
    the server cannot decode), "ISA95StateDataType" (one it can), "Null"."""
    name = arg.VariantType.name
    elements = _flat(arg.Value) if arg.VariantType == _V.ExtensionObject else []
    if elements and not isinstance(elements[0], ua.ExtensionObject):
        name = type(elements[0]).__name__
    return f"{name}[]" if arg.is_array or arg.Dimensions else name
