"""``LineEncoder.restated_lines``: each machine's and each PLC link's state again, tagged
``restated=true``, so a time range without a change still has a point of each state."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.telemetry.fakes import live
from tests.telemetry.lp import Point, parse_lines
from twin.engine.cell import Engine
from twin.events import MachineStateChanged, OrderReceived
from twin.links import LinkState
from twin.model import load_scenario
from twin.telemetry import LineEncoder, attach_realtime, datetime_ns
from twin.telemetry.schema import RESTATED_TAG, STATE_CODES

ORIGIN = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
O_NS = datetime_ns(ORIGIN)
RUN = "2026-01-05T06:00:00Z-000000"


def _encoder() -> LineEncoder:
    encoder = LineEncoder("cell-1", {"cnc1": "cnc", "printer1": "printer"}, ORIGIN)
    encoder.identify(RUN)
    return encoder


def _points(lines: list[str]) -> list[Point]:
    return parse_lines("\n".join(lines))


def test_machines_are_idle_until_their_first_change_then_in_their_last_state() -> None:
    encoder = _encoder()
    first = _points(encoder.restated_lines(0.0))
    assert [(p.measurement, p.tags, p.fields, p.ts) for p in first] == [
        (
            "machine_state",
            {"cell": "cell-1", "kind": kind, "machine": m, "restated": "true", "run": RUN},
            {
                "state": "NotExecuting",
                "mode": "Processing",
                "state_code": 2,
                "job": "",
                "family": "",
            },
            O_NS,
        )
        for m, kind in (("cnc1", "cnc"), ("printer1", "printer"))
    ]
    encoder.event_lines(OrderReceived(5.0, "SO-1", "machined_bracket", 9000.0, 1.0, 3, "api"))
    encoder.event_lines(MachineStateChanged(10.0, "cnc1", "Executing", "Setup", "SO-1"))
    encoder.event_lines(MachineStateChanged(20.0, "cnc1", "Executing", "Processing", "SO-1"))
    # a machine the encoder was not told of at first: restated once an event names it
    encoder.event_lines(MachineStateChanged(30.0, "agv1", "OutOfService", "None", None))
    again = {p.tags["machine"]: p for p in _points(encoder.restated_lines(3600.0))}
    assert again["cnc1"].fields == {
        "state": "Executing",
        "mode": "Processing",
        "state_code": 3,
        "job": "SO-1",
        "family": "machined_bracket",
    }
    assert again["printer1"].fields["state"] == "NotExecuting"
    assert again["agv1"].fields["state"] == "OutOfService"
    assert "kind" not in again["agv1"].tags  # as its changes: no kind known
    assert {p.ts for p in again.values()} == {O_NS + 3600 * 10**9}


def test_a_restatement_is_its_own_series_and_no_change() -> None:
    """The changes' series keep one point per change; a restatement at the instant of a
    change is another series, so InfluxDB keeps both."""
    encoder = _encoder()
    (change,) = _points(
        encoder.event_lines(MachineStateChanged(60.0, "cnc1", "Executing", "Processing", "A"))
    )
    assert RESTATED_TAG not in change.tags
    again = [p for p in _points(encoder.restated_lines(60.0)) if p.tags["machine"] == "cnc1"]
    assert [p.ts for p in again] == [change.ts]
    assert again[0].fields == change.fields
    # two restatements at one instant are 1 ns apart, as two changes are
    later = [p for p in _points(encoder.restated_lines(60.0)) if p.tags["machine"] == "cnc1"]
    assert [p.ts for p in later] == [change.ts + 1]


def test_a_link_is_restated_in_its_last_state_never_before_it() -> None:
    encoder = _encoder()
    assert all(p.measurement == "machine_state" for p in _points(encoder.restated_lines(0.0)))
    since = datetime(2026, 1, 5, 6, 15, tzinfo=UTC)
    down = LinkState("plc1", "modbus", "modbus://plc:502/1", since, failures=2, last_error="x")
    (change,) = _points(encoder.link_lines(down, 900.0))
    links = [p for p in _points(encoder.restated_lines(600.0)) if p.measurement == "plc_link"]
    assert [(p.tags, p.fields) for p in links] == [
        ({**change.tags, RESTATED_TAG: "true"}, change.fields)
    ]
    # the KPI report's time (600 s) is before the change's (900 s, the driver's clock):
    # the restatement is stamped at the change, not before it
    assert links[0].ts == O_NS + 900 * 10**9
    later = [p for p in _points(encoder.restated_lines(1200.0)) if p.measurement == "plc_link"]
    assert [p.ts for p in later] == [O_NS + 1200 * 10**9]


def test_seeded_states_are_restated_with_their_jobs_family() -> None:
    """A twin restored by ``twin run --resume``: its machines' states now, before any event."""
    encoder = _encoder()
    encoder.seed(
        {"SO-9": "printed_housing"},
        [],
        {"printer1": ("Executing", "Processing", "SO-9"), "cnc1": ("OutOfService", "None", None)},
    )
    again = {p.tags["machine"]: p.fields for p in _points(encoder.restated_lines(10.0))}
    assert again["printer1"]["job"] == "SO-9"
    assert again["printer1"]["family"] == "printed_housing"
    assert again["cnc1"]["state"] == "OutOfService"
    assert again["cnc1"]["state_code"] == 1


