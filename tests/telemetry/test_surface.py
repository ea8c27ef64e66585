"""twin.telemetry's public surface is exactly its ``__all__`` (package and modules)."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "twin.telemetry",
    "twin.telemetry.lineprotocol",
    "twin.telemetry.schema",
    "twin.telemetry.pipeline",
    "twin.telemetry.sinks",
    "twin.telemetry.spool",
    "twin.telemetry.settings",
    "twin.telemetry.wiring",
    "twin.report.run_report",
    "twin.report.telemetry_file",
]


@pytest.mark.parametrize("module", MODULES)
def test_public_surface_is_all(module: str) -> None:
    mod = importlib.import_module(module)
    exported = list(mod.__all__)
    assert len(set(exported)) == len(exported), "duplicates in __all__"
    missing = [name for name in exported if not hasattr(mod, name)]
    assert not missing, f"{module}.__all__ names missing {missing}"
    public_defined = {
        n
        for n, v in vars(mod).items()
        if not n.startswith("_")
        and getattr(v, "__module__", None) == module
        and (isinstance(v, type) or callable(v))
    }
    assert public_defined <= set(exported), f"not in __all__: {public_defined - set(exported)}"


def test_package_exports_every_module_export_it_needs() -> None:
    import twin.telemetry as pkg

    for name in ("TelemetryPipeline", "build_pipeline", "attach_realtime", "TelemetrySettings"):
        assert name in pkg.__all__
