"""Machine detail's latest values: per machine kind, one row per machine with its signals only,
at the time of the sample, with its quality by name.

The one "Latest signal values" table was ``last(*) ... GROUP BY machine``: about 28 columns
for every machine, most of them empty (another kind's signals), a Time column showing the
start of the range, and ``quality`` as a raw status code (2157641728 for Bad_NoData).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from dashboards import load_dashboards
from dashboards.common import QUALITY_CODES
from dashboards.machine_detail import KIND_ROWS
from tests.dashboards.grafana_queries import DB, MACHINES, START, Loaded, panel_query, substitute
from twin.signals import STATUS_CODE
from twin.telemetry.lineprotocol import BAD_NO_DATA

DASHBOARD = load_dashboards()["machine-detail"]
# a range ending between two samples (every 60 s), well after its start
RANGE = (START, START + timedelta(hours=20, seconds=30))
RANGE_MS = tuple(int(t.timestamp() * 1000) for t in RANGE)


def _panel(title: str) -> dict[str, Any]:
    return next(p for p in DASHBOARD["panels"] if p.get("title") == title)


@pytest.mark.services
@pytest.mark.parametrize("row", list(KIND_ROWS))
def test_one_row_per_machine_with_its_signals_at_the_samples_time(loaded: Loaded, row: str) -> None:
    kind, _ = KIND_ROWS[row]
    query = panel_query(DASHBOARD, f"Latest values: {row}")
    result = loaded.server.query(substitute(query, loaded.variables, time_range=RANGE), DB)
    assert "error" not in result, result
    series = result["series"]
    assert [s["tags"]["machine"] for s in series] == [MACHINES[kind]]  # only its kind's
    (table,) = series
    (values,) = table["values"]  # one row
    shown = dict(zip(table["columns"], values, strict=True))
    # the machine's last point in range, as stored: its time and every field it has
    raw = loaded.server.query(
        f"SELECT * FROM machine_signal WHERE machine = '{MACHINES[kind]}' "
        f"AND run = '{loaded.run}' AND time >= {RANGE_MS[0]}ms AND time <= {RANGE_MS[1]}ms "
        "ORDER BY time DESC LIMIT 1",
        DB,
    )["series"][0]
    point = {
        c: v
        for c, v in zip(raw["columns"], raw["values"][0], strict=True)
        if v is not None and c not in ("cell", "kind", "machine", "run")
    }
    assert RANGE_MS[0] < shown["time"] == point["time"] < RANGE_MS[1]  # not the range start
    assert {c for c, v in shown.items() if v is not None} == set(point)  # every signal it has
    assert all(shown[c] == v for c, v in point.items())
    # each signal's own quality is in a sample only around one that is not Good (SCHEMA.md):
    # a simulation's signals are all Good, so the last sample has none (shown as Good)
    statuses = {c for c in shown if c.endswith("_quality")}
    signals = {c for c in shown if c not in ("time", "quality", *statuses)}
    assert statuses == {f"{c}_quality" for c in signals}  # one for each signal
    assert all(shown[c] is None for c in statuses)
    assert None not in (v for c, v in shown.items() if c not in statuses)  # no other kind's
    assert shown["quality"] == 0  # Good


def test_quality_codes_are_shown_by_name() -> None:
    assert QUALITY_CODES["Good"][0] == int(STATUS_CODE[0])
    assert QUALITY_CODES["Uncertain_LastUsableValue"][0] == int(STATUS_CODE[1])
    assert QUALITY_CODES["Bad_NoData"][0] == BAD_NO_DATA == 2157641728
    for row in KIND_ROWS:
        panel = _panel(f"Latest values: {row}")
        assert "mappings" not in panel["fieldConfig"]["defaults"]  # not a signal's 0 as Good
        overrides = {
            o["matcher"]["options"]: o["properties"] for o in panel["fieldConfig"]["overrides"]
        }
        mappings = next(p["value"] for p in overrides["quality"] if p["id"] == "mappings")
        names = {code: m["text"] for code, m in mappings[0]["options"].items()}
        assert names == {str(code): name for name, (code, _) in QUALITY_CODES.items()}
        ranges = [
            (m["options"]["from"], m["options"]["to"], m["options"]["result"]["text"])
            for m in mappings[1:]
        ]
        assert ranges == [(0x40000000, 0x7FFFFFFF, "Uncertain"), (0x80000000, 0xFFFFFFFF, "Bad")]
        time_name = next(p["value"] for p in overrides["Time"] if p["id"] == "displayName")
        assert time_name == "Sampled at"


def test_no_table_shows_every_field_of_every_machine() -> None:
    for p in DASHBOARD["panels"]:
        for t in p.get("targets", []):
            assert "last(*)" not in t["query"], p["title"]
