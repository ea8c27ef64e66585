"""A batch above the request size limit of the server or of a proxy in front of it (413) is
sent in halves, halved again while too large, live and from the spool: every line arrives
and nothing stays stuck in the spool. Only a single line above the limit is rejected. A real
nginx (``client_max_body_size``) in front of a real VictoriaMetrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.telemetry.servers import NginxProxy, VictoriaMetrics, nginx_proxy
from tests.telemetry.test_refused import INFLUX, replay_hint, status
from tests.telemetry.test_victoria_metrics import (
    DAY,
    assert_same_samples,
    exported,
    file_run,
    vm_samples,
)
from twin.cli import main

pytestmark = pytest.mark.services


# nginx in front of VictoriaMetrics refusing a few kB: the run's 5000-line batches (tens of
# kB gzip'd) are several times above it
SMALL_PROXY = pytest.mark.parametrize("proxy", ["6k"], indirect=True)


@SMALL_PROXY
def test_batches_above_a_proxys_limit_arrive_in_halves(
    proxy: NginxProxy, victoria: VictoriaMetrics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy.start()
    run = tmp_path / "run"
    assert main([*INFLUX, "--influx-url", proxy.url, "--out", str(run)]) == 0
    assert "NOT DELIVERED" not in capsys.readouterr().out
    code, st = status(run, capsys)
    assert code == 0
    assert st["batches_split"] > st["batches_produced"]  # halved more than once
    assert st["lines_written"] == st["lines_produced"] > 1000
    assert st["spool_lines"] == st["lines_rejected"] == st["lines_dropped"] == 0
    want = vm_samples(file_run(tmp_path, DAY, 60.0))
    assert_same_samples(want, exported(victoria, sum(map(len, want.values()))))


@SMALL_PROXY
def test_spooled_batches_above_the_limit_are_split_in_the_spool(
    proxy: NginxProxy, victoria: VictoriaMetrics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"  # the proxy is not up yet: the run spools whole batches
    assert main([*INFLUX, "--influx-url", proxy.url, "--out", str(run)]) == 0
    hint = replay_hint(capsys.readouterr().out)
    code, before = status(run, capsys)
    assert before["spool_lines"] == before["lines_produced"] > 1000
    proxy.start()
    assert main(hint) == 0
    code, after = status(run, capsys)
    assert code == 0
    assert after["spool_lines"] == after["spool_batches"] == 0
    assert after["lines_written"] == after["lines_replayed"] == before["lines_produced"]
    assert after["batches_split"] > 0
    want = vm_samples(file_run(tmp_path, DAY, 60.0))
    assert_same_samples(want, exported(victoria, sum(map(len, want.values()))))


def test_a_single_line_above_the_limit_is_rejected_the_rest_arrives(
    victoria: VictoriaMetrics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 230 bytes: a gzip'd line is 110 to 275 bytes here: some fit, some never will
    proxy = nginx_proxy(tmp_path / "nginx", victoria.url, "230")
    proxy.start()
    try:
        run = tmp_path / "run"
        argv = [*INFLUX, "--until", "2h", "--influx-url", proxy.url, "--out", str(run)]
        assert main(argv) == 1  # lines lost
    finally:
        proxy.stop()
    code, st = status(run, capsys)
    assert code == 1
    assert st["lines_rejected"] > 0
    assert st["lines_written"] > 0
    assert st["lines_written"] + st["lines_rejected"] == st["lines_produced"]
    assert st["spool_lines"] == 0
    assert st["last_error"].startswith("HTTP 413: a single line (")
    assert st["last_error"].endswith("bytes gzip'd) is above the request size limit")
