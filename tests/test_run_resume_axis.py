"""A resumed ``twin run`` goes on where the wall clock is on its time axis, and its KPIs count
from the run's time 0.

After a night down, a resumed twin at speed 1 stamped every point a night behind the wall
clock (Grafana's "last 6 hours" stayed empty for good); and its KPIs began again at the
resume, so the cell's completed jobs dropped to 0 and an operation started before the stop
counted its whole planned time against a part of its run time (effectiveness 8.5)."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import re
from pathlib import Path

import orjson

from tests.opcua.conftest import run_args, start_cli
from twin.cli.rundir import EVENTS, INFO

SPEED = 2000.0
DOWN_S = 86_400.0  # the time the twin was down, on its axis
FAILSAFE_S = 60.0  # only bounds a failing wait


def _args(tmp_path: Path, out: Path) -> list[str]:
    options = ("--telemetry", "file", "--speed", str(SPEED))
    return ["--insecure-dev", *run_args(tmp_path, out), *options]


def _cell_kpis(out: Path) -> list[tuple[int, dict[str, str]]]:
    """The cell's KPI points in ``out/telemetry.lp.gz``: (timestamp ns, fields)."""
    points = []
    for line in gzip.decompress((out / "telemetry.lp.gz").read_bytes()).decode().splitlines():
        if line.startswith("kpi,") and ",scope=cell" in line.split(" ", 1)[0]:
            _, fields, ns = line.rsplit(" ", 2)
            points.append((int(ns), dict(f.split("=", 1) for f in fields.split(","))))
    return points


def _machine_effectiveness(out: Path) -> list[float]:
    text = gzip.decompress((out / "telemetry.lp.gz").read_bytes()).decode()
    found = re.findall(r"^kpi,.*scope=(?!cell)\S* .*?effectiveness=([\d.e+-]+)", text, re.M)
    return [float(v) for v in found]


def _completions(path: Path) -> int:
    return path.read_bytes().count(b'"job_completed"') if path.exists() else 0


async def _completed_in_log(path: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FAILSAFE_S
    while not _completions(path):
        assert loop.time() < deadline, "no job completed in the event log"
        await asyncio.sleep(0.05)


def _stop_time(path: Path) -> float:
    last = orjson.loads(path.read_bytes().splitlines()[-1])
    assert last["command"] == "stop"
    return float(last["t"])


async def test_a_resumed_run_catches_up_its_time_down_and_keeps_its_kpis(
    default_scenario_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    twin = await start_cli(str(default_scenario_path), *_args(tmp_path, out))
    try:
        await _completed_in_log(out / EVENTS)
    finally:
        await twin.stop()
    stopped_at = _stop_time(out / EVENTS)
    before = _cell_kpis(out)
    completed = int(before[-1][1]["jobs_completed"].rstrip("i"))
    assert completed >= 1
    # the twin was down a day: its axis' time 0 a day (and its run) before the wall clock now
    info = orjson.loads((out / INFO).read_bytes())
    resumed_wall = dt.datetime.now(dt.UTC)
    sim_start = resumed_wall - dt.timedelta(seconds=stopped_at + DOWN_S)
    info["sim_start"] = sim_start.isoformat()
    (out / INFO).write_bytes(orjson.dumps(info))

    twin = await start_cli(str(default_scenario_path), *_args(tmp_path, out), "--resume")
    try:
        found = re.search(r"clock is ([\d,]+) s behind the wall clock", twin.banner)
        assert found is not None, twin.banner
        assert float(found.group(1).replace(",", "")) >= DOWN_S
    finally:
        await twin.stop()
    assert _stop_time(out / EVENTS) >= stopped_at + DOWN_S  # caught up, then went on
    everything = _cell_kpis(out)
    assert everything[: len(before)] == before  # the telemetry file goes on, not replaced
    points = everything[len(before) :]  # the resumed run's
    assert points, "the resumed run wrote no KPI point"
    first_ns = points[0][0]
    assert first_ns >= (resumed_wall - dt.timedelta(seconds=1)).timestamp() * 1e9  # not in the past
    # the run's KPIs from its time 0: every job completed since, before the stop included
    assert int(points[-1][1]["jobs_completed"].rstrip("i")) == _completions(out / EVENTS)
    assert all(int(p["jobs_completed"].rstrip("i")) >= completed for _, p in points)
    assert max(_machine_effectiveness(out)) < 2.0
