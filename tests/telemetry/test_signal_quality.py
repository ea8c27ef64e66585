"""Each signal's own quality in ``machine_signal``: a stale PLC tag marks its signal, not the
machine's simulated ones; the mark goes back to Good where a ``last()`` reads it; a missing
value (NaN) is Bad_NoData for its signal only; all-Good samples carry nothing more.

The row's ``quality`` stays the worst of the sample's (compatible with the queries before)."""

from __future__ import annotations

import gzip
import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tests.dashboards.influxdb1 import InfluxDB1
from tests.telemetry.lp import Point, parse_lines
from tests.telemetry.servers import VictoriaMetrics
from twin.report.plots import signal_names
from twin.report.telemetry_file import read_numeric_series
from twin.signals import STALE, STATUS_CODE, SignalSpec, SignalStore
from twin.telemetry import LineEncoder
from twin.telemetry.lineprotocol import BAD_NO_DATA
from twin.telemetry.schema import SignalLayout

ORIGIN = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
UNCERTAIN = int(STATUS_CODE[STALE])  # Uncertain_LastUsableValue: the PLC link is lost
CNC = ("spindle_speed", "power")
PRINTER = ("nozzle_temp", "bed_temp", "power")  # bed_temp: fed by a PLC


def _store() -> SignalStore:
    store = SignalStore()
    store.register_block("cnc1", [SignalSpec(n, "", 0, 1) for n in CNC])
    store.register_block("printer1", [SignalSpec(n, "", 0, 1) for n in PRINTER])
    return store


STORE = _store()
BED = STORE.index("printer1.bed_temp")
NOZZLE = STORE.index("printer1.nozzle_temp")


def _encoder() -> tuple[LineEncoder, SignalLayout]:
    encoder = LineEncoder("cell-1", {"cnc1": "cnc", "printer1": "printer"}, ORIGIN)
    return encoder, encoder.layout(STORE)


