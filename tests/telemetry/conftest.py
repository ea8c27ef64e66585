"""Fixtures: a real VictoriaMetrics per test (free loopback port, temporary data directory)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.telemetry.servers import VictoriaMetrics, victoria_metrics


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    vm = victoria_metrics(tmp_path / "vm")
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()
