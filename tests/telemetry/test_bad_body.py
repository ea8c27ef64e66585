"""A 400 is a rejection for good only when the server blames the points; a 400 for a body it
cannot read (a proxy that altered the gzip'd body) keeps the batch, says so, and the lines
arrive once that is fixed. Real servers: VictoriaMetrics, InfluxDB 1.x, and in front of them
a real HTTP server (``Frontend``, aiohttp) that mangles the body as such a proxy does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.dashboards.influxdb1 import InfluxDB1
from tests.telemetry.fakes import make
from tests.telemetry.frontend import Frontend
from tests.telemetry.servers import VictoriaMetrics
from tests.telemetry.test_refused import INFLUX, replay_hint, status
from tests.telemetry.test_victoria_metrics import (
    DAY,
    assert_same_samples,
    exported,
    file_run,
    vm_samples,
)
from twin.cli import main
from twin.telemetry import InfluxSink, Spool, TelemetryStats

NOW = 1_790_000_000_000_000_000  # 2026-09: within any retention


@pytest.mark.services
def test_a_body_the_server_cannot_read_keeps_the_lines_until_the_proxy_is_fixed(
    victoria: VictoriaMetrics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The walk-through's case: a proxy hands VictoriaMetrics the body decompressed but still
    labelled gzip; it answers 400 ("cannot read gzipped influx line protocol data"). Nothing
    is rejected: the run keeps every line, says the server refused the body (not the data)
    and exits 1; the printed replay sends them all once the proxy is fixed."""
    proxy = Frontend(victoria.url)
    proxy.mode = "mangle"
    proxy.start()
    try:
        run = tmp_path / "run"
        assert main([*INFLUX, "--influx-url", proxy.url, "--out", str(run)]) == 1
        out = capsys.readouterr().out
        refused = f"HTTP 400 from {proxy.url}/api/v2/write: the server refused the request body"
        assert f"NOT DELIVERED: {refused}, not the data" in out
        assert "cannot read gzipped influx line protocol data" in out
        assert "rejected" not in out
        code, before = status(run, capsys)
        assert code == 1
        assert before["lines_rejected"] == before["lines_written"] == 0
        assert before["spool_lines"] == before["lines_produced"] > 1000
        proxy.mode = "pass"  # the proxy is fixed
        assert main(replay_hint(out)) == 0
    finally:
        proxy.stop()
    want = vm_samples(file_run(tmp_path, DAY, 60.0))
    assert_same_samples(want, exported(victoria, sum(map(len, want.values()))))
    code, after = status(run, capsys)
    assert code == 0
    assert after["spool_lines"] == after["lines_rejected"] == 0


@pytest.fixture
def influx1(influx: InfluxDB1) -> InfluxDB1:
    """A real InfluxDB 1.x with database ``db``: retention policies ``autogen`` and ``short``
    (1 h) and field ``m.v`` an integer."""
    influx.create_database("db")
    rp = 'CREATE RETENTION POLICY "short" ON "db" DURATION 1h REPLICATION 1'
    influx._post("/query", {"q": rp}, b"")
    influx.write("db", [f"m,t=a v=1i {NOW}"])
    return influx


async def deliver(url: str, bucket: str, lines: list[str], tmp_path: Path) -> TelemetryStats:
    spool = Spool(tmp_path / "spool", 10**7)
    sink = InfluxSink(url, "", "org", bucket)
    pipeline = make(tmp_path, sink, spool=spool, batch_lines=100, max_in_flight=4, retry_max_s=0.02)
    await pipeline.start()
    pipeline.write_lines(lines)
    await pipeline.flush()
    return await pipeline.stop(2)


GOOD = [f"m,t=b v={i}i {NOW + i}" for i in range(3)]


@pytest.mark.services
@pytest.mark.parametrize(
    ("bucket", "bad", "mode", "said"),
    [
        ("db/autogen", f'm,t=c v="text" {NOW}', "pass", "partial write: field type conflict"),
        ("db/autogen", f"m,t=c v= {NOW}", "pass", "unable to parse"),
        ("db/short", "m,t=c v=1i 1000000000", "pass", "points beyond retention policy"),
        ("db/autogen", None, "mangle", "gzip: invalid header"),
    ],
    ids=["field-type-conflict", "unparsable", "beyond-retention", "body-mangled"],
)
async def test_influxdb_1_400s_rejected_only_for_the_points(
    influx1: InfluxDB1, tmp_path: Path, bucket: str, bad: str | None, mode: str, said: str
) -> None:
    """InfluxDB 1.x's own 400s, through ``Frontend`` mapping ``/api/v2/write`` to its
    ``/write`` as InfluxDB 1.8 does: a point error rejects the batch (with its sample line),
    a body it cannot read keeps it in the spool."""
    proxy = Frontend(influx1.url, v1=True)
    proxy.mode = mode
    proxy.start()
    try:
        lines = GOOD if bad is None else [*GOOD, bad]
        stats = await deliver(proxy.url, bucket, lines, tmp_path)
    finally:
        await asyncio.to_thread(proxy.stop)
    assert said in stats.last_error
    assert stats.balanced()
    if mode == "mangle":
        assert stats.lines_rejected == 0
        assert stats.spool_lines == len(lines)
        assert "the server refused the request body, not the data" in stats.refused
    else:
        assert stats.lines_rejected == len(lines)
        assert stats.spool_lines == 0
        assert stats.refused == ""


@pytest.mark.services
async def test_victoria_metrics_400_for_a_line_too_long_is_a_rejection(
    victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    """VictoriaMetrics skips lines it cannot parse (204); its one 400 about the data is a
    line above -influx.maxLineSize: rejected, not kept."""
    long = f'm,t=a s="{"x" * 300_000}" {NOW}'
    stats = await deliver(victoria.url, "b", [long], tmp_path)
    assert "too long line" in stats.last_error
    assert stats.lines_rejected == 1
    assert stats.spool_lines == 0