def _frame(t0: float, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` samples 1 s apart from ``t0``: times, values, qualities (all Good)."""
    times = t0 + np.arange(n, dtype=np.float64)
    values = np.arange(n * len(STORE), dtype=np.float64).reshape(n, len(STORE)) + 0.5
    return times, values, np.zeros((n, len(STORE)), dtype=np.int64)


def _points(lines: list[str], machine: str) -> list[Point]:
    return [p for p in parse_lines("\n".join(lines)) if p.tags["machine"] == machine]


def _qualities(point: Point) -> dict[str, object]:
    return {k: v for k, v in point.fields.items() if k.endswith("quality")}


def test_a_stale_signal_marks_only_itself() -> None:
    encoder, layout = _encoder()
    times, values, quality = _frame(0.0, 2)
    quality[:, BED] = UNCERTAIN  # the PLC's link is lost: its tag's last usable value
    lines = encoder.signal_lines(layout, times, values, quality)
    for printer in _points(lines, "printer1"):
        assert _qualities(printer) == {
            "quality": UNCERTAIN,  # the worst of the sample's, as before
            "nozzle_temp_quality": 0,
            "bed_temp_quality": UNCERTAIN,
            "power_quality": 0,
        }
        assert set(PRINTER) <= printer.fields.keys()  # the last usable value is still written
    for cnc in _points(lines, "cnc1"):  # another machine's samples are all Good: nothing more
        assert _qualities(cnc) == {"quality": 0}


@pytest.mark.services
def test_the_first_good_sample_after_a_stale_one_marks_every_signal_good_again(
    influx: InfluxDB1,
) -> None:
    encoder, layout = _encoder()
    lines = []
    times, values, quality = _frame(0.0, 3)
    quality[1:, BED] = UNCERTAIN  # lost at the second sample
    lines += encoder.signal_lines(layout, times, values, quality)
    stale_until = encoder.ts(times[-1])
    lines += encoder.signal_lines(layout, *_frame(3.0, 3))  # back, in the next frame
    printer = _points(lines, "printer1")
    assert [p.fields.get("bed_temp_quality") for p in printer] == [
        None,  # all Good and after all Good: nothing
        UNCERTAIN,
        UNCERTAIN,
        0,  # the first all-Good sample (another frame: the encoder remembers)
        None,
        None,
    ]
    assert [p.fields["quality"] for p in printer] == [0, UNCERTAIN, UNCERTAIN, 0, 0, 0]
    assert _qualities(printer[3]) == {f"{n}_quality": 0 for n in PRINTER} | {"quality": 0}

    influx.create_database("q")
    influx.write("q", lines)

    def last(until_ns: int) -> list[object]:
        result = influx.query(
            'SELECT last("bed_temp_quality"), last("nozzle_temp_quality") FROM machine_signal'
            f" WHERE machine = 'printer1' AND time <= {until_ns}",
            "q",
        )
        return list(result["series"][0]["values"][0][1:])

    assert last(stale_until) == [UNCERTAIN, 0]  # while lost
    assert last(encoder.ts(times[-1] + 10)) == [0, 0]  # and Good again, not the old mark


def test_a_missing_value_is_bad_no_data_for_its_signal_only() -> None:
    encoder, layout = _encoder()
    times, values, quality = _frame(0.0, 4)
    values[1, NOZZLE] = np.nan
    values[2, NOZZLE] = np.inf
    values[2, BED] = np.nan
    quality[2, BED] = UNCERTAIN  # stale and missing: its own status stays
    printer = _points(encoder.signal_lines(layout, times, values, quality), "printer1")
    assert "nozzle_temp" not in printer[1].fields  # left out, as before
    assert _qualities(printer[1]) == {
        "quality": BAD_NO_DATA,
        "nozzle_temp_quality": BAD_NO_DATA,
        "bed_temp_quality": 0,
        "power_quality": 0,
    }
    assert not {"nozzle_temp", "bed_temp"} & printer[2].fields.keys()
    assert _qualities(printer[2]) == {
        "quality": BAD_NO_DATA,  # the worst: Bad above Uncertain
        "nozzle_temp_quality": BAD_NO_DATA,
        "bed_temp_quality": UNCERTAIN,
        "power_quality": 0,
    }
    assert _qualities(printer[3]) == {f"{n}_quality": 0 for n in PRINTER} | {"quality": 0}


def test_after_a_seed_the_next_sample_marks_every_signal() -> None:
    """An encoder attached to a twin that ran already (``twin run --resume``) cannot know
    whether the run's last samples marked a signal: its first sample of each machine sets
    every signal's quality, so none stays Uncertain from before."""
    encoder, layout = _encoder()
    encoder.seed({}, [])
    lines = encoder.signal_lines(layout, *_frame(0.0, 2))
    for machine, names in (("cnc1", CNC), ("printer1", PRINTER)):
        first, second = _points(lines, machine)
        assert _qualities(first) == {f"{n}_quality": 0 for n in names} | {"quality": 0}
        assert _qualities(second) == {"quality": 0}


def test_a_signal_name_clashing_with_a_quality_field_is_refused() -> None:
    store = SignalStore()
    store.register_block("m1", [SignalSpec(n, "", 0, 1) for n in ("load", "load_quality")])
    encoder = LineEncoder("cell-1", {"m1": "generic"}, ORIGIN)
    with pytest.raises(ValueError, match="load_quality"):
        encoder.layout(store)


@pytest.mark.services
def test_victoria_metrics_stores_each_signals_quality_as_a_number(
    victoria: VictoriaMetrics,
) -> None:
    encoder, layout = _encoder()
    times, values, quality = _frame(0.0, 3)
    quality[0, BED] = UNCERTAIN
    lines = encoder.signal_lines(layout, times, values, quality)
    request = urllib.request.Request(
        f"{victoria.url}/api/v2/write?precision=ns", data="\n".join(lines).encode()
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 204
    victoria.force_flush()
    victoria.wait_for_count(1, '{__name__="machine_signal_bed_temp_quality"}')
    got = {
        (series["metric"]["__name__"], series["metric"]["machine"]): series["values"]
        for series in victoria.export('{__name__=~"machine_signal_.*quality"}')
    }
    # Uncertain, then Good again (integers: VictoriaMetrics stores a string field as 0)
    assert got[("machine_signal_bed_temp_quality", "printer1")] == [UNCERTAIN, 0]
    assert got[("machine_signal_nozzle_temp_quality", "printer1")] == [0, 0]
    assert got[("machine_signal_quality", "printer1")] == [UNCERTAIN, 0, 0]
    assert ("machine_signal_spindle_speed_quality", "cnc1") not in got


def test_the_report_plots_signals_not_their_qualities(tmp_path: Path) -> None:
    encoder, layout = _encoder()
    times, values, quality = _frame(0.0, 3)
    quality[1, BED] = UNCERTAIN
    path = tmp_path / "telemetry.lp.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(encoder.signal_lines(layout, times, values, quality)) + "\n")
    series = read_numeric_series(path)["machine_signal"]["printer1"]
    assert signal_names(series) == list(PRINTER)
    bed = series.fields["bed_temp_quality"]  # read back: NaN where a sample has none
    assert json.dumps(bed.tolist()) == json.dumps([np.nan, float(UNCERTAIN), 0.0])