async def test_a_twin_that_ran_before_is_restated_in_its_states_now(
    default_scenario_path: Path,
) -> None:
    """``attach_realtime`` on a twin that ran already (``twin run --resume``): its first
    restatements are the machines' states then, not idle."""
    engine = Engine(load_scenario(default_scenario_path))
    while all(m.job is None for m in engine.machines.values()):
        engine.run(engine.now + 600.0, stop_when_done=False)
    now = {m.id: (m.state, m.mode, m.job or "") for m in engine.machines.values()}
    run = live(engine)
    await run.pipeline.start()
    detach = attach_realtime(run.pipeline, engine, run.driver, clock=run.clock)
    detach()  # its KPI report, and the states again with it
    await run.pipeline.stop(5)
    again = {
        p.tags["machine"]: (p.fields["state"], p.fields["mode"], p.fields["job"])
        for p in _points(run.sink.lines)
        if p.tags.get(RESTATED_TAG) == "true"
    }
    assert again == now


def test_idle_is_the_state_the_engine_starts_a_machine_in(default_scenario_path: Path) -> None:
    """``twin simulate`` does not seed the encoder: its first restatements say what the
    engine's machines are before their first change."""
    engine = Engine(load_scenario(default_scenario_path))
    kinds = {m.id: m.kind for m in engine.scenario.cell.machines}
    encoder = LineEncoder("cell-1", kinds, ORIGIN)
    idle = {p.tags["machine"]: p.fields for p in _points(encoder.restated_lines(0.0))}
    assert idle == {
        m.id: {
            "state": m.state,
            "mode": m.mode,
            "state_code": STATE_CODES[m.state],
            "job": "",
            "family": "",
        }
        for m in engine.machines.values()
    }


def test_a_change_at_the_instant_of_a_restatement_comes_after_it() -> None:
    """The KPI report (and its restatements) may come first at an instant a change comes at
    (a command applied at the report's time; a fault injected while paused): the change is
    stamped after the restatement, never tied with it (InfluxDB's ``last()`` of a tie could
    read the state before the change)."""
    encoder = _encoder()
    (before,) = [p for p in _points(encoder.restated_lines(3600.0)) if p.tags["machine"] == "cnc1"]
    (change,) = _points(
        encoder.event_lines(MachineStateChanged(3600.0, "cnc1", "OutOfService", "None", None))
    )
    assert before.ts == O_NS + 3600 * 10**9 < change.ts
    # and a restatement after the change at that instant is never before it
    (after,) = [p for p in _points(encoder.restated_lines(3600.0)) if p.tags["machine"] == "cnc1"]
    assert after.ts >= change.ts
    assert after.fields["state"] == "OutOfService"
    # the same for a PLC link
    link = LinkState("plc1", "modbus", "modbus://plc:502/1", ORIGIN, connected=True)
    encoder.link_lines(link, 7200.0)
    (again,) = [p for p in _points(encoder.restated_lines(7200.0)) if p.measurement == "plc_link"]
    down = LinkState("plc1", "modbus", "modbus://plc:502/1", ORIGIN, failures=1)
    (lost,) = _points(encoder.link_lines(down, 7200.0))
    assert again.ts < lost.ts
