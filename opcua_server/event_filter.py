"""Event filters of live subscriptions: checked when the monitored item is created, and
evaluated as a HistoryRead of events evaluates them (``history_filter.compile_where``).

asyncua accepts any EventFilter and evaluates its where clause on every event: a clause it
cannot evaluate (RelatedTo, an Equals with one operand, an And pointing at a missing element)
was created Good, never delivered, and logged a full traceback for every event (thousands a
second at high speed). ``install`` makes asyncua's MonitoredItemService check the filter of
an event item first, as OPC 10000-4 (7.22.3, 7.7) asks: a filter the server cannot evaluate
is refused with ``BadEventFilterInvalid`` and an EventFilterResult saying which select
clause or where-clause element is wrong and why (``BadFilterOperatorUnsupported``,
``BadFilterOperandCountMismatch``, ``BadFilterElementInvalid``, ``BadFilterOperandInvalid``,
``BadAttributeIdInvalid``); the item is not created and the log gets one line. A filter that
is no EventFilter, or selects nothing, is refused too. ModifyMonitoredItems checks a new
filter the same way (refused, the item keeps its filter) and applies an accepted one's where
clause (asyncua kept the old one).

The where clause of an accepted item is the predicate ``compile_where`` makes, so a live
subscription and a HistoryRead with the same filter select the same events: OfType with
subtypes (OPC 10000-4 7.7.3: "of type TypeDefinitionId or of a subtype of it"; asyncua
compared for equality, so OfType ISA95JobOrderStatusEventType, abstract, selected nothing),
OPC UA's null logic (a comparison with a missing field or between values that do not compare
is null, not an exception), ``Like``. Relies on asyncua 1.1-2.x internals: the module
attributes ``monitored_item_service.WhereClauseEvaluator`` and
``internal_subscription.MonitoredItemService``, and ``_create_events_monitored_item`` /
``_modify_monitored_item``; the tests of this module exercise them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

from asyncua import ua
from asyncua.server import internal_subscription, monitored_item_service
from asyncua.server.address_space import AddressSpace

from opcua_server.history_filter import FieldPredicate, compile_where, element_errors
from opcua_server.lookups import subtypes_of

__all__ = ["check_filter", "install"]

_log = logging.getLogger(__name__)
_Subtypes = Callable[[ua.NodeId], frozenset[ua.NodeId]]


# -- checking a filter ----------------------------------------------------------------------
def check_filter(aspace: AddressSpace, evfilter: Any) -> tuple[int, ua.EventFilterResult, str]:
    """What is wrong with the event filter of a new monitored item: the item's status code,
    the EventFilterResult for the client and the reason as one line; Good (and an empty
    result) when the server can apply it."""
    result = ua.EventFilterResult()
    if not isinstance(evfilter, ua.EventFilter):
        what = "no filter" if evfilter is None else type(evfilter).__name__
        return (
            ua.StatusCodes.BadEventFilterInvalid,
            result,
            f"an event item needs an EventFilter, not {what}",
        )
    selects = list(evfilter.SelectClauses or [])
    if not selects:
        return ua.StatusCodes.BadEventFilterInvalid, result, "the EventFilter selects no field"
    codes = [_select_code(s) for s in selects]
    where, reason = _where_results(evfilter.WhereClause, partial(subtypes_of, aspace))
    for i, code in enumerate(codes):
        if reason is None and code != ua.StatusCodes.Good:
            reason = f"select clause {i}: AttributeId {selects[i].AttributeId} is unknown"
    if reason is None:
        return ua.StatusCodes.Good, result, ""
    result.SelectClauseResults = [ua.StatusCode(c) for c in codes]
    result.WhereClauseResult = where
    return ua.StatusCodes.BadEventFilterInvalid, result, reason


def _select_code(clause: Any) -> int:
    # asyncua looks the attribute's name up for every event: an unknown one raised each time
    try:
        ua.AttributeIds(clause.AttributeId)
    except (ValueError, TypeError):
        return ua.StatusCodes.BadAttributeIdInvalid
    return ua.StatusCodes.Good


def _where_results(
    where: ua.ContentFilter | None, subtypes: _Subtypes
) -> tuple[ua.ContentFilterResult, str | None]:
    """The result of each element of ``where`` (``element_errors``) and the first reason it
    is refused; None when the whole clause compiles."""
    errors = element_errors(where, subtypes)
    codes = [ua.StatusCodes.Good if e is None else e.code for e in errors]
    reason = next((_reason(e) for e in errors if e is not None), None)
    if reason is None and errors:
        try:  # what no element shows alone: elements referring to each other in a loop
            compile_where(where, subtypes)
        except ua.UaStatusCodeError as exc:
            codes[0] = exc.code
            reason = _reason(exc)
    results = [ua.ContentFilterElementResult(StatusCode=ua.StatusCode(c)) for c in codes]
    return ua.ContentFilterResult(ElementResults=results if reason else []), reason


def _reason(exc: ua.UaStatusCodeError) -> str:
    notes = getattr(exc, "__notes__", None) or [str(exc)]
    return f"{notes[-1]} ({ua.StatusCode(exc.code).name})"


# -- evaluating it --------------------------------------------------------------------------
class _EventFields(Mapping[str, ua.Variant]):
    """The fields of an asyncua event (attributes named by browse path, ``A/B``) as the
    predicate of ``compile_where`` reads them."""

    __slots__ = ("_event",)

    def __init__(self, event: Any) -> None:
        self._event = event

    def __getitem__(self, name: str) -> ua.Variant:
        event = self._event
        if name in event.internal_properties:  # the event object's own, no field
            raise KeyError(name)
        value = getattr(event, name, None)
        if value is None:
            raise KeyError(name)
        return ua.Variant(value, event.data_types.get(name))

    def __iter__(self) -> Iterator[str]:
        hidden = self._event.internal_properties
        return (k for k, v in vars(self._event).items() if k not in hidden and v is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _CompiledWhere(monitored_item_service.WhereClauseEvaluator):  # type: ignore[misc]
    """The where clause of an event item as ``compile_where``'s predicate (checked when the
    item was created, so it compiles; its evaluation never raises for an event's values)."""

    def __init__(self, logger: logging.Logger, aspace: AddressSpace, where: Any) -> None:
        super().__init__(logger, aspace, where or ua.ContentFilter())
        self._keep: FieldPredicate | None
        try:
            _, self._keep = compile_where(where, partial(subtypes_of, aspace))
        except ua.UaStatusCodeError:  # not reached: refused at creation
            self._keep = lambda _: False
        self._failed = False

    def eval(self, event: Any) -> bool:
        if self._keep is None:
            return True
        try:
            return self._keep(_EventFields(event))
        except Exception:
            if not self._failed:  # once per item, not once per event
                self._failed = True
                _log.exception(
                    "event filter: evaluating a where clause failed; such events are not sent"
                )
            return False


