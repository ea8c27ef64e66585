"""The influx sink against a real VictoriaMetrics: exact read-back, outage, restart."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest

from tests.telemetry.lp import Point, parse_lines
from tests.telemetry.runs import simulate_run
from tests.telemetry.servers import VictoriaMetrics
from twin.model import load_scenario
from twin.signals import SignalStore
from twin.telemetry import TelemetrySettings, build_pipeline, simulate_with_telemetry

SCENARIO = Path("scenarios/default.toml")
DAY = 86_400.0


Samples = dict[tuple[str, tuple[tuple[str, str], ...], int], list[float]]


def vm_samples(points: list[Point]) -> Samples:
    """How VictoriaMetrics stores line protocol: one series per field named
    ``<measurement>_<field>``, millisecond timestamps, bools as 1/0, strings as 0. Without
    the ``run`` tag: the points of two runs are compared (each run has its own)."""
    out: Samples = {}
    for p in points:
        labels = tuple(sorted((k, v) for k, v in p.tags.items() if k != "run"))
        for name, value in p.fields.items():
            v = 0.0 if isinstance(value, str) else float(value)  # type: ignore[arg-type]
            out.setdefault((f"{p.measurement}_{name}", labels, p.ts // 10**6), []).append(v)
    return out


def exported(vm: VictoriaMetrics, expected: int | None = None) -> Samples:
    if expected is not None:
        vm.wait_for_count(expected)
    out: Samples = {}
    for (name, labels), samples in vm.samples().items():
        key = tuple(sorted((k, v) for k, v in labels if k != "run"))
        for ts, value in samples:
            out.setdefault((name, key, ts), []).append(value)
    return out


def assert_same_samples(expected: Samples, got: Samples) -> None:
    """Same samples, each exactly as often; values equal to the ~12 significant digits that
    VictoriaMetrics keeps."""
    assert sum(map(len, got.values())) == sum(map(len, expected.values()))
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        other = sorted(got[key])
        assert len(other) == len(values), key
        for ev, av in zip(sorted(values), other, strict=True):
            assert math.isclose(ev, av, rel_tol=1e-10, abs_tol=1e-10), (key, ev, av)


def file_run(tmp_path: Path, until: float, signal_period: float) -> list[Point]:
    """The same run through the file sink: what the database must end up holding."""
    out = tmp_path / "file-run"
    settings = TelemetrySettings(telemetry="file")
    simulate_run(load_scenario(SCENARIO), settings, out, until, signal_period)
    return parse_lines(gzip.decompress((out / "telemetry.lp.gz").read_bytes()).decode())


@pytest.mark.services
def test_simulated_run_reads_back_exactly(victoria: VictoriaMetrics, tmp_path: Path) -> None:
    from twin.cli import main

    run = tmp_path / "influx-run"
    args = ["simulate", str(SCENARIO), "--until", "1d", "--signals", "60s", "-q", "--no-plots"]
    code = main([*args, "--telemetry", "influx", "--influx-url", victoria.url, "--out", str(run)])
    assert code == 0
    expected = file_run(tmp_path, DAY, 60.0)
    assert len(expected) > 6000
    want = vm_samples(expected)
    assert_same_samples(want, exported(victoria, sum(map(len, want.values()))))
    # a spot check by name: the cell's final OEE as the twin computed it
    final = max((p for p in expected if p.tags.get("scope") == "cell"), key=lambda p: p.ts)
    summary_oee = final.fields["oee"]
    cell_oee = [
        v
        for (name, labels), s in victoria.samples('{__name__="kpi_oee",scope="cell"}').items()
        for _, v in s
    ]
    assert math.isclose(cell_oee[-1], float(summary_oee), rel_tol=1e-10)  # type: ignore[arg-type]


@pytest.mark.services
def test_outage_mid_run_every_point_arrives_exactly_once(
    victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    scenario = load_scenario(SCENARIO)
    settings = TelemetrySettings(
        telemetry="influx", influx_url=victoria.url, batch_lines=100, retry_max_s=0.2
    )
    run = tmp_path / "influx-run"
    pipeline = build_pipeline(settings, scenario, run, scenario.start)
    assert pipeline is not None
    seen: dict[str, float] = {}

    def outage(t: float, store: SignalStore) -> None:
        # runs in the simulation thread: take the database away at 6 h, back at 12 h
        if t >= 6 * 3600 and "down" not in seen:
            seen["down"] = t
            # no request in flight: a request cut off mid-body can be stored in part by
            # VictoriaMetrics and is then sent again whole (at least once; see README)
            pipeline.wait_idle()
            victoria.stop()
        elif t >= 12 * 3600 and "up" not in seen:
            seen["up"] = t
            seen["spooled_during_outage"] = pipeline.stats.lines_spooled
            victoria.start()

    _, stats = simulate_with_telemetry(
        pipeline,
        scenario,
        kpi_period_s=3600.0,
        stop_timeout_s=30.0,
        until=DAY,
        signal_period=30.0,
        signal_consumers=[outage],
        out_dir=run,
        plots=False,
    )
    assert seen["spooled_during_outage"] > 1000  # the outage really hit the pipeline
    assert stats.lines_replayed == stats.lines_spooled
    assert stats.spool_lines == 0
    assert stats.lines_dropped == stats.lines_rejected == 0
    assert stats.lines_written == stats.lines_produced
    expected = file_run(tmp_path, DAY, 30.0)
    assert stats.lines_produced == len(expected)
    want = vm_samples(expected)
    assert_same_samples(want, exported(victoria, sum(map(len, want.values()))))


@pytest.mark.services
def test_spool_of_a_run_without_database_is_replayed_later(
    victoria: VictoriaMetrics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from tests.conftest import free_port
    from twin.cli import main

    run = tmp_path / "influx-run"
    nowhere = f"http://127.0.0.1:{free_port()}"
    args = ["simulate", str(SCENARIO), "--until", "6h", "--signals", "60s", "-q", "--no-plots"]
    assert main([*args, "--telemetry", "influx", "--influx-url", nowhere, "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["telemetry", "status", str(run), "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["lines_written"] == 0
    assert before["spool_lines"] == before["lines_produced"] > 0

    # spooled for a URL where no database will be: without --redirect they stay there
    assert main(["telemetry", "replay", str(run), "--influx-url", victoria.url]) == 1
    assert main(["telemetry", "replay", str(run), "--influx-url", victoria.url, "--redirect"]) == 0
    capsys.readouterr()
    assert main(["telemetry", "status", str(run), "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert after["spool_lines"] == 0
    assert after["lines_written"] == after["lines_replayed"] == before["lines_produced"]
    assert after["lines_produced"] == before["lines_produced"]
    want = vm_samples(file_run(tmp_path, 6 * 3600.0, 60.0))
    assert_same_samples(want, exported(victoria, sum(map(len, want.values()))))


@pytest.mark.services
def test_file_sink_output_imports_as_is(victoria: VictoriaMetrics, tmp_path: Path) -> None:
    import urllib.request

    expected = file_run(tmp_path, DAY, 30.0)
    assert len(expected) > 2 * TelemetrySettings().batch_lines  # so: several gzip members
    body = (tmp_path / "file-run" / "telemetry.lp.gz").read_bytes()
    request = urllib.request.Request(
        f"{victoria.url}/api/v2/write?bucket=twin&precision=ns",
        data=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 204
    want = vm_samples(expected)
    assert_same_samples(want, exported(victoria, sum(map(len, want.values()))))
