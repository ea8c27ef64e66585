"""Lookups instead of walks in asyncua's address space: type hierarchies and references.

- **Type hierarchies.** asyncua's ViewService decides whether a reference matches a Browse or
  TranslateBrowsePath request's reference type "or its subtypes" by walking the hierarchy
  below the requested type, recursively, for every reference of every node browsed (a Browse
  of a node with 10 references walked the ~50 reference types 10 times). The NodeSet2
  importer browses every node it imports, asyncua's ``instantiate`` browses the types, and
  clients browse: the walks were about half of a server start. ``subtypes_of`` gives a type
  and all its subtypes from a cache per address space, forgotten when a HasSubtype reference
  is added or deleted, or a node is deleted.
- **Adding a reference.** ``NodeManagementService._add_unique_reference`` scans the node's
  references for one of the same type to the same target. The importer adds the inverse of
  each HasModellingRule and HasTypeDefinition reference, so ``Mandatory`` and ``PropertyType``
  end with about a thousand references each, each added after a scan of those before it. A
  node with at least ``INDEXED_FROM`` references gets a dict of its references by (type,
  target), built on first use and kept up to date by the additions; it is used while the
  node's reference list is the same list of the same length, and every index is dropped when
  asyncua deletes a reference or a node (the only other ways it changes a list), so a list
  changed any other way is scanned again.

The answers are asyncua's: a type matches itself and every type reached by forward HasSubtype
references; of the references of one type to one target, the first decides whether a new one
is already there or conflicts (another direction: BadReferenceNotAllowed, logged as asyncua
logs it). ``install`` puts both in place.

Relies on asyncua 1.1-2.x internals: ``ViewService._suitable_reftype`` and
``NodeManagementService._add_unique_reference``, ``_delete_unique_reference`` and
``_delete_node``; the tests of this module exercise them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from asyncua import ua
from asyncua.server.address_space import (
    AddressSpace,
    NodeData,
    NodeManagementService,
    ViewService,
)

__all__ = ["INDEXED_FROM", "forget", "install", "subtypes_of"]

INDEXED_FROM = 64  # references of a node before additions to it use an index

_HAS_SUBTYPE = ua.NodeId(ua.ObjectIds.HasSubtype)
_NULL = ua.NodeId(ua.ObjectIds.Null)


# -- type hierarchies ------------------------------------------------------------------------
# Kept on the address space itself: a registry beside it (a WeakKeyDictionary) would keep every
# server alive, as the hierarchies' node store refers back to the address space through the
# nodes' method callbacks.
_ATTR = "_twin_hierarchies"


class _Hierarchies:
    __slots__ = ("nodes", "types")

    def __init__(self, nodes: object) -> None:
        self.nodes = nodes  # the address space's node store these hierarchies were read from
        self.types: dict[ua.NodeId, frozenset[ua.NodeId]] = {}


def _walk(aspace: AddressSpace, base: ua.NodeId) -> frozenset[ua.NodeId]:
    found = {base}
    todo = [base]
    while todo:
        node = aspace.get(todo.pop())
        for ref in node.references if node is not None else []:
            if ref.ReferenceTypeId == _HAS_SUBTYPE and ref.IsForward and ref.NodeId not in found:
                found.add(ref.NodeId)
                todo.append(ref.NodeId)
    return frozenset(found)


def subtypes_of(aspace: AddressSpace, base: ua.NodeId) -> frozenset[ua.NodeId]:
    """``base`` and all its subtypes (any depth), from the HasSubtype references."""
    known: _Hierarchies | None = getattr(aspace, _ATTR, None)
    nodes = getattr(aspace, "_nodes", None)
    if known is None or known.nodes is not nodes:  # new, or AddressSpace.load replaced them
        known = _Hierarchies(nodes)
        setattr(aspace, _ATTR, known)
    found = known.types.get(base)
    if found is None:
        found = known.types[base] = _walk(aspace, base)
    return found


def forget(aspace: AddressSpace) -> None:
    """Drop the hierarchies known of ``aspace`` (its HasSubtype references changed)."""
    setattr(aspace, _ATTR, None)


def _suitable_reftype(self: ViewService, ref1: ua.NodeId, ref2: ua.NodeId, subtypes: bool) -> bool:
    # as ViewService._suitable_reftype: no type asked matches all; else the type itself, and
    # with subtypes any type below it
    if ref1 in (_NULL, ref2):
        return True
    return subtypes and ref2 in subtypes_of(self._aspace, ref1)


# -- references of a node --------------------------------------------------------------------
_Key = tuple[ua.NodeId, ua.NodeId]  # (reference type, target)


class _Index:
    __slots__ = ("first", "length", "refs")

    def __init__(self, refs: list[ua.ReferenceDescription]) -> None:
        self.refs = refs
        self.length = len(refs)
        self.first: dict[_Key, bool] = {}  # the IsForward of the first such reference
        for r in refs:
            self.first.setdefault((r.ReferenceTypeId, r.NodeId), r.IsForward)


_indexes: weakref.WeakKeyDictionary[NodeData, _Index] = weakref.WeakKeyDictionary()


def _add_unique_reference(
    self: NodeManagementService, nodedata: NodeData, desc: ua.ReferenceDescription
) -> ua.StatusCode:
    if desc.ReferenceTypeId == _HAS_SUBTYPE:
        forget(self._aspace)
    refs = nodedata.references
    if len(refs) < INDEXED_FROM:
        return _scan(self, nodedata, desc)  # type: ignore[no-any-return]
    index = _indexes.get(nodedata)
    if index is None or index.refs is not refs or index.length != len(refs):
        index = _indexes[nodedata] = _Index(refs)
    key = (desc.ReferenceTypeId, desc.NodeId)
    forward = index.first.get(key)
    if forward is None:
        refs.append(desc)
        index.first[key] = desc.IsForward
        index.length += 1
    elif forward != desc.IsForward:
        self.logger.error("Cannot add conflicting reference %s ", str(desc))
        return ua.StatusCode(ua.StatusCodes.BadReferenceNotAllowed)
    return ua.StatusCode()


_scan: Callable[..., Any] = NodeManagementService._add_unique_reference


def _forgetting(method: Callable[..., Any]) -> Callable[..., Any]:
    # a reference or node deleted: the hierarchies may have changed, the lists have
    def wrapper(self: NodeManagementService, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            forget(self._aspace)
            _indexes.clear()

    wrapper.__wrapped__ = method  # type: ignore[attr-defined]
    return wrapper


def install() -> None:
    """Make asyncua's Browse, TranslateBrowsePathsToNodeIds and reference additions use the
    lookups (idempotent)."""
    global _scan
    if ViewService._suitable_reftype is _suitable_reftype:
        return
    ViewService._suitable_reftype = _suitable_reftype  # type: ignore[method-assign]
    nms = NodeManagementService
    _scan = nms._add_unique_reference
    nms._add_unique_reference = _add_unique_reference  # type: ignore[method-assign]
    nms._delete_unique_reference = _forgetting(  # type: ignore[method-assign]
        nms._delete_unique_reference
    )
    nms._delete_node = _forgetting(nms._delete_node)  # type: ignore[method-assign]
