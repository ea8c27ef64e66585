"""Type hierarchies of an address space, computed once and kept until a HasSubtype changes.

asyncua's ViewService decides whether a reference matches a Browse or TranslateBrowsePath
request's reference type "or its subtypes" by walking the reference-type hierarchy from the
requested type, recursively, for every reference of every node browsed: a Browse of a node
with 10 references walks the ~50 reference types 10 times. Browsing is what the NodeSet2
importer (it browses every node it imports), asyncua's ``instantiate`` and every client's
Browse and TranslateBrowsePathsToNodeIds do; at a server start the walks were about half of
the NodeSet2 import and of the machines' instantiation.

``subtypes_of`` returns a type and all its subtypes from a cache per address space;
``install`` makes the ViewService use it and the NodeManagementService forget the cache when
a HasSubtype reference is added or deleted, or a node is deleted (those are the only ways
asyncua changes references). The answers are the ones asyncua gives: a type matches itself
and every type reached by forward HasSubtype references, at any depth.

Relies on asyncua 1.1-2.x internals: ``ViewService._suitable_reftype`` and
``NodeManagementService._add_unique_reference``, ``_delete_unique_reference`` and
``_delete_node``; the tests of this module exercise them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from asyncua import ua
from asyncua.server.address_space import AddressSpace, NodeManagementService, ViewService

__all__ = ["forget", "install", "subtypes_of"]

_HAS_SUBTYPE = ua.NodeId(ua.ObjectIds.HasSubtype)
_NULL = ua.NodeId(ua.ObjectIds.Null)


class _Cache:
    __slots__ = ("nodes", "types")

    def __init__(self, nodes: object) -> None:
        self.nodes = nodes  # the address space's node store these hierarchies were read from
        self.types: dict[ua.NodeId, frozenset[ua.NodeId]] = {}


_caches: weakref.WeakKeyDictionary[AddressSpace, _Cache] = weakref.WeakKeyDictionary()


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
    cache = _caches.get(aspace)
    nodes = getattr(aspace, "_nodes", None)
    if cache is None or cache.nodes is not nodes:  # new, or AddressSpace.load replaced them
        cache = _caches[aspace] = _Cache(nodes)
    found = cache.types.get(base)
    if found is None:
        found = cache.types[base] = _walk(aspace, base)
    return found


def forget(aspace: AddressSpace) -> None:
    """Drop the hierarchies known of ``aspace`` (its HasSubtype references changed)."""
    _caches.pop(aspace, None)


# -- asyncua's services ----------------------------------------------------------------------
def _suitable_reftype(self: ViewService, ref1: ua.NodeId, ref2: ua.NodeId, subtypes: bool) -> bool:
    # as ViewService._suitable_reftype: no type asked matches all; else the type itself, and
    # with subtypes any type below it
    if ref1 in (_NULL, ref2):
        return True
    return subtypes and ref2 in subtypes_of(self._aspace, ref1)


def _forgetting(method: Callable[..., Any], changes: Callable[..., bool]) -> Callable[..., Any]:
    def wrapper(self: NodeManagementService, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            if changes(*args, **kwargs):
                forget(self._aspace)

    wrapper.__wrapped__ = method  # type: ignore[attr-defined]
    return wrapper


def _subtype_reference(_nodedata: object, desc: Any, *_: Any, **__: Any) -> bool:
    return bool(desc.ReferenceTypeId == _HAS_SUBTYPE)


def _subtype_item(item: Any, *_: Any, **__: Any) -> bool:
    return bool(item.ReferenceTypeId == _HAS_SUBTYPE)


def _always(*_: Any, **__: Any) -> bool:
    return True


def install() -> None:
    """Make asyncua's Browse and TranslateBrowsePathsToNodeIds use the cached hierarchies
    (idempotent)."""
    if getattr(ViewService._suitable_reftype, "_cached", False):
        return
    _suitable_reftype._cached = True  # type: ignore[attr-defined]
    ViewService._suitable_reftype = _suitable_reftype  # type: ignore[method-assign]
    nms = NodeManagementService
    nms._add_unique_reference = _forgetting(  # type: ignore[method-assign]
        nms._add_unique_reference, _subtype_reference
    )
    nms._delete_unique_reference = _forgetting(  # type: ignore[method-assign]
        nms._delete_unique_reference, _subtype_item
    )
    # a deleted node's references to and from it go too (a type among them)
    nms._delete_node = _forgetting(nms._delete_node, _always)  # type: ignore[method-assign]
