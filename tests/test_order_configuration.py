"""Each order's product configuration is in the event log (``order_received``): a drawn
arrival's catalogue entry and what was drawn for it, any other order's whole spec; and in the
snapshot's open jobs. Before, a random order's configuration was nowhere but in memory, so
lead times or setups could not be analysed by material or size from the outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import SCENARIOS
from twin.events import OrderReceived, read_events
from twin.model import load_scenario
from twin.simulation import run_simulation


def test_every_order_says_its_configuration(tmp_path: Path) -> None:
    sc = load_scenario(SCENARIOS / "default.toml")
    result = run_simulation(sc, until=2 * 86400.0, out_dir=tmp_path, plots=False)
    orders = [
        e for e in read_events(str(tmp_path / "events.jsonl")) if isinstance(e, OrderReceived)
    ]
    entries = {c.id: c for c in sc.catalogue}
    drawn = [o for o in orders if o.source == "arrivals"]
    given = [o for o in orders if o.source == "scenario"]
    assert drawn
    assert given
    for o in drawn:
        assert o.catalogue in entries
        entry = entries[o.catalogue]
        assert o.params is not None
        assert set(o.params) == set(entry.ranges) | set(entry.choices)
        for name, (lo, hi) in entry.ranges.items():
            assert lo <= o.params[name] <= hi
        for name, options in entry.choices.items():
            assert o.params[name] in [_plain(v) for v in options]
        # what was drawn is the spec the job was made to
        job = result.engine.jobs.get(o.job)
        if job is not None:
            spec = job.spec.model_dump(mode="json")
            assert {k: spec[k] for k in o.params} == o.params
            assert spec["type"] == o.product
    for o in given:
        spec = next(x for x in sc.orders if x.id == o.job).product.model_dump(mode="json")
        assert o.catalogue is None
        assert o.params == {k: v for k, v in spec.items() if k != "type"}


def test_the_snapshot_lists_open_jobs_with_their_configuration(tmp_path: Path) -> None:
    sc = load_scenario(SCENARIOS / "default.toml")
    run_simulation(
        sc.model_copy(update={"max_wip": 2}), until=86400.0, out_dir=tmp_path, plots=False
    )
    jobs = json.loads((tmp_path / "snapshot.json").read_text())["jobs"]
    assert jobs
    for job in jobs:
        assert isinstance(job["params"], dict)
        assert job["params"]
        assert job["catalogue"] is None or isinstance(job["catalogue"], str)


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)
