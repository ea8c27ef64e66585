"""summary.json counts customer orders (``jobs_received``) apart from the remakes of their
scrapped parts (``jobs_remade``): a remake is the same order made again."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import SCENARIOS
from twin.events import OrderReceived, read_events
from twin.model import load_scenario
from twin.simulation import run_simulation


def test_summary_counts_orders_and_remakes_apart(tmp_path: Path) -> None:
    run_simulation(
        load_scenario(SCENARIOS / "default.toml"), until=20 * 86400.0, out_dir=tmp_path, plots=False
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    received = [
        e for e in read_events(str(tmp_path / "events.jsonl")) if isinstance(e, OrderReceived)
    ]
    remakes = sum(e.source == "remake" for e in received)
    assert remakes > 0  # the default cell scraps a few parts in 20 days
    assert summary["jobs_remade"] == remakes
    assert summary["jobs_received"] == len(received) - remakes
