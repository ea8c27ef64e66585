"""Cached type hierarchies (``opcua_server.subtypes``): Browse and TranslateBrowsePath give
asyncua's own answers, and a reference type added or removed while the server runs is seen
by the next request (the cache is forgotten when a HasSubtype reference or a node goes)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from asyncua import Server, ua
from asyncua.server.address_space import NodeManagementService, ViewService

from opcua_server import subtypes

pytestmark = pytest.mark.asyncio(loop_scope="module")

HIERARCHICAL = ua.NodeId(ua.ObjectIds.HierarchicalReferences)
REFERENCES = ua.NodeId(ua.ObjectIds.References)
OBJECTS = ua.NodeId(ua.ObjectIds.ObjectsFolder)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[Server]:
    subtypes.install()
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
    types = sorted(subtypes.subtypes_of(server.iserver.aspace, REFERENCES), key=str)
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
    assert reftype.nodeid not in subtypes.subtypes_of(server.iserver.aspace, HIERARCHICAL)
    assert target.nodeid not in _browse(server, ua.NodeId(ua.ObjectIds.Server), HIERARCHICAL)


async def test_install_is_idempotent(server: Server) -> None:
    patched = ViewService._suitable_reftype
    wrapped = NodeManagementService._add_unique_reference
    subtypes.install()
    assert ViewService._suitable_reftype is patched
    assert NodeManagementService._add_unique_reference is wrapped
    assert not hasattr(wrapped.__wrapped__, "__wrapped__")  # wrapped once
