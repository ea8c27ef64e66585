"""Same scenario, seed and commands -> byte-identical event log."""

from __future__ import annotations

from pathlib import Path

from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.events import EventBus, EventLogWriter
from twin.model import load_scenario
from twin.simulation import run_simulation


def _run(path: Path, out: Path, seed: int | None = None) -> bytes:
    run_simulation(load_scenario(path), until=3 * 86400, seed=seed, out_dir=out, plots=False)
    return (out / "events.jsonl").read_bytes()


def test_same_seed_same_bytes(default_scenario_path: Path, tmp_path: Path) -> None:
    a = _run(default_scenario_path, tmp_path / "a")
    b = _run(default_scenario_path, tmp_path / "b")
    assert len(a) > 10_000
    assert a == b


def test_other_seed_other_log(default_scenario_path: Path, tmp_path: Path) -> None:
    assert _run(default_scenario_path, tmp_path / "a", seed=1) != _run(
        default_scenario_path, tmp_path / "b", seed=2
    )


def _commanded_run(path: Path, out: Path) -> bytes:
    """A run with commands applied at fixed simulated times (as an MES test harness would)."""
    bus = EventBus()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        writer = EventLogWriter(fh)
        bus.subscribe(writer)
        engine = Engine(load_scenario(path), bus=bus)
        api = TwinAPI(engine)
        engine.run(3600, stop_when_done=False)
        api.submit_order(
            {
                "id": "MES-1",
                "due": 40000,
                "product": {"type": "machined_bracket", "material": "steel"},
            }
        )
        engine.run(7200, stop_when_done=False)
        api.inject_fault("printer1", "breakdown")
        engine.run(9000, stop_when_done=False)
        api.clear_fault("printer1")
        api.cancel_order("SO-1002") if engine.jobs["SO-1002"].state not in (
            "done",
            "scrapped",
            "cancelled",
        ) else None
        engine.run(86400, stop_when_done=False)
        writer.flush()
    return out.read_bytes()


def test_same_commands_same_bytes(default_scenario_path: Path, tmp_path: Path) -> None:
    a = _commanded_run(default_scenario_path, tmp_path / "a.jsonl")
    b = _commanded_run(default_scenario_path, tmp_path / "b.jsonl")
    assert b'"command":"submit_order"' in a
    assert b'"command":"inject_fault"' in a
    assert a == b
