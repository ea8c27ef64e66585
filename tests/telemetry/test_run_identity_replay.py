"""Lines kept in the spool go out later with the run tag of the run that wrote them.

``twin simulate`` into a database that is away spools its lines; ``twin telemetry replay``
sends them afterwards, through ``Frontend`` (InfluxDB 1.8's v2 write API on InfluxDB 1.x's
``/write``): the database holds them under the run that spooled them, not under the replay.
"""

from __future__ import annotations

import asyncio
import gzip
import re
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.dashboards.influxdb1 import InfluxDB1
from tests.telemetry.frontend import Frontend
from tests.telemetry.lp import parse_lines
from twin.cli import main
from twin.telemetry import SPOOL_DIR

pytestmark = pytest.mark.services

RUN = re.compile(r"^2\d{3}-\d\d-\d\dT\d\d:\d\d:\d\dZ-\d{6}$")


async def test_replayed_lines_keep_their_run(
    default_scenario_path: Path, tmp_path: Path, influx: InfluxDB1
) -> None:
    influx.create_database("db")
    out = tmp_path / "run"
    away = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    args = ["simulate", str(default_scenario_path), "--until", "2h", "--out", str(out)]
    args += ["--signals", "10m", "--no-plots", "-q", "--telemetry", "influx", "--influx-url", away]
    assert await asyncio.to_thread(main, [*args, "--influx-bucket", "db/autogen"]) == 0
    spooled = [
        line
        for path in sorted((out / SPOOL_DIR).glob("*.lp.gz"))
        for line in gzip.decompress(path.read_bytes()).decode().splitlines()
    ]
    runs = {p.tags["run"] for p in parse_lines("\n".join(spooled))}
    assert len(runs) == 1
    (run,) = runs
    assert RUN.match(run), run

    proxy = Frontend(influx.url, v1=True)
    proxy.start()
    try:
        replay = ["telemetry", "replay", str(out), "--influx-url", proxy.url]
        replay += ["--influx-bucket", "db/autogen", "--redirect"]
        assert await asyncio.to_thread(main, replay) == 0
    finally:
        await asyncio.to_thread(proxy.stop)
    for measurement in ("machine_state", "kpi", "machine_signal", "job_event"):
        shown = influx.query(f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "run"', "db")
        assert [row[1] for row in shown["series"][0]["values"]] == [run], measurement
    stored = influx.query(f"SELECT count(\"produced\") FROM kpi WHERE run = '{run}'", "db")
    kpi_lines = [line for line in spooled if line.startswith("kpi,")]
    assert stored["series"][0]["values"][0][1] == len(kpi_lines)
