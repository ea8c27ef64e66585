"""twin.telemetry's public surface is exactly its ``__all__`` (package and modules)."""

from __future__ import annotations

import pytest

from tests.conftest import assert_public_surface_is_all

MODULES = [
    "twin.telemetry",
    "twin.telemetry.lineprotocol",
    "twin.telemetry.schema",
    "twin.telemetry.pipeline",
    "twin.telemetry.sinks",
    "twin.telemetry.spool",
    "twin.telemetry.stats",
    "twin.telemetry.status",
    "twin.telemetry.settings",
    "twin.telemetry.wiring",
    "twin.report.run_report",
    "twin.report.telemetry_file",
]


@pytest.mark.parametrize("module", MODULES)
def test_public_surface_is_all(module: str) -> None:
    assert_public_surface_is_all(module)


def test_package_exports_every_module_export_it_needs() -> None:
    import twin.telemetry as pkg

    for name in ("TelemetryPipeline", "build_pipeline", "attach_realtime", "TelemetrySettings"):
        assert name in pkg.__all__
