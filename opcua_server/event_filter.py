"""Event filters whose OfType selects subtypes too, as OPC 10000-4 (7.7.3, OfType: "true if
the target Node is of type TypeDefinitionId or of a subtype of it") has it.

asyncua's server compares the event's EventType with the operand for equality, so a client
filtering on OfType ISA95JobOrderStatusEventType (abstract: every event is of a subtype), or
on BaseEventType, would get nothing. ``install`` replaces the evaluator class that asyncua's
MonitoredItemService instantiates for each event item with one that walks the HasSubtype
references of the address space (relies on asyncua 1.1-2.x internals: the module attribute
``monitored_item_service.WhereClauseEvaluator`` and its ``_eval_el``/``_eval_op``/``_aspace``;
the job status event tests exercise them). Everything else is asyncua's.
"""

from __future__ import annotations

from typing import Any

from asyncua import ua
from asyncua.server import monitored_item_service
from asyncua.server.address_space import AddressSpace

__all__ = ["install", "is_subtype", "subtypes_of"]

_HAS_SUBTYPE = ua.NodeId(ua.ObjectIds.HasSubtype)


def is_subtype(aspace: AddressSpace, type_id: ua.NodeId, base: ua.NodeId) -> bool:
    """True if ``type_id`` is ``base`` or one of its subtypes (any depth)."""
    seen = set()
    current: ua.NodeId | None = type_id
    while current is not None and current not in seen:
        if current == base:
            return True
        seen.add(current)
        node = aspace.get(current)
        refs = node.references if node is not None else []
        current = next(
            (r.NodeId for r in refs if r.ReferenceTypeId == _HAS_SUBTYPE and not r.IsForward),
            None,
        )
    return False


def subtypes_of(aspace: AddressSpace, base: ua.NodeId) -> frozenset[ua.NodeId]:
    """``base`` and all its subtypes (any depth), from the HasSubtype references."""
    found = {base}
    todo = [base]
    while todo:
        node = aspace.get(todo.pop())
        for ref in node.references if node is not None else []:
            if ref.ReferenceTypeId == _HAS_SUBTYPE and ref.IsForward and ref.NodeId not in found:
                found.add(ref.NodeId)
                todo.append(ref.NodeId)
    return frozenset(found)


class _SubtypeOfType(monitored_item_service.WhereClauseEvaluator):  # type: ignore[misc]
    def _eval_el(self, index: int, event: Any) -> Any:
        element = self.elements[index]
        if element.FilterOperator == ua.FilterOperator.OfType:
            base = self._eval_op(element.FilterOperands[0], event)
            return isinstance(base, ua.NodeId) and is_subtype(self._aspace, event.EventType, base)
        return super()._eval_el(index, event)


def install() -> None:
    """Use the subtype-aware evaluator for every event item created from now on."""
    monitored_item_service.WhereClauseEvaluator = _SubtypeOfType