class _CheckedMonitoredItems(monitored_item_service.MonitoredItemService):  # type: ignore[misc]
    """asyncua's MonitoredItemService with the event filter checked before an event item is
    created or its filter modified."""

    def _create_events_monitored_item(
        self, params: ua.MonitoredItemCreateRequest
    ) -> ua.MonitoredItemCreateResult:
        code, filter_result, reason = check_filter(self.aspace, params.RequestedParameters.Filter)
        if code == ua.StatusCodes.Good:
            return super()._create_events_monitored_item(params)
        _refused("created", params.ItemToMonitor.NodeId, code, reason)
        return ua.MonitoredItemCreateResult(
            StatusCode=ua.StatusCode(code), FilterResult=filter_result
        )

    def _modify_monitored_item(
        self, params: ua.MonitoredItemModifyRequest
    ) -> ua.MonitoredItemModifyResult:
        mdata = self._monitored_items.get(params.MonitoredItemId)
        if mdata is None:  # asyncua's own answer to this raises (it calls the StatusCode)
            code = ua.StatusCode(ua.StatusCodes.BadMonitoredItemIdInvalid)
            return ua.MonitoredItemModifyResult(StatusCode=code)
        new = params.RequestedParameters.Filter
        if mdata.where_clause_evaluator is None or new is None:  # a data item, or no new filter
            return super()._modify_monitored_item(params)
        code, filter_result, reason = check_filter(self.aspace, new)
        if code != ua.StatusCodes.Good:  # the item keeps its filter
            _refused("modified", mdata.read_value_id.NodeId, code, reason)
            return ua.MonitoredItemModifyResult(
                StatusCode=ua.StatusCode(code), FilterResult=filter_result
            )
        result = super()._modify_monitored_item(params)
        mdata.where_clause_evaluator = _CompiledWhere(self.logger, self.aspace, new.WhereClause)
        return result


def _refused(what: str, node: ua.NodeId, code: int, reason: str) -> None:
    _log.info(
        "event monitored item on %s not %s (%s): %s",
        node.to_string(),
        what,
        ua.StatusCode(code).name,
        reason,
    )


def install() -> None:
    """Check event filters and evaluate them with ``compile_where`` in every subscription
    created from now on."""
    monitored_item_service.WhereClauseEvaluator = _CompiledWhere
    internal_subscription.MonitoredItemService = _CheckedMonitoredItems
