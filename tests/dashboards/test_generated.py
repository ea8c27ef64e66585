"""The committed dashboard JSON is exactly what the builders produce, and is well formed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboards import JSON_DIR, load_dashboards
from dashboards.cell_overview import LINK_TABLE
from dashboards.common import DATASOURCE_UID
from dashboards.generate import BUILDERS, build_all, main, render, stale
from dashboards.panels import LATEST_DATA


def test_committed_json_equals_builder_output() -> None:
    built = build_all()
    assert sorted(built) == sorted(p.stem for p in JSON_DIR.glob("*.json"))
    for name, d in built.items():
        text = (JSON_DIR / f"{name}.json").read_text(encoding="utf-8")
        assert text == render(d), f"{name}.json is stale: run python -m dashboards"


def test_check_reports_stale_missing_and_extra_files(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert stale(tmp_path) == []
    assert main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "jobs.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "cell-overview.json").unlink()
    (tmp_path / "extra.json").write_text("{}\n", encoding="utf-8")
    assert stale(tmp_path) == ["cell-overview.json", "jobs.json", "extra.json"]
    assert main(["--out", str(tmp_path), "--check"]) == 1


def _panels(d: dict) -> list[dict]:
    out = []
    for p in d["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_dashboard_is_well_formed(name: str) -> None:
    d = load_dashboards()[name]
    assert d["uid"].startswith("celltwin-")
    assert len(d["uid"]) <= 40
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["current"]["value"] == DATASOURCE_UID
    panels = [p for p in _panels(d) if p["type"] != "row"]
    assert panels
    # every panel queries InfluxQL through the datasource variable, raw queries only
    for p in panels:
        assert p["datasource"] == {"type": "influxdb", "uid": "${datasource}"}, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["rawQuery"] is True
            assert t["datasource"]["uid"] == "${datasource}"
            # every query keeps to the time range, but the one that says where the data is
            # and the PLC links' latest state (a link's last change may be days before it)
            if p["title"] not in (LATEST_DATA, LINK_TABLE):
                assert "$timeFilter" in t["query"], (p["title"], t["query"])
    # panels tile the 24-column grid without overlapping
    cells: set[tuple[int, int]] = set()
    for p in _panels(d):
        g = p["gridPos"]
        assert g["x"] >= 0, p.get("title")
        assert g["x"] + g["w"] <= 24, p.get("title")
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, f"{p.get('title')} overlaps another panel"
        cells |= mine


def test_required_content() -> None:
    """The panels issue 4 asks for exist (titles are the contract with the README)."""
    titles = {name: {p.get("title") for p in _panels(d)} for name, d in load_dashboards().items()}
    assert {
        "Machine states",
        "OEE per machine (since start)",
        "Throughput",
        "WIP (mean)",
    } <= titles["cell-overview"]
    assert "Late jobs (in range)" in titles["cell-overview"]
    assert {"State", "Power", "Tool wear", "Nozzle and bed temperature"} <= titles["machine-detail"]
    assert {"Lead time per completed job", "Tardiness per late job"} <= titles["jobs"]
    assert "Finished jobs (newest first)" in titles["jobs"]
    assert {
        "Jobs paused (in range)",
        "Pauses and resumes (newest first)",
        "Jobs held by a fault (newest first)",
    } <= titles["jobs"]
    machine = {v["name"] for v in load_dashboards()["machine-detail"]["templating"]["list"]}
    assert "machine" in machine


def test_json_files_parse_as_utf8_json() -> None:
    for f in JSON_DIR.glob("*.json"):
        json.loads(f.read_text(encoding="utf-8"))
