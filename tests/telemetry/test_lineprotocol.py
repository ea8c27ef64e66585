"""Line-protocol serialisation: escaping, types, NaN handling, vectorised frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.telemetry.lp import parse_line
from twin.telemetry.lineprotocol import (
    BAD_NO_DATA,
    escape_key,
    escape_measurement,
    field_value,
    frame_lines,
    line,
    series_key,
)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("a b", "a\\ b"),
        ("a,b", "a\\,b"),
        ("a=b", "a\\=b"),
        ("line\nbreak", "line\\ break"),
    ],
)
def test_escape_key(raw: str, escaped: str) -> None:
    assert escape_key(raw) == escaped


def test_escape_measurement_keeps_equals() -> None:
    assert escape_measurement("m e,a=s") == "m\\ e\\,a=s"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (np.bool_(True), "true"),
        (3, "3i"),
        (np.int64(-7), "-7i"),
        (0.1, "0.1"),
        (1e300, "1e+300"),
        (np.float64(2.5), "2.5"),
        (float("nan"), None),
        (float("inf"), None),
        (None, None),
        ('say "hi" \\o/', '"say \\"hi\\" \\\\o/"'),
    ],
)
def test_field_value(value: object, text: str | None) -> None:
    assert field_value(value) == text


def test_field_value_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="unsupported field value"):
        field_value([1])


def test_series_key_sorts_tags_and_skips_empty() -> None:
    key = series_key("m", {"z": "1", "a": "x y", "empty": "", "none": None})
    assert key == "m,a=x\\ y,z=1"


def test_line_round_trips_through_independent_parser() -> None:
    series = series_key("job event", {"cell": "c,1", "event": "a=b"})
    text = line(series, {"job": 'J"1', "op": 2, "late": True, "lead": 1.5, "bad": math.nan}, 7)
    assert text is not None
    p = parse_line(text)
    assert p.measurement == "job event"
    assert p.tags == {"cell": "c,1", "event": "a=b"}
    assert p.fields == {"job": 'J"1', "op": 2, "late": True, "lead": 1.5}
    assert p.ts == 7


def test_line_without_fields_is_none() -> None:
    assert line("m", {"x": math.nan}, 1) is None


def test_frame_lines_exact_values_and_timestamps() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0, 1e3, (50, 3))
    ts = np.arange(50, dtype=np.int64) * 10**9 + 1_767_592_800 * 10**9
    out = frame_lines("sig,machine=m1", ["a", "b c", "d=e"], values, ts)
    assert len(out) == 50
    for i, text in enumerate(out):
        p = parse_line(text)
        assert p.ts == ts[i]
        assert p.fields == {
            "a": values[i, 0],
            "b c": values[i, 1],
            "d=e": values[i, 2],
            "quality": 0,
        }  # floats compare exactly: repr round-trips


def test_frame_lines_nan_rows_drop_fields_and_mark_quality() -> None:
    values = np.array([[1.0, math.nan], [math.inf, math.nan], [3.0, 4.0]])
    quality = np.array([0, 0x80000000, 0], dtype=np.int64)
    out = frame_lines("s", ["x", "y"], values, np.array([1, 2, 3]), quality)
    points = [parse_line(t) for t in out]
    assert points[0].fields == {"x": 1.0, "quality": BAD_NO_DATA}
    assert points[1].fields == {"quality": 0x80000000}  # existing bad status kept
    assert points[2].fields == {"x": 3.0, "y": 4.0, "quality": 0}


def test_frame_lines_percent_in_names_is_literal() -> None:
    out = frame_lines("s,tag=100%", ["load%"], np.array([[1.0]]), np.array([5]))
    assert out == ["s,tag=100% load%=1.0,quality=0i 5"]


def test_frame_lines_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="value columns"):
        frame_lines("s", ["a"], np.zeros((1, 2)), np.array([1]))


def test_encoder_extra_tags_on_every_series() -> None:
    from datetime import UTC, datetime

    from twin.events import JobReleased
    from twin.telemetry.schema import LineEncoder

    enc = LineEncoder("c1", {"m1": "cnc"}, datetime(2026, 1, 1, tzinfo=UTC), tags={"site": "s 1"})
    [text] = enc.event_lines(JobReleased(1.5, "J1"))
    p = parse_line(text)
    assert p.tags == {
        "cell": "c1",
        "event": "job_released",
        "family": "none",
        "machine": "none",
        "site": "s 1",
    }
    assert p.ts == int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) * 10**9 + 1_500_000_000


def test_encoder_knows_the_family_of_a_stored_order_cancelled_before_start() -> None:
    from datetime import UTC, datetime

    from twin.events import CommandApplied, JobCancelled
    from twin.telemetry.schema import LineEncoder

    enc = LineEncoder("c1", {"m1": "cnc"}, datetime(2026, 1, 1, tzinfo=UTC))
    args = {"job": "ST-1", "product": "printed_housing", "order": {}}
    assert enc.event_lines(CommandApplied(1.0, "store_order", args)) == []
    [text] = enc.event_lines(JobCancelled(2.0, "ST-1"))
    assert parse_line(text).tags["family"] == "printed_housing"
    [again] = enc.event_lines(JobCancelled(3.0, "ST-1"))  # forgotten once the order ended
    assert parse_line(again).tags["family"] == "none"


def test_encoder_writes_pause_and_resume_as_job_events() -> None:
    from datetime import UTC, datetime

    from twin.events import CommandApplied, OrderReceived
    from twin.telemetry.schema import LineEncoder

    enc = LineEncoder("c1", {"m1": "cnc"}, datetime(2026, 1, 1, tzinfo=UTC))
    enc.event_lines(OrderReceived(0.0, "J7", "machined_bracket", 900.0, 1.0, 3, "api"))
    [paused] = enc.event_lines(CommandApplied(5.0, "pause_job", {"job": "J7"}))
    [resumed] = enc.event_lines(CommandApplied(9.0, "resume_job", {"job": "J7"}))
    for text, event in ((paused, "job_paused"), (resumed, "job_resumed")):
        p = parse_line(text)
        assert p.measurement == "job_event"
        assert p.tags["event"] == event
        assert p.tags["family"] == "machined_bracket"
        assert p.fields == {"job": "J7"}
    assert enc.event_lines(CommandApplied(9.5, "set_speed", {"speed": 2.0})) == []
    # an order updated while it waits: its later events carry the new family
    update = {"job": "J7", "product": "printed_housing", "order": {}}
    assert enc.event_lines(CommandApplied(9.7, "update_order", update)) == []
    [again] = enc.event_lines(CommandApplied(9.9, "pause_job", {"job": "J7"}))
    assert parse_line(again).tags["family"] == "printed_housing"
