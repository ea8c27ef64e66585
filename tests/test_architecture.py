"""Structure rules: data apart from runtime; public surfaces are exactly ``__all__``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, assert_public_surface_is_all


def assert_imports_none(modules: str, forbidden: tuple[str, ...]) -> None:
    """Importing ``modules`` (comma-separated) in a fresh interpreter loads no module in or
    under ``forbidden``."""
    code = (
        f"import sys, {modules}; bad = [m for m in sys.modules if m in {forbidden!r} or "
        f"any(m.startswith(f + '.') for f in {forbidden!r})]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_model_never_imports_runtime() -> None:
    runtime = ("simpy", "asyncua", "twin.engine", "twin.machines", "adapters", "opcua_server")
    assert_imports_none("twin.model", runtime)


@pytest.mark.parametrize(
    "module",
    [
        "twin.model",
        "twin.machines",
        "twin.events",
        "twin.signals",
        "twin.errors",
        "twin.api",
        "twin.kpi",
        "twin.planning",
        "twin.runtime",
        "twin.clock",
        "twin.simulation",
        "twin.aio",
        "twin.files",
        "twin.links",
        "twin.engine.commands",
        "twin.engine.replay",
        "twin.engine.inspection",
        "twin.engine.inputs",
        "twin.engine.orders",
        "adapters",
        "adapters.base",
        "adapters.bridge",
        "adapters.config",
        "adapters.loader",
        "adapters.modbus",
        "adapters.modbus.adapter",
        "adapters.modbus.config",
        "adapters.opcua",
        "adapters.opcua.adapter",
        "adapters.opcua.config",
        "adapters.opcua.nodes",
    ],
)
def test_public_surface_is_all(module: str) -> None:
    assert_public_surface_is_all(module)


def test_the_twin_knows_nothing_of_adapters() -> None:
    """One direction: adapters use the engine and the API, never the other way round."""
    twin = "twin.api, twin.engine.cell, twin.runtime, twin.simulation, opcua_server"
    assert_imports_none(twin, ("adapters", "pymodbus"))


def test_machine_registry_covers_every_kind() -> None:
    from twin.machines import REGISTRY
    from twin.model import MACHINE_KINDS

    assert set(REGISTRY) == set(MACHINE_KINDS)
    for kind, model in REGISTRY.items():
        assert model.kind == kind
