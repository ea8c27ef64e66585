"""``twin run``: a resumed run goes on under its run id; a new run in the directory gets its own.

At x60 an operator stopped a run after two minutes and started again: the new run stamped
over the first one's data (2 h ahead of the wall clock), and with no run identity the
dashboards mixed them (SO-1001 completed twice). The run id is the run's origin, the
``sim_start`` of ``run.json``, so ``--resume`` keeps it and a fresh start changes it.
"""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import orjson

from tests.opcua.conftest import run_args, start_cli
from tests.telemetry.lp import parse_lines
from twin.cli.rundir import INFO
from twin.telemetry import FILE_NAME, PREVIOUS_FILE_NAME
from twin.telemetry.schema import RUN_TAG, run_id


def _runs(path: Path) -> list[str]:
    """The run tags of a telemetry file, in the order of its lines (each once)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        points = parse_lines(fh.read())
    assert points
    return list(dict.fromkeys(p.tags[RUN_TAG] for p in points))


def _recorded(out: Path) -> str:
    """The run id of ``run.json``'s ``sim_start``."""
    return run_id(datetime.fromisoformat(orjson.loads((out / INFO).read_bytes())["sim_start"]))


async def _run_once(scenario: Path, tmp_path: Path, out: Path, *more: str) -> None:
    args = ["--insecure-dev", *run_args(tmp_path, out), "--telemetry", "file", "--speed", "60"]
    twin = await start_cli(str(scenario), *args, *more)
    await twin.stop()


async def test_resume_keeps_the_run_id_a_new_run_gets_its_own(
    default_scenario_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    await _run_once(default_scenario_path, tmp_path, out)
    first = _recorded(out)
    assert _runs(out / FILE_NAME) == [first]

    await _run_once(default_scenario_path, tmp_path, out, "--resume")
    assert _recorded(out) == first
    assert _runs(out / FILE_NAME) == [first]  # the file goes on, under the same run

    await _run_once(default_scenario_path, tmp_path, out)  # afresh
    second = _recorded(out)
    assert second > first  # listed before it: the latest first
    assert _runs(out / FILE_NAME) == [second]
    assert _runs(out / PREVIOUS_FILE_NAME) == [first]
