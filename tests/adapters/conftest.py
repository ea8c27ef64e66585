"""Fixtures of the adapter tests: a twin of the default cell (signals on) and free ports."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import SCENARIOS
from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.model import load_scenario


@dataclass
class Twin:
    engine: Engine
    api: TwinAPI

    def step(self, seconds: float) -> None:
        """Run the twin on by ``seconds`` and sample its signals (as ``twin run`` does)."""
        self.engine.run_through(self.engine.now + seconds)
        self.engine.sample_signals()


@pytest.fixture
def twin() -> Twin:
    engine = Engine(load_scenario(SCENARIOS / "default.toml"), signals=True)
    engine.sample_signals()
    return Twin(engine, TwinAPI(engine))
