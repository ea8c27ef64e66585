"""The OPC UA package's structure: public surfaces are exactly ``__all__``; node families are
listed explicitly and each module in ``opcua_server/nodes`` is a family or a shared helper."""

from __future__ import annotations

import importlib
import inspect

import pytest

from tests.conftest import ROOT

MODULES = [
    "opcua_server",
    "opcua_server.app",
    "opcua_server.history",
    "opcua_server.nodesets",
    "opcua_server.outbox",
    "opcua_server.security",
    "opcua_server.settings",
    "opcua_server.users",
    "opcua_server.nodes",
    "opcua_server.nodes.base",
    "opcua_server.nodes.cell",
    "opcua_server.nodes.events",
    "opcua_server.nodes.isa95",
    "opcua_server.nodes.job_control",
    "opcua_server.nodes.jobs",
    "opcua_server.nodes.machines",
    "opcua_server.nodes.placement",
]


@pytest.mark.parametrize("module", MODULES)
def test_public_surface_is_all(module: str) -> None:
    mod = importlib.import_module(module)
    exported = list(mod.__all__)
    assert len(set(exported)) == len(exported), "duplicates in __all__"
    for name in exported:
        assert hasattr(mod, name), f"{module}.__all__ names missing {name}"
    defined = {
        n
        for n, v in vars(mod).items()
        if not n.startswith("_")
        and getattr(v, "__module__", None) == module
        and (inspect.isclass(v) or inspect.isfunction(v))
    }
    assert defined <= set(exported), f"public but not in __all__: {defined - set(exported)}"


def test_node_families_are_listed_explicitly() -> None:
    from opcua_server.nodes import FAMILIES

    helpers = {"__init__", "base", "isa95", "job_control", "placement"}
    modules = {p.stem for p in (ROOT / "opcua_server" / "nodes").glob("*.py")} - helpers
    assert {f.__module__.rsplit(".", 1)[1] for f in FAMILIES} == modules
    for family in FAMILIES:
        for member in ("build", "start", "stop"):
            assert callable(getattr(family, member)), (family, member)
