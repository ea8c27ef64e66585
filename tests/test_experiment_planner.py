"""``twin experiment`` as a planner reads it: the period in days, differences with the digits
their scale needs and said to be against the first variant, each machine's utilisation,
availability, setup and down shares and OEE (a CNC breaking down more often shows on the
CNC), and every run's values as long-format CSV."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from twin.cli import main
from twin.cli.experiment import _value
from twin.experiment import METRICS, Estimate

MACHINES = ["cnc1", "robot1", "printer1", "vision1"]  # scenarios/default.toml's order
PER_MACHINE = ("utilisation", "availability", "setup_share", "down_share", "oee")
CSV_COLUMNS = ("variant", "rule", "scenario", "seed", "scope", "metric", "value")


@pytest.fixture
def variants(default_scenario_path: Path, tmp_path: Path) -> list[Path]:
    """The default cell, one whose CNC breaks down four times as often, and one with a
    second printer."""
    text = default_scenario_path.read_text(encoding="utf-8")
    breaks = tmp_path / "breaks.toml"
    breaks.write_text(text.replace('mtbf = "40h"', 'mtbf = "10h"', 1), encoding="utf-8")
    printer = text[text.index('id = "printer1"') : text.index('[[cell.machines]]\nid = "vision1"')]
    second = printer.replace("printer1", "printer2").replace("FFF-0001", "FFF-0002")
    second = second.replace("position = [0.0, 3.0]", "position = [0.0, 4.0]")
    at = text.index('[[cell.machines]]\nid = "vision1"')
    printers = tmp_path / "printers.toml"
    printers.write_text(f"{text[:at]}[[cell.machines]]\n{second}{text[at:]}", encoding="utf-8")
    return [default_scenario_path, breaks, printers]


def test_differences_have_the_digits_of_their_scale() -> None:
    """A throughput difference of 0.0031 jobs/h was printed +0.00 ± 0.00."""
    assert _value(Estimate(0.0031, 0.0012, 5), "jobs/h", signed=True) == "+0.0031 ± 0.0012"
    assert _value(Estimate(-0.0005, 0.0008, 5), "%", signed=True) == "-0.050 ± 0.080"
    assert _value(Estimate(250.0, 12.3, 5), "", signed=False) == "250.0 ± 12.3"
    assert _value(Estimate(0.3456, math.nan, 1), "%", signed=False) == "34.6"
    assert _value(Estimate(0.0, 0.0, 5), "jobs/h", signed=True) == "0 in every seed"
    assert _value(Estimate(math.nan, math.nan, 0), "h", signed=True) == "-"


def test_machine_effects_the_header_and_the_csv(
    variants: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, table = tmp_path / "exp.json", tmp_path / "exp.csv"
    args = ["experiment", *map(str, variants), "--seeds", "3", "--until", "7d"]
    assert main([*args, "--out", str(out), "--csv", str(table)]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0] == (
        "3 seeds (1..3) x 3 variants, each run 7 d; differences against the first variant, default"
    )
    assert "against the first variant: each variant - default, seed by seed (paired)" in lines
    assert sum("│ down share (%)" in line for line in lines) == 2 * len([*MACHINES, "printer2"])

    data = json.loads(out.read_text(encoding="utf-8"))
    machines = data["machines"]
    assert list(machines["runs"]["default"]) == MACHINES
    assert list(machines["runs"]["printers"]) == [
        "cnc1",
        "robot1",
        "printer1",
        "printer2",
        "vision1",
    ]
    cnc = machines["differences_to_first"]["breaks"]["cnc1"]
    # the same seeds: the CNC is down more in every one, whatever the cell's OEE says
    assert cnc["down_share"]["mean"] - cnc["down_share"]["ci95_half_width"] > 0
    assert all(
        a > b
        for a, b in zip(
            machines["runs"]["breaks"]["cnc1"]["down_share"],
            machines["runs"]["default"]["cnc1"]["down_share"],
            strict=True,
        )
    )
    added = machines["differences_to_first"]["printers"]
    assert "printer2" not in added  # nothing to pair it with
    assert machines["estimates"]["printers"]["printer2"]["utilisation"]["n"] == 3
    assert set(data["estimates"]["default"]) == {key for key, _, _ in METRICS}
    assert "lead_time_p95_s" in data["differences_to_first"]["breaks"]

    with table.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert {r["metric"] for r in rows if r["scope"] == "cnc1"} == set(PER_MACHINE)
    machine_rows = len(PER_MACHINE) * (4 + 4 + 5)
    assert len(rows) == 3 * (3 * len(METRICS) + machine_rows)
    first = rows[0]
    assert (first["variant"], first["rule"], first["scenario"], first["seed"]) == (
        "default",
        "EDD",
        str(variants[0]),
        "1",
    )
    got = {
        (r["variant"], int(r["seed"]), r["scope"], r["metric"]): float(r["value"] or "nan")
        for r in rows
    }
    assert got["breaks", 2, "cell", "oee"] == data["runs"]["breaks"]["oee"][1]
    assert (
        got["printers", 3, "printer2", "setup_share"]
        == (machines["runs"]["printers"]["printer2"]["setup_share"][2])
    )
    assert {r["scope"] for r in rows} == {"cell", *MACHINES, "printer2"}


def test_the_help_names_the_csv_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiment", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "columns: variant, rule, scenario, seed, scope, metric, value" in help_text


def test_a_csv_that_is_a_directory_is_named(
    default_scenario_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["experiment", str(default_scenario_path), "--csv", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: command line: --csv: {tmp_path} is a directory, not a CSV file\n"
    )
