"""The real InfluxDB 1.x loaded with two runs, shared by the dashboard query tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dashboards.grafana_queries import Loaded, load_run
from tests.dashboards.influxdb1 import InfluxDB1, influxdb1


@pytest.fixture(scope="package")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """InfluxDB 1.x holding the runs of ``grafana_queries`` (started once per session of the
    dashboard tests; skipped, or failed under TWIN_REQUIRE_SERVICES, without influxd)."""
    server = influxdb1(tmp_path_factory.mktemp("influxdb1"))
    server.start()
    try:
        yield load_run(server, tmp_path_factory.mktemp("run"))
    finally:
        server.stop()


@pytest.fixture(scope="package")
def influx(loaded: Loaded) -> InfluxDB1:
    """The server of ``loaded``."""
    return loaded.server


@pytest.fixture(scope="package")
def variables(loaded: Loaded) -> dict[str, str]:
    """The template variables of ``grafana_queries.ALL_VARS`` and the 2-day run."""
    return loaded.variables
