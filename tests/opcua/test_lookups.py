"""Lookups in the address space (``opcua_server.lookups``): Browse and TranslateBrowsePath give
asyncua's own answers from cached type hierarchies, and a reference type added or removed
while the server runs is seen by the next request; adding a reference to a node with many
answers as asyncua's scan does (already there, conflicting, new), also after a reference was
deleted or the node's list replaced."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from asyncua import Server, ua
from asyncua.server.address_space import NodeManagementService, ViewService

from opcua_server import lookups

pytestmark = pytest.mark.asyncio(loop_scope="module")

HIERARCHICAL = ua.NodeId(ua.ObjectIds.HierarchicalReferences)
REFERENCES = ua.NodeId(ua.ObjectIds.References)
OBJECTS = ua.NodeId(ua.ObjectIds.ObjectsFolder)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[Server]:
    lookups.install()
    srv = Server()
    await srv.init()  # the standard address space; no endpoint needed for the internal session
    yield srv


def _asyncua_answer(view: ViewService, ref1: ua.NodeId, ref2: ua.NodeId) -> bool:
    # ViewService._suitable_reftype as asyncua has it, with subtypes
    return ref1 == ua.NodeId(ua.ObjectIds.Null) or ref1 == ref2 or ref2 in view._get_sub_ref(ref1)


def _browse(server: Server, node: ua.NodeId, reftype: ua.NodeId) -> set[ua.NodeId]:
    desc = ua.BrowseDescription(
        NodeId=node,
        BrowseDirection=ua.BrowseDirection.Forward,
        ReferenceTypeId=reftype,
        IncludeSubtypes=True,
    )
    [result] = server.iserver.view_service.browse(ua.BrowseParameters(NodesToBrowse=[desc]))
    return {r.NodeId for r in result.References}


async def test_every_reference_type_pair_answers_as_asyncua(server: Server) -> None:
    view = server.iserver.view_service
    types = sorted(lookups.subtypes_of(server.iserver.aspace, REFERENCES), key=str)
    assert len(types) > 30  # the standard reference types, all below References
    for ref1 in [ua.NodeId(ua.ObjectIds.Null), *types]:
        for ref2 in types:
            expected = _asyncua_answer(view, ref1, ref2)
            assert view._suitable_reftype(ref1, ref2, True) is expected, (ref1, ref2)
            assert view._suitable_reftype(ref1, ref2, False) is (ref1 in (ua.NodeId(0), ref2))


async def test_translate_browse_path_finds_children_by_a_supertype(server: Server) -> None:
    path = ua.BrowsePath(
        StartingNode=OBJECTS,
        RelativePath=ua.RelativePath(
            Elements=[
                ua.RelativePathElement(
                    ReferenceTypeId=HIERARCHICAL,
                    IsInverse=False,
                    IncludeSubtypes=True,
                    TargetName=ua.QualifiedName(Name="Server", NamespaceIndex=0),
                )
            ]
        ),
    )
    [result] = server.iserver.view_service.translate_browsepaths_to_nodeids([path])
    assert result.StatusCode.is_good()
    assert [t.TargetId for t in result.Targets] == [ua.NodeId(ua.ObjectIds.Server)]


async def test_a_reference_type_added_and_deleted_at_run_time_is_seen(server: Server) -> None:
    idx = await server.register_namespace("urn:test:subtypes")
    hierarchical = server.get_node(HIERARCHICAL)
    before = _browse(server, OBJECTS, HIERARCHICAL)  # the hierarchy is cached from here on
    reftype = await hierarchical.add_reference_type(ua.NodeId("Feeds", idx), "Feeds")
    target = await server.nodes.objects.add_object(ua.NodeId("Fed", idx), "Fed")
    # Fed hangs below Objects by Organizes; link it by the new type too, from Server
    await server.get_node(ua.ObjectIds.Server).add_reference(target.nodeid, reftype.nodeid)
    assert target.nodeid in _browse(server, ua.NodeId(ua.ObjectIds.Server), HIERARCHICAL)
    assert target.nodeid in _browse(server, OBJECTS, HIERARCHICAL)
    assert before < _browse(server, OBJECTS, HIERARCHICAL)

    # the HasSubtype reference removed: the new type is no hierarchical reference any more
    await hierarchical.delete_reference(
        reftype.nodeid, ua.ObjectIds.HasSubtype, forward=True, bidirectional=True
    )
    assert target.nodeid not in _browse(server, ua.NodeId(ua.ObjectIds.Server), HIERARCHICAL)
    await hierarchical.add_reference(reftype.nodeid, ua.ObjectIds.HasSubtype)
    assert target.nodeid in _browse(server, ua.NodeId(ua.ObjectIds.Server), HIERARCHICAL)

    # the type node deleted with the references to it
    await server.delete_nodes([reftype])
    assert reftype.nodeid not in lookups.subtypes_of(server.iserver.aspace, HIERARCHICAL)
    assert target.nodeid not in _browse(server, ua.NodeId(ua.ObjectIds.Server), HIERARCHICAL)


ORGANIZES = ua.NodeId(ua.ObjectIds.Organizes)


def _add(server: Server, source: ua.NodeId, target: ua.NodeId, forward: bool) -> ua.StatusCode:
    item = ua.AddReferencesItem(
        SourceNodeId=source,
        TargetNodeId=target,
        ReferenceTypeId=ORGANIZES,
        IsForward=forward,
        TargetNodeClass=ua.NodeClass.Object,
    )
    [status] = server.iserver.node_mgt_service.add_references([item])
    return status


def _organizes(server: Server, source: ua.NodeId, target: ua.NodeId) -> list[bool]:
    refs = server.iserver.aspace[source].references
    return [r.IsForward for r in refs if r.NodeId == target and r.ReferenceTypeId == ORGANIZES]


async def test_a_reference_added_to_a_node_with_many(server: Server) -> None:
    idx = await server.register_namespace("urn:test:references")
    aspace = server.iserver.aspace
    hub = (await server.nodes.objects.add_object(ua.NodeId("Hub", idx), "Hub")).nodeid
    target = (await server.nodes.objects.add_object(ua.NodeId("Ruled", idx), "Ruled")).nodeid
    known = aspace.keys()  # AddressSpace has no __iter__
    others = [n for n in known if n not in (hub, target)][: lookups.INDEXED_FROM]
    for other in others:
        assert _add(server, hub, other, True).is_good()
    count = len(aspace[hub].references)
    assert count >= lookups.INDEXED_FROM  # looked up from here on, not scanned
    assert _add(server, hub, others[0], True).is_good()  # indexed: there already
    assert len(aspace[hub].references) == count
    assert _add(server, hub, others[1], False).value == ua.StatusCodes.BadReferenceNotAllowed
    assert _add(server, hub, target, True).is_good()
    assert _organizes(server, hub, target) == [True]
    assert _add(server, hub, target, True).is_good()  # not twice
    assert _add(server, hub, target, False).value == ua.StatusCodes.BadReferenceNotAllowed
    assert _organizes(server, hub, target) == [True]
    assert len(aspace[hub].references) == count + 1

    # deleted: added again (an index kept across the deletion would say it is there)
    delete = ua.DeleteReferencesItem(
        SourceNodeId=hub,
        TargetNodeId=target,
        ReferenceTypeId=ORGANIZES,
        IsForward=True,
        DeleteBidirectional=False,
    )
    assert server.iserver.node_mgt_service.delete_references([delete])[0].is_good()
    assert _organizes(server, hub, target) == []
    assert _add(server, hub, target, False).is_good()
    assert _organizes(server, hub, target) == [False]

    # the list replaced by a new one without it (as remove_subtrees does): added again
    data = aspace[hub]
    data.references = [r for r in data.references if r.NodeId != target]
    assert _add(server, hub, target, True).is_good()
    assert _organizes(server, hub, target) == [True]


async def test_install_is_idempotent(server: Server) -> None:
    patched = ViewService._suitable_reftype
    adding = NodeManagementService._add_unique_reference
    deleting = NodeManagementService._delete_node
    lookups.install()
    assert ViewService._suitable_reftype is patched
    assert NodeManagementService._add_unique_reference is adding
    assert NodeManagementService._delete_node is deleting
    assert not hasattr(deleting.__wrapped__, "__wrapped__")  # wrapped once
