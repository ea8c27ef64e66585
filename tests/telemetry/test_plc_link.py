"""``plc_link``: the PLC links' states in the telemetry, as lines and on a real-time run.

The encoder's line of a link state (``LineEncoder.link_lines``), read back by the suite's own
line-protocol parser; and ``attach_realtime`` with a real ``LinkRegistry`` reporting, on a
real-time driver whose time is driven by hand (``ManualClock``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.telemetry.fakes import ORIGIN, live
from tests.telemetry.lp import Point, parse_line, parse_lines
from twin.engine.cell import Engine
from twin.links import LinkRegistry, LinkState
from twin.model import load_scenario
from twin.telemetry import LineEncoder, attach_realtime, datetime_ns
from twin.telemetry.schema import LINK_ERROR_MAX, LINK_MEASUREMENT, RESTATED_TAG

RUN = "2026-01-05T06:00:00Z-000000"


def _encoder() -> LineEncoder:
    encoder = LineEncoder("cell 1", {"cnc1": "cnc"}, ORIGIN)
    encoder.identify(RUN)
    return encoder


def test_a_link_state_is_one_point_with_its_tags_and_fields() -> None:
    since = datetime(2026, 1, 5, 7, 30, 15, 250000, tzinfo=timezone(timedelta(hours=2)))
    error = 'ConnectionRefusedError: [Errno 111] "plc, line=2"\\x\nsecond\tline'
    state = LinkState(
        name="line plc,a=b",
        kind="modbus",
        endpoint="modbus://10.0.0.5:502/1",
        since=since,
        connected=False,
        failures=3,
        total_failures=7,
        last_error=error,
        bad_tags=("read[0] (printer1.bed_temp): exception 2", "write[1] (cnc1): exception 3"),
    )
    (text,) = _encoder().link_lines(state, 90.5)
    p = parse_line(text)
    assert p.measurement == LINK_MEASUREMENT == "plc_link"
    assert p.tags == {"cell": "cell 1", "kind": "modbus", "link": "line plc,a=b", "run": RUN}
    assert p.fields == {
        "connected": False,
        "failures": 3,
        "total_failures": 7,
        "bad_tags": 2,
        # on one line: InfluxDB ends a point at a newline, a Grafana cell shows one line
        "last_error": 'ConnectionRefusedError: [Errno 111] "plc, line=2"\\x second line',
        "since": "2026-01-05T05:30:15.250Z",  # the wall clock, in UTC
        "endpoint": "modbus://10.0.0.5:502/1",
    }
    assert p.ts == datetime_ns(ORIGIN) + 90_500_000_000  # on the run's axis
    assert "\n" not in text


def test_a_link_that_never_failed_has_an_empty_last_error() -> None:
    state = LinkState("plc1", "opcua", "opc.tcp://plc:4840", since=ORIGIN, connected=True)
    (p,) = parse_lines("\n".join(_encoder().link_lines(state, 0.0)))
    assert p.fields["last_error"] == ""
    assert p.fields["connected"] is True
    assert p.fields["bad_tags"] == 0
    assert p.fields["since"] == "2026-01-05T06:00:00.000Z"


def test_last_error_is_bounded_and_names_no_password() -> None:
    long = "BadCommunicationError: " + "x" * 5000
    secret = "cannot connect to opc.tcp://admin:s3cret@10.0.0.5:4840: BadUserAccessDenied"
    encoder = _encoder()
    texts = {}
    for i, error in enumerate((long, secret)):
        state = LinkState("plc1", "opcua", "opc.tcp://u:pw@plc:4840", ORIGIN, last_error=error)
        (text,) = encoder.link_lines(state, float(i))
        texts[error] = parse_line(text).fields
    cut = texts[long]["last_error"]
    assert isinstance(cut, str)
    assert len(cut) == LINK_ERROR_MAX
    assert cut.startswith("BadCommunicationError: xxx")
    assert cut.endswith("x...")
    fields = texts[secret]
    assert fields["last_error"] == (
        "cannot connect to opc.tcp://***@10.0.0.5:4840: BadUserAccessDenied"
    )
    assert fields["endpoint"] == "opc.tcp://***@plc:4840"
    assert "s3cret" not in str(fields)
    assert "pw" not in str(fields)


def test_two_changes_at_one_instant_are_two_points() -> None:
    encoder = _encoder()
    down = LinkState("plc1", "modbus", "modbus://plc:502/1", ORIGIN, failures=1)
    up = LinkState("plc1", "modbus", "modbus://plc:502/1", ORIGIN, connected=True)
    stamps = [parse_line(encoder.link_lines(s, 5.0)[0]).ts for s in (down, up)]
    assert stamps == [datetime_ns(ORIGIN) + 5 * 10**9 + k for k in (0, 1)]


def _links(points: list[Point]) -> list[Point]:
    return [p for p in points if p.measurement == "plc_link"]


async def test_realtime_run_writes_the_initial_state_and_each_change_until_detached(
    default_scenario_path: Path,
) -> None:
    engine = Engine(load_scenario(default_scenario_path), signals=True)
    run = live(engine)
    clock, driver, sink, pipeline = run.clock, run.driver, run.sink, run.pipeline
    o = datetime_ns(driver.wall_time(0.0))
    links = LinkRegistry()
    links.add("plc1", "modbus", "modbus://127.0.0.1:502/1", clock.wall())
    links.add("plc2", "opcua", "opc.tcp://127.0.0.1:4840", clock.wall())
    links.report("plc2", clock.wall(), connected=True, failures=0, total_failures=0, last_error="")
    await pipeline.start()
    detach = attach_realtime(pipeline, engine, driver, clock=clock, links=links)

    clock.advance(10.0)  # 600 simulated seconds on
    driver.advance()
    connected_at = clock.wall()
    links.report("plc1", connected_at, connected=True, failures=0, total_failures=0, last_error="")
    clock.advance(5.0)  # the driver has not stepped: the twin's clock says 900 s all the same
    lost_at = clock.wall()
    links.report(
        "plc1",
        lost_at,
        connected=False,
        failures=1,
        total_failures=1,
        last_error="ConnectionResetError: peer gone",
    )
    # reported just before the stop: written all the same
    links.report("plc2", clock.wall(), connected=False, failures=0, total_failures=0, last_error="")
    detach()
    links.report("plc1", clock.wall(), connected=True, failures=0, total_failures=1, last_error="")
    await pipeline.stop(5)

    points = _links(parse_lines("\n".join(sink.lines)))
    run_tag = pipeline.encoder.run
    assert run_tag is not None
    assert all(
        p.tags["run"] == run_tag and p.tags["cell"] == engine.scenario.cell.name for p in points
    )
    got = [
        (p.tags["link"], p.fields["connected"], p.fields["failures"], p.ts)
        for p in points
        if RESTATED_TAG not in p.tags
    ]
    assert got == [
        ("plc1", False, 0, o),  # the initial states, at the twin's time when attached
        ("plc2", True, 0, o),
        ("plc1", True, 0, o + 600 * 10**9 + 1),  # after the restatement at 600 s (below)
        ("plc1", False, 1, o + 900 * 10**9),  # the wall clock's time on the run's axis
        ("plc2", False, 0, o + 900 * 10**9),
    ]  # and nothing after the detach
    # the KPI report 10 wall seconds on (the engine at 600 s, before plc1's change there)
    # states each link again; the detach's report at the same simulated time is not written
    again = [
        (p.tags["link"], p.tags["kind"], p.fields["connected"], p.fields["failures"], p.ts)
        for p in points
        if p.tags.get(RESTATED_TAG) == "true"
    ]
    assert again == [
        ("plc1", "modbus", False, 0, o + 600 * 10**9),
        ("plc2", "opcua", True, 0, o + 600 * 10**9),
    ]
    by_ts = {(p.tags["link"], p.ts): p.fields for p in points}
    lost = by_ts[("plc1", o + 900 * 10**9)]
    assert lost["last_error"] == "ConnectionResetError: peer gone"
    assert lost["since"] == lost_at.astimezone(UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )
    assert lost["total_failures"] == 1
    assert points[0].fields["endpoint"] == "modbus://127.0.0.1:502/1"
    assert {p.tags["kind"] for p in points} == {"modbus", "opcua"}


async def test_a_failing_write_does_not_reach_the_adapter(
    default_scenario_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The registry's listeners must not raise (an adapter reports from its link task): a
    link state the telemetry cannot write is logged, and the adapter's report goes on."""
    engine = Engine(load_scenario(default_scenario_path), signals=True)
    run = live(engine)
    clock, driver, pipeline = run.clock, run.driver, run.pipeline
    links = LinkRegistry()
    links.add("plc1", "modbus", "modbus://127.0.0.1:502/1", clock.wall())
    await pipeline.start()
    detach = attach_realtime(pipeline, engine, driver, clock=clock, links=links)

    def broken(state: LinkState, t: float) -> list[str]:
        raise RuntimeError("encoder bug")

    pipeline.encoder.link_lines = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="twin.telemetry"):
        state = links.report(
            "plc1", clock.wall(), connected=True, failures=0, total_failures=0, last_error=""
        )
    assert state.connected
    assert "the state of PLC link plc1 was not written" in caplog.text
    detach()
    await pipeline.stop(5)
