"""Signals of an operation a fault interrupted go on after the repair: the printer's layers
and progress from where they stopped, the CNC's spindle turning again. Before, the segment
after the repair had no operation: a resumed print read layer 0 and a resumed cut a still
spindle until the next operation."""

from __future__ import annotations

from pathlib import Path

from twin.engine.cell import Engine
from twin.events import Event, EventBus, OperationStarted
from twin.model import load_scenario


def _interrupted(
    default_scenario_path: Path, machine: str, signal: str
) -> tuple[float, float, float]:
    """The signal's value just before a 20-minute breakdown in the middle of the machine's
    first operation, during the breakdown, and 30 s after the repair."""
    started: list[OperationStarted] = []

    def seen(ev: Event) -> None:
        if isinstance(ev, OperationStarted) and ev.machine == machine:
            started.append(ev)

    bus = EventBus()
    bus.subscribe(seen)
    engine = Engine(load_scenario(default_scenario_path), bus=bus, signals=True)
    index = engine.store.index(signal)
    t = 0.0
    while not started:
        t += 10.0
        engine.run(t, stop_when_done=False)
    first = started[0]
    mid = first.t + first.planned / 2
    engine.run(mid, stop_when_done=False)
    engine.sample_signals()
    before = float(engine.store.values[index])
    engine.inject_fault(machine, "breakdown", 1200.0)
    engine.run(mid + 600.0, stop_when_done=False)
    engine.sample_signals()
    during = float(engine.store.values[index])
    engine.run(mid + 1230.0, stop_when_done=False)
    engine.sample_signals()
    return before, during, float(engine.store.values[index])


def test_a_print_goes_on_from_its_layer_after_a_repair(default_scenario_path: Path) -> None:
    before, during, after = _interrupted(default_scenario_path, "printer1", "printer1.progress")
    assert 30.0 < before < 70.0  # half way, heat-up aside
    assert during == 0.0  # out of service
    assert after >= before  # goes on, not from 0


def test_a_cut_turns_the_spindle_again_after_a_repair(default_scenario_path: Path) -> None:
    before, during, after = _interrupted(default_scenario_path, "cnc1", "cnc1.spindle_speed")
    assert before > 1000.0
    assert during == 0.0
    assert after > 1000.0
