"""The where clause of a HistoryRead of events, applied to the stored events.

asyncua's HistoryManager hands the storage the read's EventFilter and applies only its select
clauses, so without this a client asking for the history of one event type (asyncua's
``Node.read_event_history(evtypes=...)`` sends ``EventType InList [the type and its
subtypes]``, UaExpert sends ``OfType``) got every event of the source.

``compile_where`` checks a ContentFilter once, on the event loop (where the address space is:
OfType needs the type's subtypes), and returns the fields it reads and a predicate over an
event's decoded fields, which the history's reader thread evaluates on each stored event.
``element_errors`` judges each element on its own (a live event item's EventFilterResult).

Supported operators (OPC 10000-4, 7.7.3): Equals, IsNull, GreaterThan, LessThan,
GreaterThanOrEqual, LessThanOrEqual, Like, Not, Between, InList, And, Or, OfType,
BitwiseAnd, BitwiseOr; operands: literals, elements and SimpleAttributeOperands naming an
event field by browse path. Anything else is refused with a status a client can act on
(BadFilterOperatorUnsupported, BadFilterOperandInvalid, BadFilterElementInvalid,
BadFilterOperandCountMismatch), never silently ignored. A field the event does not have is
null; a comparison with null, or between values of types that do not compare, is null, and an
event is returned only where the clause is true (7.7.1's three-valued logic).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from asyncua import ua

__all__ = ["MAX_ELEMENTS", "FieldPredicate", "compile_where", "element_errors", "like_pattern"]

FieldPredicate = Callable[[Mapping[str, ua.Variant]], bool]

_F = ua.FilterOperator
_COMPARE: dict[int, Callable[[Any, Any], Any]] = {
    _F.Equals: operator.eq,
    _F.GreaterThan: operator.gt,
    _F.LessThan: operator.lt,
    _F.GreaterThanOrEqual: operator.ge,
    _F.LessThanOrEqual: operator.le,
    _F.BitwiseAnd: operator.and_,
    _F.BitwiseOr: operator.or_,
}
# operands each operator takes (None: two or more)
_ARITY: dict[int, int | None] = {
    **dict.fromkeys(_COMPARE, 2),
    _F.IsNull: 1,
    _F.Not: 1,
    _F.OfType: 1,
    _F.Like: 2,
    _F.And: 2,
    _F.Or: 2,
    _F.Between: 3,
    _F.InList: None,
}


def _refuse(code: int, what: str) -> ua.UaStatusCodeError:
    err = ua.UaStatusCodeError(code)
    err.add_note(what)
    return err


#: the most elements a where clause may have (real filters have a handful)
MAX_ELEMENTS = 128


class _Frame:
    """One evaluation: the event's fields, and the value of each element computed so far
    (every element once per event, whatever refers to it how often)."""

    __slots__ = ("event", "results")

    def __init__(self, event: Mapping[str, ua.Variant], n: int) -> None:
        self.event = event
        self.results: list[Any] = [None] * n


#: an operand's or element's value in one evaluation (None: null)
_Value = Callable[[_Frame], Any]


def compile_where(
    where: ua.ContentFilter | None, subtypes: Callable[[ua.NodeId], frozenset[ua.NodeId]]
) -> tuple[set[str], FieldPredicate | None]:
    """The event fields ``where`` reads and its predicate (None: no clause, every event).

    ``subtypes(t)``: the type ``t`` and all its subtypes (for OfType). Raises
    ``ua.UaStatusCodeError`` for a clause this server cannot evaluate (see the module), or
    of more than ``MAX_ELEMENTS`` elements. Each element is computed once per event, in an
    order where what it refers to comes first: elements referring to one another many times
    cost no more than once each (a chain of And(e, e) doubled the work per element), and
    neither compiling nor evaluating recurses."""
    elements = list(getattr(where, "Elements", None) or [])
    if not elements:
        return set(), None
    if len(elements) > MAX_ELEMENTS:
        raise _refuse(
            ua.StatusCodes.BadFilterElementInvalid,
            f"where clause: {len(elements)} elements, at most {MAX_ELEMENTS}",
        )
    fields: set[str] = set()
    order = _dependency_order(elements)
    n = len(elements)
    steps = [(i, _element(elements[i], i, n, subtypes, fields)) for i in order]

    def predicate(values: Mapping[str, ua.Variant]) -> bool:
        frame = _Frame(values, n)
        results = frame.results
        for i, compute in steps:
            results[i] = compute(frame)
        return results[0] is True

    return fields, predicate


def element_errors(
    where: ua.ContentFilter | None, subtypes: Callable[[ua.NodeId], frozenset[ua.NodeId]]
) -> list[ua.UaStatusCodeError | None]:
    """Each element of ``where`` judged on its own as ``compile_where`` judges it (its
    operator, its operands, and that the elements it names exist and are not itself): the
    error ``compile_where`` would raise for it, or None. What only the whole clause shows (a
    loop of references, more than ``MAX_ELEMENTS`` elements) ``compile_where`` raises."""
    elements = list(getattr(where, "Elements", None) or [])
    errors: list[ua.UaStatusCodeError | None] = []
    for index, el in enumerate(elements):
        try:
            _element(el, index, len(elements), subtypes, set())
        except ua.UaStatusCodeError as exc:
            errors.append(exc)
        else:
            errors.append(None)
    return errors


def _element(
    el: ua.ContentFilterElement,
    index: int,
    count: int,
    subtypes: Callable[[ua.NodeId], frozenset[ua.NodeId]],
    fields: set[str],
) -> _Value:
    """Element ``index`` (of ``count``) compiled, the event fields it reads added to
    ``fields``; raises for what this server cannot evaluate (see the module)."""
    for ref in el.FilterOperands:
        if isinstance(ref, ua.ElementOperand) and (
            not 0 <= ref.Index < count or ref.Index == index
        ):
            which = "is itself" if ref.Index == index else f"does not exist ({count} elements)"
            raise _refuse(
                ua.StatusCodes.BadFilterElementInvalid,
                f"where clause element {index}: an operand refers to element {ref.Index},"
                f" which {which}",
            )
    op = el.FilterOperator
    if op not in _ARITY:
        raise _refuse(
            ua.StatusCodes.BadFilterOperatorUnsupported,
            f"where clause element {index}: operator {_name(op)} is not supported",
        )
    args = [_operand(o, index, fields) for o in el.FilterOperands]
    arity = _ARITY[op]
    if (arity is None and len(args) < 2) or (arity is not None and len(args) != arity):
        raise _refuse(
            ua.StatusCodes.BadFilterOperandCountMismatch,
            f"where clause element {index}: {_name(op)} takes"
            f" {arity or 'two or more'} operands, not {len(args)}",
        )
    if op == _F.OfType:
        fields.add("EventType")  # the stored events decode only the fields named here
        return _of_type(el.FilterOperands[0], index, subtypes)
    return _combine(op, args)


def _operand(op: Any, index: int, fields: set[str]) -> _Value:
    if isinstance(op, ua.ElementOperand):
        j = op.Index
        return lambda frame: frame.results[j]
    if isinstance(op, ua.LiteralOperand):
        value = op.Value.Value if op.Value is not None else None
        return lambda _: value
    if isinstance(op, ua.SimpleAttributeOperand) and op.BrowsePath:
        if op.AttributeId != ua.AttributeIds.Value:
            raise _refuse(
                ua.StatusCodes.BadFilterOperandInvalid,
                f"where clause element {index}: only the Value attribute of an event field",
            )
        name = "/".join(q.Name for q in op.BrowsePath)
        fields.add(name)

        def field(frame: _Frame) -> Any:
            found = frame.event.get(name)
            return None if found is None else found.Value

        return field
    raise _refuse(
        ua.StatusCodes.BadFilterOperandInvalid,
        f"where clause element {index}: operand {type(op).__name__} is not supported"
        " (literals, elements and event fields by browse path are)",
    )


def _dependency_order(elements: list[ua.ContentFilterElement]) -> list[int]:
    """The elements element 0 needs, each after those it refers to (depth first, without
    recursion); BadFilterElementInvalid for a reference out of range or in a loop."""
    n = len(elements)
    order: list[int] = []
    state = [0] * n  # 0 unseen, 1 on the current path, 2 done
    stack: list[tuple[int, int]] = [(0, 0)]
    state[0] = 1
    while stack:
        i, k = stack[-1]
        refs = [o.Index for o in elements[i].FilterOperands if isinstance(o, ua.ElementOperand)]
        if k < len(refs):
            stack[-1] = (i, k + 1)
            j = refs[k]
            if not 0 <= j < n or state[j] == 1:
                raise _refuse(
                    ua.StatusCodes.BadFilterElementInvalid,
                    f"where clause: element {j} is out of range or refers to itself"
                    f" (from element {i})",
                )
            if state[j] == 0:
                state[j] = 1
                stack.append((j, 0))
            continue
        state[i] = 2
        order.append(i)
        stack.pop()
    return order


def _name(op: int) -> str:
    try:
        return ua.FilterOperator(op).name
    except ValueError:
        return str(op)


def _of_type(op: Any, index: int, subtypes: Callable[[ua.NodeId], frozenset[ua.NodeId]]) -> _Value:
    base = op.Value.Value if isinstance(op, ua.LiteralOperand) and op.Value is not None else None
    if not isinstance(base, ua.NodeId):
        raise _refuse(
            ua.StatusCodes.BadFilterOperandInvalid,
            f"where clause element {index}: OfType takes a literal NodeId (an event type)",
        )
    types = subtypes(base)

    def of_type(frame: _Frame) -> Any:
        found = frame.event.get("EventType")
        return found is not None and found.Value in types

    return of_type


def _safe(call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)``, null when an argument is null or the types do not compare."""
    if any(a is None for a in args):
        return None
    try:
        return call(*args)
    except (TypeError, ValueError):
        return None


