"""Structure rules: data apart from runtime; public surfaces are exactly ``__all__``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, assert_public_surface_is_all


def test_model_never_imports_runtime() -> None:
    code = (
        "import sys, twin.model; bad = [m for m in ('simpy', 'asyncua', 'twin.engine', "
        "'twin.machines', 'adapters', 'opcua_server') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


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
        "twin.engine.commands",
        "twin.engine.replay",
        "twin.engine.inspection",
        "twin.engine.inputs",
        "twin.engine.orders",
    ],
)
def test_public_surface_is_all(module: str) -> None:
    assert_public_surface_is_all(module)


def test_machine_registry_covers_every_kind() -> None:
    from twin.machines import REGISTRY
    from twin.model import MACHINE_KINDS

    assert set(REGISTRY) == set(MACHINE_KINDS)
    for kind, model in REGISTRY.items():
        assert model.kind == kind
