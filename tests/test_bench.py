"""The benchmark scripts report what they measured (a short run, not a measurement)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from bench import sim_speed
from twin.engine.cell import Engine
from twin.model import load_scenario


def test_sim_speed_counts_every_order_received(
    default_scenario_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ended jobs dropped at once: the engine's job table holds only the open ones
    monkeypatch.setattr(sim_speed, "Engine", functools.partial(Engine, keep_ended=0))
    result = sim_speed.engine_run(load_scenario(default_scenario_path), 3.0, None)
    assert result["completed"] > 20
    assert result["orders"] > result["completed"]  # received: completed ones and open ones
