"""Fixtures: a real VictoriaMetrics per test (free loopback port, temporary data directory),
and the telemetry's warnings and errors as they come (``told``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.telemetry.fakes import Told
from tests.telemetry.servers import VictoriaMetrics, victoria_metrics


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    vm = victoria_metrics(tmp_path / "vm")
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


@pytest.fixture
def told() -> Iterator[Told]:
    handler = Told()
    logger = logging.getLogger("twin.telemetry")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
