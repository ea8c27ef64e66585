"""The where clause of a HistoryRead of events, compiled (``history_filter``): operators,
OPC UA's three-valued null logic, Like patterns, OfType with subtypes, and refusals naming
what cannot be evaluated. The server applies it: ``test_history_where``."""

from __future__ import annotations

from typing import Any

import pytest
from asyncua import ua

from opcua_server.history_filter import MAX_ELEMENTS, compile_where, like_pattern

F = ua.FilterOperator


def field(*path: str) -> ua.SimpleAttributeOperand:
    op = ua.SimpleAttributeOperand()
    op.TypeDefinitionId = ua.NodeId(ua.ObjectIds.BaseEventType)
    op.BrowsePath = [ua.QualifiedName(p, 0) for p in path]
    op.AttributeId = ua.AttributeIds.Value
    return op


def lit(value: Any, vtype: ua.VariantType | None = None) -> ua.LiteralOperand:
    return ua.LiteralOperand(Value=ua.Variant(value, vtype) if vtype else ua.Variant(value))


def where(*elements: tuple[int, list[Any]]) -> ua.ContentFilter:
    cf = ua.ContentFilter()
    cf.Elements = [
        ua.ContentFilterElement(FilterOperator=op, FilterOperands=ops) for op, ops in elements
    ]
    return cf


def keep(cf: ua.ContentFilter, **values: Any) -> bool:
    fields, predicate = compile_where(cf, lambda base: frozenset((base,)))
    assert predicate is not None
    assert fields <= {"Severity", "Message", "SourceName", "EventType"} | set(values)
    return predicate({k: ua.Variant(v) for k, v in values.items()})


def test_comparisons_and_lists() -> None:
    severe = where((F.GreaterThanOrEqual, [field("Severity"), lit(500)]))
    assert keep(severe, Severity=900)
    assert not keep(severe, Severity=100)
    between = where((F.Between, [field("Severity"), lit(200), lit(600)]))
    assert [keep(between, Severity=s) for s in (100, 200, 600, 700)] == [False, True, True, False]
    names = where((F.InList, [field("SourceName"), lit("cnc1"), lit("vision1")]))
    assert keep(names, SourceName="vision1")
    assert not keep(names, SourceName="robot1")


def test_null_logic_three_valued() -> None:
    # a field the event does not have is null: a comparison with it is not true, and neither
    # is its negation; Or with a true side is true, And with a false side is false
    severe = where((F.GreaterThan, [field("Severity"), lit(500)]))
    assert not keep(severe)
    negated = where((F.Not, [ua.ElementOperand(1)]), (F.GreaterThan, [field("Severity"), lit(500)]))
    assert not keep(negated)
    assert keep(negated, Severity=100)
    either = where(
        (F.Or, [ua.ElementOperand(1), ua.ElementOperand(2)]),
        (F.GreaterThan, [field("Severity"), lit(500)]),
        (F.Equals, [field("SourceName"), lit("cnc1")]),
    )
    assert keep(either, SourceName="cnc1")
    assert not keep(either, SourceName="robot1")
    both = where(
        (F.And, [ua.ElementOperand(1), ua.ElementOperand(2)]),
        (F.IsNull, [field("Severity")]),
        (F.Equals, [field("SourceName"), lit("cnc1")]),
    )
    assert keep(both, SourceName="cnc1")
    assert not keep(both, SourceName="cnc1", Severity=1)
    # types that do not compare: null, not an error
    assert not keep(severe, Severity="high")


def test_like_patterns() -> None:
    assert like_pattern("cnc%").fullmatch("cnc12")
    assert like_pattern("cnc_").fullmatch("cnc1")
    assert not like_pattern("cnc_").fullmatch("cnc12")
    assert like_pattern("[cv]%").fullmatch("vision1")
    assert not like_pattern("[^cv]%").fullmatch("vision1")
    assert like_pattern("100\\%").fullmatch("100%")
    assert not like_pattern("100\\%").fullmatch("1000")
    assert like_pattern("a.b").fullmatch("a.b")
    assert not like_pattern("a.b").fullmatch("axb")
    like = where((F.Like, [field("Message"), lit("%breakage%")]))
    assert keep(like, Message="cnc1: tool_breakage")
    # an event's Message is a LocalizedText: it matches by its text
    assert keep(like, Message=ua.LocalizedText("cnc1: tool_breakage"))
    assert not keep(like, Message=ua.LocalizedText("cnc1: breakdown"))


