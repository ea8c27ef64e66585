"""The real InfluxDB 1.x loaded with the 2-day run, shared by the dashboard query tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dashboards.grafana_queries import load_run
from tests.dashboards.influxdb1 import InfluxDB1, influxdb1


@pytest.fixture(scope="package")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    """InfluxDB 1.x holding the 2-day run of ``grafana_queries`` (started once per session of
    the dashboard tests; skipped, or failed under TWIN_REQUIRE_SERVICES, without influxd)."""
    server = influxdb1(tmp_path_factory.mktemp("influxdb1"))
    server.start()
    try:
        load_run(server, tmp_path_factory.mktemp("run"))
        yield server
    finally:
        server.stop()
