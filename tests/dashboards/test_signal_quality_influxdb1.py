"""Machine detail's latest values show each signal's own quality by name: a printer whose bed
temperature comes from a PLC that is lost, then back (``twin run --adapters``), as the
telemetry's encoder writes it, loaded into the real InfluxDB 1.x and read by the panel's
query as Grafana sends it.

The run is written to a database of its own: the loaded runs stay the latest of theirs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from dashboards import load_dashboards
from dashboards.common import QUALITY_CODES
from dashboards.machine_detail import KIND_ROWS, SIGNAL_QUALITY_COLUMNS
from tests.dashboards.grafana_queries import ALL_VARS, START, Loaded, panel_query, substitute
from twin.signals import STALE, STATUS_CODE, SignalSpec, SignalStore
from twin.telemetry import LineEncoder

DASHBOARD = load_dashboards()["machine-detail"]
DB = "quality"
RUN = "2026-01-05T06:00:00Z-000001"
UNCERTAIN = int(STATUS_CODE[STALE])
PRINTER = ("nozzle_temp", "bed_temp", "layer", "progress", "feedstock_used", "power")
TITLE = next(f"Latest values: {row}" for row, (kind, _) in KIND_ROWS.items() if kind == "printer")


def _lines() -> list[str]:
    """60 samples 1 s apart: the PLC's link is lost from 20 s to 39 s."""
    store = SignalStore()
    store.register_block("printer1", [SignalSpec(n, "", 0, 1) for n in PRINTER])
    encoder = LineEncoder("cell-1", {"printer1": "printer"}, START, tags={"run": RUN})
    times = np.arange(60, dtype=np.float64)
    values = np.tile(np.arange(1.0, len(PRINTER) + 1), (60, 1))
    quality = np.zeros(values.shape, dtype=np.int64)
    quality[20:40, PRINTER.index("bed_temp")] = UNCERTAIN
    return encoder.signal_lines(encoder.layout(store), times, values, quality)


@pytest.fixture(scope="module")
def quality_run(loaded: Loaded) -> Loaded:
    loaded.server.create_database(DB)
    loaded.server.write(DB, _lines())
    return loaded


def _latest(loaded: Loaded, until_s: float) -> dict[str, Any]:
    """The panel's one row (printer1) for a range ending ``until_s`` after the start."""
    query = substitute(
        panel_query(DASHBOARD, TITLE),
        {**ALL_VARS, "run": RUN},
        time_range=(START, START + timedelta(seconds=until_s)),
    )
    result = loaded.server.query(query, DB)
    assert "error" not in result, result
    ((machine, row),) = [
        (s["tags"]["machine"], dict(zip(s["columns"], s["values"][0], strict=True)))
        for s in result["series"]
    ]
    assert machine == "printer1"
    return row


def _qualities(row: dict[str, Any]) -> dict[str, Any]:
    return {c: v for c, v in row.items() if c.endswith("_quality")}


@pytest.mark.services
def test_only_the_plc_fed_signal_is_uncertain(quality_run: Loaded) -> None:
    row = _latest(quality_run, 30.5)  # the link is lost
    assert row["quality"] == UNCERTAIN  # the sample's worst
    assert _qualities(row) == {f"{n}_quality": UNCERTAIN if n == "bed_temp" else 0 for n in PRINTER}
    assert row["bed_temp"] == 2.0  # its last usable value, still shown


@pytest.mark.services
def test_the_signals_quality_is_good_again_after_the_link_is_back(quality_run: Loaded) -> None:
    row = _latest(quality_run, 40.5)  # the first sample after: every signal Good again
    assert row["quality"] == 0
    assert _qualities(row) == {f"{n}_quality": 0 for n in PRINTER}
    row = _latest(quality_run, 50.5)  # later: all Good samples carry no status: shown as Good
    assert row["quality"] == 0
    assert all(v is None for v in _qualities(row).values())  # all null
    assert set(_qualities(row)) == {f"{n}_quality" for n in PRINTER}


def test_each_signals_quality_is_shown_by_name_and_null_as_good() -> None:
    panel = next(p for p in DASHBOARD["panels"] if p.get("title") == TITLE)
    (override,) = (o for o in panel["fieldConfig"]["overrides"] if o["matcher"]["id"] == "byRegexp")
    assert override["matcher"]["options"] == SIGNAL_QUALITY_COLUMNS == ".+_quality"
    mappings = next(p["value"] for p in override["properties"] if p["id"] == "mappings")
    names = {code: m["text"] for code, m in mappings[0]["options"].items()}
    assert names == {str(code): name for name, (code, _) in QUALITY_CODES.items()}
    (null,) = (m for m in mappings if m["type"] == "special")
    assert null["options"]["match"] == "null"
    assert null["options"]["result"]["text"] == "Good"
    cells = next(p["value"] for p in override["properties"] if p["id"] == "custom.cellOptions")
    assert cells == {"type": "color-text"}
    # every signal of the kind, with its quality next to it, and the row's worst
    columns = panel["targets"][0]["query"].split(" FROM ")[0].removeprefix("SELECT ")
    assert columns.split(", ")[-1] == '"quality"'
    for signal in ("bed_temp", "nozzle_temp", "power"):
        assert f'"{signal}", "{signal}_quality"' in columns
