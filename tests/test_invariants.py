"""Invariants on a long random run of the larger scenario."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path

from tests.conftest import SCENARIOS
from twin.model import load_scenario
from twin.simulation import run_simulation


def test_long_random_run_invariants(tmp_path: Path) -> None:
    sc = load_scenario(SCENARIOS / "large.toml")
    result = run_simulation(sc, until=20 * 86400, seed=7, out_dir=tmp_path, plots=False)
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert result.engine.completed > 300

    # 1. no machine runs two operations at once; 2. each job's operations run in order
    running: dict[str, tuple[str, int] | None] = defaultdict(lambda: None)
    job_ops: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    open_ops: dict[tuple[str, str], tuple[float, int]] = {}
    for e in events:
        if e["type"] == "operation_started":
            assert running[e["machine"]] is None, f"{e['machine']} busy at {e['t']}"
            running[e["machine"]] = (e["job"], e["op"])
            open_ops[(e["machine"], e["job"])] = (e["t"], e["op"])
        elif e["type"] == "operation_finished":
            assert running[e["machine"]] == (e["job"], e["op"])
            running[e["machine"]] = None
            t0, op = open_ops.pop((e["machine"], e["job"]))
            if not e["aborted"]:
                job_ops[e["job"]].append((t0, e["t"], op))
    for job, ops in job_ops.items():
        indices = [op for _, _, op in ops]
        assert indices == sorted(indices), f"{job} ran operations out of order: {indices}"
        for (_, end, _), (start, _, _) in itertools.pairwise(ops):
            assert start >= end, f"{job} started an operation before the previous ended"

    # 3. every released job ends, or is still in the final snapshot
    released = {e["job"] for e in events if e["type"] == "job_released"}
    ended = {
        e["job"] for e in events if e["type"] in ("job_completed", "job_scrapped", "job_cancelled")
    }
    snapshot = json.loads((tmp_path / "snapshot.json").read_text())
    in_cell = {j["id"] for j in snapshot["jobs"]}
    assert released - ended == in_cell - set(snapshot["backlog"])
    assert len(in_cell - set(snapshot["backlog"])) == snapshot["wip"] <= sc.max_wip

    # 4. a machine's buffer never exceeds its capacity (from the snapshot at the end)
    caps = {m.id: m.input_buffer for m in sc.cell.machines}
    for m in snapshot["machines"]:
        if caps[m["id"]]:
            assert len(m["queue"]) + m["reserved"] <= caps[m["id"]]