def _and(a: Any, b: Any) -> Any:
    if a is False or b is False:
        return False
    return None if a is None or b is None else bool(a) and bool(b)


def _or(a: Any, b: Any) -> Any:
    if a is True or b is True:
        return True
    return None if a is None or b is None else bool(a) or bool(b)


def _combine(op: int, args: list[_Value]) -> _Value:
    if op in _COMPARE:
        compare, (left, right) = _COMPARE[op], args
        return lambda v: _safe(compare, left(v), right(v))
    if op == _F.IsNull:
        (arg,) = args
        return lambda v: arg(v) is None
    if op == _F.Not:
        (arg,) = args
        return lambda v: _safe(operator.not_, arg(v))
    if op == _F.And:
        a, b = args
        return lambda v: _and(a(v), b(v))
    if op == _F.Or:
        a, b = args
        return lambda v: _or(a(v), b(v))
    if op == _F.Between:
        x, lo, hi = args
        return lambda v: _and(_safe(operator.ge, x(v), lo(v)), _safe(operator.le, x(v), hi(v)))
    if op == _F.InList:
        head, rest = args[0], args[1:]
        return lambda v: _safe(operator.contains, [r(v) for r in rest], head(v))
    (text, pattern) = args  # Like
    return lambda v: _safe(_like, text(v), pattern(v))


def _like(text: Any, pattern: Any) -> bool:
    # a LocalizedText (an event's Message) or a QualifiedName matches by its text
    text = getattr(text, "Text", getattr(text, "Name", text))
    pattern = getattr(pattern, "Text", getattr(pattern, "Name", pattern))
    if not isinstance(text, str) or not isinstance(pattern, str):
        raise TypeError("Like compares strings")
    return like_pattern(pattern).fullmatch(text) is not None


@lru_cache(maxsize=256)
def like_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression of an OPC UA Like pattern (OPC 10000-4, table 123): ``%`` any
    string, ``_`` any character, ``[...]`` / ``[^...]`` a character (not) in the list, ``\\``
    escapes the next character."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        elif c == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            chars = "".join("\\" + ch if ch in "\\]^[" else ch for ch in body)
            out.append(f"[{'^' if negate else ''}{chars}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)
