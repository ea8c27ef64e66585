"""``twin simulate --telemetry file``: the run's line protocol, checked against its event log."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.telemetry.lp import Point, parse_lines
from twin.cli import main
from twin.telemetry.schema import RESTATED_TAG, STATE_CODES

START_NS = int(datetime(2026, 1, 5, 6, 0, tzinfo=UTC).timestamp()) * 10**9
JOB_EVENTS = {
    "order_received",
    "job_released",
    "job_completed",
    "job_scrapped",
    "job_cancelled",
    "operation_started",
    "operation_finished",
    "inspection_done",
    "transfer_started",
    "transfer_finished",
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    args = ["simulate", "scenarios/default.toml", "--until", "1d", "--signals", "60s"]
    code = main([*args, "--telemetry", "file", "--out", str(out), "-q", "--no-plots"])
    assert code == 0
    return out


def test_file_is_line_protocol_matching_the_event_log(run_dir: Path) -> None:
    points = parse_lines(gzip.decompress((run_dir / "telemetry.lp.gz").read_bytes()).decode())
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    by_measurement = Counter(p.measurement for p in points)

    states = [e for e in events if e["type"] == "machine_state"]
    changes = [p for p in points if p.measurement == "machine_state" and not restated(p)]
    assert len(changes) == len(states)
    # batches may land in any order; within a series, time order is event order
    state_points = sorted(changes, key=lambda p: (p.tags["machine"], p.ts))
    states = sorted(states, key=lambda e: e["machine"])  # stable: keeps event order
    for ev, p in zip(states, state_points, strict=True):
        assert p.tags["machine"] == ev["machine"]
        assert p.fields["state"] == ev["state"]
        assert p.fields["state_code"] == STATE_CODES[ev["state"]]
        assert p.fields["job"] == (ev["job"] or "")
        assert abs(p.ts - (START_NS + round(ev["t"] * 1e9))) < 1000  # +1 ns per same-t event

    job_events = [e for e in events if e["type"] in JOB_EVENTS]
    assert by_measurement["job_event"] == len(job_events)
    completed = [p for p in points if p.tags.get("event") == "job_completed"]
    done = [e for e in events if e["type"] == "job_completed"]
    assert sorted((p.fields["job"], p.fields["lead_time"], p.ts) for p in completed) == sorted(
        (e["job"], e["lead_time"], START_NS + round(e["t"] * 1e9)) for e in done
    )
    assert all(p.tags["family"] != "none" for p in completed)

    faults = [e for e in events if e["type"] in ("fault_raised", "fault_cleared")]
    assert by_measurement["fault"] == len(faults)

    # one line per machine per 60 s sample over one day, from t = 0, 4 machines
    signal_ts = sorted({p.ts for p in points if p.measurement == "machine_signal"})
    assert signal_ts == [START_NS + k * 60 * 10**9 for k in range(len(signal_ts))]
    assert len(signal_ts) in (1440, 1441)
    assert by_measurement["machine_signal"] == len(signal_ts) * 4
    assert all(p.fields["quality"] == 0 for p in points if p.measurement == "machine_signal")

    # one KPI point per hour (23 periodic + the final one) x (4 machines + cell)
    kpis = [p for p in points if p.measurement == "kpi"]
    assert len(kpis) == 24 * 5
    cell = sorted((p for p in kpis if p.tags["scope"] == "cell"), key=lambda p: p.ts)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert cell[-1].fields["jobs_completed"] == summary["kpis"]["cell"]["jobs_completed"]
    assert cell[-1].fields["oee"] == summary["kpis"]["cell"]["oee"]
    machine_kpis = [p for p in kpis if p.tags["scope"] != "cell"]
    assert all("jobs_completed" not in p.fields for p in machine_kpis)  # cell-only field

    # no two points of one series share a timestamp (InfluxDB would keep only one)
    keys = Counter((p.measurement, tuple(sorted(p.tags.items())), p.ts) for p in points)
    assert max(keys.values()) == 1


def restated(p: Point) -> bool:
    return p.tags.get(RESTATED_TAG) == "true"


def test_each_kpi_report_states_each_machine_again(run_dir: Path) -> None:
    """With each KPI point, a ``restated=true`` point of each machine's state then: the
    state of its last change before (NotExecuting, no job, before its first)."""
    points = parse_lines(gzip.decompress((run_dir / "telemetry.lp.gz").read_bytes()).decode())
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    kpi_ts = sorted({p.ts for p in points if p.measurement == "kpi"})
    again = [p for p in points if p.measurement == "machine_state" and restated(p)]
    machines = ["cnc1", "printer1", "robot1", "vision1"]
    assert sorted((p.tags["machine"], p.ts) for p in again) == sorted(
        (m, ts) for m in machines for ts in kpi_ts
    )
    assert {p.tags["kind"] for p in again} == {"cnc", "printer", "robot", "inspection"}
    for p in again:
        t = (p.ts - START_NS) / 1e9
        before = [
            e
            for e in events
            if e["type"] == "machine_state" and e["machine"] == p.tags["machine"] and e["t"] <= t
        ]
        last: dict[str, Any] = (
            before[-1] if before else {"state": "NotExecuting", "mode": "Processing", "job": None}
        )
        assert p.fields["state"] == last["state"], (p, last)
        assert p.fields["mode"] == last["mode"]
        assert p.fields["state_code"] == STATE_CODES[last["state"]]
        assert p.fields["job"] == (last["job"] or "")
        assert (p.fields["family"] != "") == bool(last["job"])
    assert {p.fields["state"] for p in again} >= {"Executing", "NotExecuting"}


def test_status_command_reads_the_run(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["telemetry", "status", str(run_dir), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["sink"] == "file"
    assert status["lines_written"] == status["lines_produced"] > 0
    assert status["spool_batches"] == 0


def test_status_of_a_directory_without_telemetry(tmp_path: Path) -> None:
    assert main(["telemetry", "status", str(tmp_path)]) == 2


def test_report_is_one_self_contained_page(run_dir: Path) -> None:
    import re

    assert main(["report", str(run_dir)]) == 0
    out = run_dir / "report"
    pngs = {p.name for p in out.glob("*.png")}
    assert {"gantt.png", "states.png", "kpis.png", "oee.png", "signals-cnc1.png"} <= pngs
    page = (out / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == len(pngs)  # every image inlined, nothing linked
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<td>cnc1</td>" in page


def test_report_without_telemetry_and_of_a_non_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["simulate", "scenarios/default.toml", "--until", "6h", "-q", "--no-plots"]
    assert main([*args, "--telemetry", "none", "--out", str(run)]) == 0
    assert not (run / "telemetry.lp.gz").exists()
    assert main(["report", str(run)]) == 0
    page = (run / "report" / "report.html").read_text()
    assert "no signal plots" in page
    assert (run / "report" / "oee.png").is_file()  # OEE replayed from the event log
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_a_second_run_into_the_same_directory_replaces_the_file(tmp_path: Path) -> None:
    args = ["simulate", "scenarios/default.toml", "--until", "2h", "-q", "--no-plots"]
    for _ in range(2):
        assert main([*args, "--telemetry", "file", "--out", str(tmp_path)]) == 0
    text = gzip.decompress((tmp_path / "telemetry.lp.gz").read_bytes()).decode()
    events = (tmp_path / "events.jsonl").read_text().splitlines()
    states = sum('"type":"machine_state"' in e for e in events)
    changes = [x for x in text.splitlines() if x.startswith("machine_state,")]
    assert sum(",restated=true" not in x for x in changes) == states


@pytest.mark.parametrize(
    ("extra", "start"),
    [
        (["--telemetry", "bogus"], "error: command line: --telemetry: must be one of file,"),
        (["--telemetry", "influx", "--influx-url", "ftp://x"], "error: command line: --influx-url"),
    ],
)
def test_bad_telemetry_options_are_one_line_errors(
    tmp_path: Path, extra: list[str], start: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Named as the option given, nothing written."""
    args = ["simulate", "scenarios/default.toml", "--until", "1h", "-q", "--out", str(tmp_path)]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(start)
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
