"""Type definitions in the whole address space (OPC 10000-3): every Object and Variable has
exactly one HasTypeDefinition, to an ObjectType or VariableType; Methods have none. Nodes
the twin instantiates from an instance declaration (the JobOrderControl methods, the
optional JobOrderResponseList) take the declaration's type definition, not the declaration."""

from __future__ import annotations

from collections import Counter

import pytest
from asyncua import ua

from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin
from tests.opcua.jobs_client import control_call

pytestmark = pytest.mark.asyncio(loop_scope="module")

_HAS_TYPE_DEFINITION = ua.NodeId(ua.ObjectIds.HasTypeDefinition)
_TYPES = {ua.NodeClass.ObjectType, ua.NodeClass.VariableType}


async def test_every_type_definition_is_a_type(twin: Twin) -> None:
    assert twin.server.server is not None
    aspace = twin.server.server.iserver.aspace

    def node_class(nodeid: ua.NodeId) -> ua.NodeClass | None:
        data = aspace.get(nodeid)
        if data is None:
            return None
        return ua.NodeClass(data.attributes[ua.AttributeIds.NodeClass].value.Value.Value)

    wrong: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for nodeid in list(aspace.keys()):
        kind = node_class(nodeid)
        refs = aspace[nodeid].references
        targets = [
            r.NodeId for r in refs if r.IsForward and r.ReferenceTypeId == _HAS_TYPE_DEFINITION
        ]
        problems = []
        if kind == ua.NodeClass.Method and targets:
            problems.append("a Method with a type definition")
        if kind in (ua.NodeClass.Object, ua.NodeClass.Variable) and len(targets) != 1:
            problems.append(f"{kind.name} with {len(targets)} type definitions")
        problems += [
            f"type definition {node_class(t)} {t.to_string()}"
            for t in targets
            if node_class(t) not in _TYPES
        ]
        # what Browse returns as each child's TypeDefinition
        problems += [
            f"browsed child {r.NodeId.to_string()} with TypeDefinition {r.TypeDefinition}"
            for r in refs
            if r.IsForward
            and not r.TypeDefinition.is_null()
            and (
                node_class(r.TypeDefinition) not in _TYPES
                or node_class(r.NodeId) == ua.NodeClass.Method
            )
        ]
        for problem in problems:
            key = problem.split(" ns=")[0]
            wrong[key] += 1
            examples.setdefault(key, f"{nodeid.to_string()}: {problem}")
    assert not wrong, (wrong, examples)


async def test_instances_of_declarations_as_a_client_browses_them(twin: Twin) -> None:
    async with twin.session("otto") as client:
        control = client.get_node(ua.NodeId("Cell.JobManagement.JobOrderControl", twin.ns(NS.TWIN)))
        methods = await control.get_children_descriptions(refs=ua.ObjectIds.HasComponent)
        methods = [d for d in methods if d.NodeClass == ua.NodeClass.Method]
        assert len(methods) == 11
        for desc in methods:
            assert desc.TypeDefinition.is_null(), desc.BrowseName
            assert await client.get_node(desc.NodeId).read_type_definition() is None
        responses = client.get_node(
            ua.NodeId("Cell.JobManagement.JobOrderResults.JobOrderResponseList", twin.ns(NS.TWIN))
        )
        # the declaration's (ISA95JobResponseProviderObjectType/JobOrderResponseList) own
        assert await responses.read_type_definition() == ua.NodeId(
            ua.ObjectIds.BaseDataVariableType
        )
        # and the methods still answer (an operator's call)
        result = await control_call(client, twin, "Clear", ua.Variant("NO-SUCH-ORDER"))
        assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
