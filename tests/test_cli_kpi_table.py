"""The KPI table ``twin simulate`` prints is readable at 80 columns (``make simulate > log``):
no header or value is cut or wrapped."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
from pathlib import Path

import pytest
from rich.console import Console

from tests.conftest import SCENARIOS
from twin.cli import main
from twin.cli.simulate import kpi_table
from twin.report.run_report import build_report

HEADERS = ("machine", "avail.", "effect.", "quality", "OEE", "util.", "produced")
UNRATED = ("effectiveness", "quality_ratio", "oee")


def _kpis(value: float, produced: int) -> dict[str, object]:
    names = ("availability", "effectiveness", "quality_ratio", "oee", "utilisation")
    return {**dict.fromkeys(names, value), "produced": produced}


def test_simulate_prints_whole_headers_at_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    args = ["simulate", str(SCENARIOS / "default.toml"), "--until", "2d", "-q", "--no-plots"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = lines[lines.index(next(x for x in lines if "ISO 22400 KPIs" in x)) :][:11]
    assert table[2].split() == ["┃", *" ┃ ".join(HEADERS).split(), "┃"]
    assert "…" not in "".join(table)
    assert max(len(line) for line in table) <= 80
    # the run's summary is one line, whatever the width: a log is read with grep
    (summary,) = [x for x in lines if x.startswith("makespan ")]
    assert " | throughput " in summary
    assert summary.endswith(" open past due)")


def test_long_machine_ids_fold_but_values_stay_whole() -> None:
    long_id = "inspection_station_with_a_very_long_identifier_01"
    kpis = {"machines": {long_id: _kpis(1.0, 12345)}, "cell": _kpis(0.5, 12345)}
    console = Console(file=io.StringIO(), width=80)
    console.print(kpi_table(kpis))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in out
    assert out.count("100.0%") == 5
    assert out.count("12345") == 2
    assert all(h in out for h in HEADERS)


def test_nothing_produced_is_not_rated() -> None:
    """An undefined KPI (NaN: nothing produced to rate, see twin.kpi) reads ``-``, not 0 %
    (nor ``nan%``); the caption names the machine the cell row leaves out."""
    unrated = dict.fromkeys(("effectiveness", "quality_ratio", "oee"), math.nan)
    kpis = {
        "machines": {"robot1": {**_kpis(0.25, 0), **unrated}, "cnc1": _kpis(0.5, 3)},
        "cell": _kpis(0.5, 3),
        "cell_excludes": ["robot1"],
    }
    console = Console(file=io.StringIO(), width=80)
    console.print(kpi_table(kpis))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    robot = next(line for line in out.splitlines() if "robot1 " in line)
    assert [c.strip() for c in robot.split("│")[2:7]] == ["25.0%", "-", "-", "-", "25.0%"]
    assert out.count("50.0%") == 10  # the CNC and the cell, which produced
    assert "cell = all machines but robot1 (the transport robot)" in out


@pytest.fixture(scope="module")
def twenty_minutes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The new user's walkthrough: ``twin simulate scenarios/default.toml --until 20m``. The
    printer is on its first part, the robot has only moved parts: neither produced any."""
    out = tmp_path_factory.mktemp("run") / "run"
    console = io.StringIO()
    with contextlib.redirect_stdout(console):
        args = ["simulate", str(SCENARIOS / "default.toml"), "--until", "20m", "-q"]
        assert main([*args, "--out", str(out)]) == 0
    return out, console.getvalue().splitlines()


def test_twenty_minutes_everywhere_the_same(twenty_minutes: tuple[Path, list[str]]) -> None:
    """Nothing produced to rate means the same in the table (``-``), in summary.json (null)
    and in the telemetry (the field left out), for effectiveness as for quality and OEE;
    what was produced is rated everywhere alike."""
    out, lines = twenty_minutes
    rows = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:8]]
        for line in lines
        if line.startswith("│")
    }
    saved = json.loads((out / "summary.json").read_text(encoding="utf-8"))["kpis"]
    with gzip.open(out / "telemetry.lp.gz", "rt", encoding="utf-8") as fh:
        points = {
            ln.split(",scope=")[1].split(" ")[0]: ln.split(" ")[1]
            for ln in fh.read().splitlines()
            if ln.startswith("kpi,")
        }
    fields = {scope: dict(f.split("=") for f in text.split(",")) for scope, text in points.items()}
    for machine in ("robot1", "printer1"):
        assert rows[machine][1:4] == ["-", "-", "-"], rows[machine]
        assert rows[machine][5] == "0"
        assert [saved["machines"][machine][n] for n in UNRATED] == [None] * 3
        assert not set(UNRATED) & set(fields[machine]), fields[machine]
        assert fields[machine]["produced"] == "0i"
        assert rows[machine][0] != "-"  # availability is rated: the machine could work
    for machine in ("cnc1", "vision1", "cell"):
        k = saved["cell"] if machine == "cell" else saved["machines"][machine]
        assert rows[machine][1:4] == [f"{k[n]:.1%}" for n in UNRATED]
        assert [float(fields[machine][n]) for n in UNRATED] == [k[n] for n in UNRATED]
    assert saved["cell_excludes"] == ["robot1"]
    assert "cell = all machines but robot1 (the transport robot)" in "\n".join(lines)


def test_twenty_minutes_report_rates_nothing_unproduced(
    twenty_minutes: tuple[Path, list[str]],
) -> None:
    """``twin report`` reads summary.json's nulls as the table does: ``-``, not 0."""
    out, _ = twenty_minutes
    page = build_report(out, out / "report").read_text(encoding="utf-8")
    printer = page.split("<td>printer1</td>")[1].split("</tr>")[0]
    cells = [c.removeprefix("<td>") for c in printer.split("</td>") if c]
    assert cells[1:4] == ["-", "-", "-"], cells  # effectiveness, quality ratio, OEE
    assert "cell = all machines but robot1 (the transport robot)" in page
    assert (out / "report" / "kpis.png").stat().st_size > 0
