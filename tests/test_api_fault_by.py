"""Faults labelled with who injected them (``by``): cleared alone, recorded and replayed."""

from __future__ import annotations

import pytest

from tests.conftest import SCENARIOS
from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.engine.replay import Command, replay
from twin.errors import CommandError, InvalidStateError
from twin.model import load_scenario


def _twin() -> tuple[Engine, TwinAPI]:
    engine = Engine(load_scenario(SCENARIOS / "default.toml"))
    engine.run(600, stop_when_done=False)
    return engine, TwinAPI(engine)


def test_a_labelled_clear_ends_that_fault_and_leaves_the_others() -> None:
    engine, api = _twin()
    api.inject_fault("cnc1", "maintenance")
    api.inject_fault("cnc1", "breakdown", by="adapter:plc1")
    assert engine.faults.injected(engine.machine("cnc1"), by="adapter:plc1") == 1
    with pytest.raises(InvalidStateError, match="no injected fault injected by 'adapter:x'"):
        api.clear_fault("cnc1", by="adapter:x")
    assert api.clear_fault("cnc1", by="adapter:plc1") == 1
    assert engine.machines["cnc1"].faults == [("maintenance", "api")]
    assert engine.machines["cnc1"].state == "NotAvailable"
    assert api.clear_fault("cnc1", kind="maintenance") == 1
    assert engine.machines["cnc1"].faults == []
    args = [(c.command, dict(c.args)) for c in engine.journal]
    assert args == [
        ("inject_fault", {"machine": "cnc1", "kind": "maintenance", "duration": None}),
        (
            "inject_fault",
            {"machine": "cnc1", "kind": "breakdown", "duration": None, "by": "adapter:plc1"},
        ),
        ("clear_fault", {"machine": "cnc1", "by": "adapter:plc1"}),
        ("clear_fault", {"machine": "cnc1", "kind": "maintenance"}),
    ]


def test_clear_fault_without_label_clears_every_injected_fault() -> None:
    engine, api = _twin()
    api.inject_fault("cnc1", "maintenance")
    api.inject_fault("cnc1", by="adapter:plc1")
    assert api.clear_fault("cnc1") == 2
    assert engine.injected_faults("cnc1") == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"by": ""}, "by: expected a non-empty string"), ({"kind": "melt"}, "kind: unknown")],
)
def test_bad_labels_and_kinds_are_refused(kwargs: dict[str, str], match: str) -> None:
    _, api = _twin()
    with pytest.raises(CommandError, match=match):
        api.clear_fault("cnc1", **kwargs)


def test_labelled_faults_replay_as_recorded() -> None:
    live, api = _twin()
    api.inject_fault("cnc1", "maintenance")
    live.run(700, stop_when_done=False)
    api.inject_fault("cnc1", by="adapter:plc1")
    live.run(800, stop_when_done=False)
    api.clear_fault("cnc1", by="adapter:plc1")
    live.run(900, stop_when_done=False)
    again = replay(Engine(live.scenario), [Command.from_event(c) for c in live.journal], live.now)
    assert [(c.t, c.command, c.args) for c in again.journal] == [
        (c.t, c.command, c.args) for c in live.journal
    ]
    assert again.machines["cnc1"].faults == live.machines["cnc1"].faults == [("maintenance", "api")]
    assert again.faults.injected(again.machine("cnc1"), by="adapter:plc1") == 0