def test_of_type_uses_the_subtypes() -> None:
    base, sub, other = ua.NodeId(1, 2), ua.NodeId(2, 2), ua.NodeId(3, 2)
    cf = where((F.OfType, [lit(base)]))
    fields, predicate = compile_where(
        cf, lambda t: frozenset((t, sub)) if t == base else frozenset((t,))
    )
    # a HistoryRead decodes only the fields named here and those selected: one that did not
    # select EventType got no event at all
    assert fields == {"EventType"}
    assert predicate is not None
    assert predicate({"EventType": ua.Variant(sub)})
    assert not predicate({"EventType": ua.Variant(other)})
    assert not predicate({})


@pytest.mark.parametrize(
    ("cf", "code"),
    [
        (where((F.Cast, [field("Severity"), lit(ua.NodeId(6))])), "BadFilterOperatorUnsupported"),
        (where((F.Equals, [field("Severity")])), "BadFilterOperandCountMismatch"),
        (where((F.Not, [ua.ElementOperand(0)])), "BadFilterElementInvalid"),
        (where((F.Not, [ua.ElementOperand(5)])), "BadFilterElementInvalid"),
        (where((F.OfType, [field("EventType")])), "BadFilterOperandInvalid"),
        (where((F.IsNull, [ua.AttributeOperand()])), "BadFilterOperandInvalid"),
    ],
)
def test_what_cannot_be_evaluated_is_refused(cf: ua.ContentFilter, code: str) -> None:
    with pytest.raises(ua.UaStatusCodeError) as err:
        compile_where(cf, lambda base: frozenset((base,)))
    assert err.value.code == getattr(ua.StatusCodes, code)
    assert "where clause" in " ".join(getattr(err.value, "__notes__", []))


def test_no_clause_keeps_every_event() -> None:
    assert compile_where(None, lambda b: frozenset((b,))) == (set(), None)
    assert compile_where(ua.ContentFilter(), lambda b: frozenset((b,))) == (set(), None)


def _chain(n: int, operator: int) -> ua.ContentFilter:
    """e_i = op(e_{i+1}, e_{i+1}) (Not: op(e_{i+1})) ... e_n = Severity > 500."""
    two = operator != F.Not
    elements = [(operator, [ua.ElementOperand(i + 1)] * (2 if two else 1)) for i in range(n)]
    elements.append((F.GreaterThan, [field("Severity"), lit(500)]))
    return where(*elements)


def test_elements_referred_to_many_times_are_computed_once() -> None:
    # a reviewer's finding: And(e, e) chains doubled the work per element (22 of them: 0.5 s
    # an event, 40 about a day), on the event loop for a live item: any viewer froze the server
    cf = _chain(100, F.And)
    fields, predicate = compile_where(cf, lambda b: frozenset((b,)))
    assert fields == {"Severity"}
    assert predicate is not None
    calls = 0

    class Counting(dict[str, ua.Variant]):
        def get(self, key: str, default: Any = None) -> Any:
            nonlocal calls
            calls += 1
            return super().get(key, default)

    assert predicate(Counting(Severity=ua.Variant(900)))
    assert calls == 1  # the field read once: each element computed once
    assert not predicate({"Severity": ua.Variant(100)})


def test_long_chains_compile_and_run_without_recursion() -> None:
    cf = _chain(120, F.Not)  # 1,200 of them raised RecursionError: refused now (cap), and
    _, predicate = compile_where(cf, lambda b: frozenset((b,)))  # 120 work iteratively
    assert predicate is not None
    assert predicate({"Severity": ua.Variant(900)})  # an even number of Nots


def test_more_elements_than_the_cap_are_refused() -> None:
    with pytest.raises(ua.UaStatusCodeError) as err:
        compile_where(_chain(MAX_ELEMENTS, F.Not), lambda b: frozenset((b,)))
    assert err.value.code == ua.StatusCodes.BadFilterElementInvalid
    assert f"at most {MAX_ELEMENTS}" in " ".join(err.value.__notes__)


def test_a_loop_through_other_elements_is_refused() -> None:
    cf = where(
        (F.Not, [ua.ElementOperand(1)]),
        (F.Not, [ua.ElementOperand(2)]),
        (F.Not, [ua.ElementOperand(1)]),
    )
    with pytest.raises(ua.UaStatusCodeError) as err:
        compile_where(cf, lambda b: frozenset((b,)))
    assert err.value.code == ua.StatusCodes.BadFilterElementInvalid
