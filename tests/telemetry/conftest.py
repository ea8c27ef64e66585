"""Fixtures: a real VictoriaMetrics per test (free loopback port, temporary data directory)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import missing_service
from tests.telemetry.servers import VictoriaMetrics, find_victoria_metrics


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    binary = find_victoria_metrics()
    if binary is None:
        missing_service("victoria-metrics not installed (make services)")
    assert binary is not None
    vm = VictoriaMetrics(binary, tmp_path / "vm")
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()
