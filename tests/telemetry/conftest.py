"""Fixtures: a real VictoriaMetrics and a real InfluxDB 1.x per test (free loopback port,
temporary data directory), and the telemetry's warnings and errors as they come (``told``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboards.influxdb1 import InfluxDB1, influxdb1
from tests.telemetry.fakes import Told
from tests.telemetry.servers import NginxProxy, VictoriaMetrics, nginx_proxy, victoria_metrics


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    vm = victoria_metrics(tmp_path / "vm")
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


@pytest.fixture
def proxy(
    request: pytest.FixtureRequest, tmp_path: Path, victoria: VictoriaMetrics
) -> Iterator[NginxProxy]:
    """nginx in front of ``victoria``, refusing bodies above 1 MB (its default), or above
    the size a test gives (``@pytest.mark.parametrize("proxy", ["6k"], indirect=True)``)."""
    server = nginx_proxy(tmp_path / "nginx", victoria.url, getattr(request, "param", "1m"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[InfluxDB1]:
    server = influxdb1(tmp_path / "influxdb1")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def told() -> Iterator[Told]:
    handler = Told()
    logger = logging.getLogger("twin.telemetry")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
