"""The OPC UA package's structure: public surfaces are exactly ``__all__``; node families are
listed explicitly and each module in ``opcua_server/nodes`` is a family or a shared helper."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, assert_public_surface_is_all

MODULES = [
    "opcua_server",
    "opcua_server.app",
    "opcua_server.event_filter",
    "opcua_server.history",
    "opcua_server.nodeset_cache",
    "opcua_server.nodesets",
    "opcua_server.outbox",
    "opcua_server.security",
    "opcua_server.settings",
    "opcua_server.users",
    "opcua_server.nodes",
    "opcua_server.nodes.base",
    "opcua_server.nodes.calls",
    "opcua_server.nodes.cell",
    "opcua_server.nodes.events",
    "opcua_server.nodes.isa95",
    "opcua_server.nodes.job_control",
    "opcua_server.nodes.job_events",
    "opcua_server.nodes.job_records",
    "opcua_server.nodes.job_results",
    "opcua_server.nodes.jobs",
    "opcua_server.nodes.links",
    "opcua_server.nodes.machines",
    "opcua_server.nodes.placement",
]


@pytest.mark.parametrize("module", MODULES)
def test_public_surface_is_all(module: str) -> None:
    assert_public_surface_is_all(module)


def test_node_families_are_listed_explicitly() -> None:
    from opcua_server.nodes import FAMILIES

    helpers = {
        "__init__",
        "base",
        "calls",
        "isa95",
        "job_control",
        "job_events",
        "job_records",
        "job_results",
        "placement",
    }
    modules = {p.stem for p in (ROOT / "opcua_server" / "nodes").glob("*.py")} - helpers
    assert {f.__module__.rsplit(".", 1)[1] for f in FAMILIES} == modules
    for family in FAMILIES:
        for member in ("build", "start", "stop"):
            assert callable(getattr(family, member)), (family, member)
