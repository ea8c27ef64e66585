"""Line-protocol timestamps are int64 nanoseconds since 1970: they end at 2262-04-11T23:47:16Z.
A scenario's ``start`` is from 1970 and before 2262, and ``twin simulate`` with telemetry
refuses a run ending after the last time it can stamp, naming ``--until`` (or the scenario's
``horizon``), with one line and exit code 2, before anything is written."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SCENARIOS
from twin.cli import main
from twin.errors import ConfigError
from twin.model import parse_scenario, read_toml
from twin.telemetry.schema import LAST_TIMESTAMP, LineEncoder, datetime_ns

INT64_MAX = 2**63 - 1


def _scenario_file(tmp_path: Path, start: str, horizon: str | None = None) -> Path:
    text = (SCENARIOS / "default.toml").read_text()
    lines = [
        f"start = {start}" if line.startswith("start = ") else line for line in text.split("\n")
    ]
    if horizon is not None:
        lines = [
            f'horizon = "{horizon}"' if line.startswith("horizon = ") else line for line in lines
        ]
    path = tmp_path / "far.toml"
    path.write_text("\n".join(lines))
    return path


@pytest.mark.parametrize(
    "start",
    [
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2262, 1, 1, tzinfo=UTC),
        datetime(2300, 1, 1, tzinfo=UTC),
        datetime(9999, 1, 1, tzinfo=UTC),
    ],
)
def test_a_start_out_of_range_is_refused_naming_start(start: datetime) -> None:
    data = read_toml(SCENARIOS / "default.toml")
    data["start"] = start
    with pytest.raises(ConfigError, match=r"^<scenario>: start: .* is out of range: give a time"):
        parse_scenario(data)


@pytest.mark.parametrize(
    "start",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, tzinfo=UTC) - timedelta(hours=-2),  # 01:00 on 1 Jan 1970
        datetime(2261, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_a_start_in_range_is_taken(start: datetime) -> None:
    data = read_toml(SCENARIOS / "default.toml")
    data["start"] = start
    assert parse_scenario(data).start == start


def test_the_last_stampable_time_fits_in_int64() -> None:
    start = datetime(2261, 12, 1, tzinfo=UTC)
    encoder = LineEncoder("cell-1", {"cnc1": "cnc"}, start)
    last = (LAST_TIMESTAMP - start).total_seconds()
    assert encoder.stamp_limit(last) is None
    assert "after 2262-04-11T23:47:16Z" in str(encoder.stamp_limit(last + 1))
    assert int(encoder.ts_array(np.array([last]))[0]) == datetime_ns(LAST_TIMESTAMP)
    # the 1 ns steps that keep a series' timestamps unique have room before int64 ends
    assert datetime_ns(LAST_TIMESTAMP) + 10**8 < INT64_MAX


def test_timestamps_count_the_start_offset() -> None:
    paris_winter = timezone(timedelta(hours=1))
    assert datetime_ns(datetime(1970, 1, 1, 1, tzinfo=paris_winter)) == 0
    start = datetime(2026, 1, 5, 7, tzinfo=paris_winter)
    encoder = LineEncoder("cell-1", {"cnc1": "cnc"}, start)
    assert encoder.ts(60.0) == datetime_ns(datetime(2026, 1, 5, 6, 1, tzinfo=UTC))
    assert encoder.ts(60.0) == (int(start.timestamp()) + 60) * 10**9


def test_simulate_refuses_a_start_out_of_range_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _scenario_file(tmp_path, "2300-01-01T00:00:00Z")
    out = tmp_path / "run"
    argv = ["simulate", str(scenario), "--until", "1d", "--signals", "1h", "--out", str(out)]
    assert main([*argv, "--telemetry", "file", "-q"]) == 2
    assert capsys.readouterr().err == (
        f"error: {scenario}: start: 2300-01-01T00:00:00+00:00 is out of range: give a time from"
        " 1970-01-01 and before 2262-01-01 (telemetry timestamps are nanoseconds since 1970 in"
        " 64 bits, which end on 2262-04-11)\n"
    )
    assert not out.exists()


def test_simulate_with_telemetry_refuses_a_run_ending_after_2262(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _scenario_file(tmp_path, "2261-12-01T00:00:00+01:00", horizon="200d")
    out = tmp_path / "run"
    argv = ["simulate", str(scenario), "--signals", "1h", "--telemetry", "file", "--out", str(out)]
    assert main([*argv, "--until", "200d", "-q"]) == 2
    assert capsys.readouterr().err == (
        "error: command line: --until: the run would end at 2262-06-18T23:00:00Z, after"
        " 2262-04-11T23:47:16Z, the last time telemetry timestamps (nanoseconds since 1970 in 64"
        " bits) can hold: end it at most 11,407,636 s after the start (2261-11-30T23:00:00Z),"
        " or run without telemetry (--telemetry none)\n"
    )
    assert not out.exists()
    assert main([*argv, "-q"]) == 2  # to the scenario's horizon: the horizon is named
    err = capsys.readouterr().err
    assert err.startswith(f"error: {scenario}: horizon: the run would end at 2262-06-18T23:00:00Z")
    assert err.count("\n") == 1
    assert not out.exists()
    # the longest run it can stamp is taken, its timestamps from the start's UTC time on
    longest = ["simulate", str(scenario), "--until", "11407636", "--telemetry", "file"]
    assert main([*longest, "--out", str(out), "-q", "--no-plots"]) == 0
    with gzip.open(out / "telemetry.lp.gz", "rt") as f:
        stamps = [int(line.rsplit(" ", 1)[1]) for line in f]
    assert max(stamps) <= datetime_ns(LAST_TIMESTAMP) + 1000
    assert min(stamps) == datetime_ns(datetime(2261, 11, 30, 23, tzinfo=UTC))


def test_a_run_stamped_near_2262_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _scenario_file(tmp_path, "2261-06-01T00:00:00Z")
    out = tmp_path / "run"
    argv = ["simulate", str(scenario), "--until", "1d", "--signals", "1h", "--telemetry", "file"]
    assert main([*argv, "--out", str(out), "-q", "--no-plots"]) == 0
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert (out / "report" / "report.html").is_file()
