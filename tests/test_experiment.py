"""``twin experiment``: replications over seeds and rules, with confidence intervals and
paired differences; the same numbers whatever the number of worker processes."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from twin.cli import main
from twin.experiment import Variant, estimate, run_experiment
from twin.model import load_scenario
from twin.simulation import run_simulation


def test_estimate_by_hand() -> None:
    e = estimate([1.0, 2.0, 3.0, 4.0, 5.0, math.nan])  # NaN: undefined, left out
    assert (e.mean, e.n) == (3.0, 5)
    assert e.half_width == pytest.approx(2.776 * statistics.stdev([1, 2, 3, 4, 5]) / 5**0.5)
    assert math.isnan(estimate([7.0]).half_width)
    assert estimate([7.0]).mean == 7.0
    assert estimate([]).n == 0
    assert math.isnan(estimate([]).mean)


def test_runs_are_the_simulations_and_do_not_depend_on_the_workers(
    default_scenario_path: Path,
) -> None:
    sc = load_scenario(default_scenario_path)
    variants = [Variant("EDD", sc, "EDD"), Variant("SPT", sc, "SPT")]
    one = run_experiment(variants, [3, 4, 5], until=2 * 86400.0, workers=1)
    two = run_experiment(variants, [3, 4, 5], until=2 * 86400.0, workers=2)
    assert one.values == two.values
    alone = run_simulation(sc, until=2 * 86400.0, seed=4, rule="SPT", plots=False)
    cell = alone.summary["kpis"]["cell"]
    assert one.values["SPT"]["jobs_completed"][1] == cell["jobs_completed"]
    assert one.values["SPT"]["oee"][1] == cell["oee"]
    diff = one.differences()["SPT"]["jobs_late"]
    spt, edd = one.values["SPT"]["jobs_late"], one.values["EDD"]["jobs_late"]
    assert diff.mean == pytest.approx(
        statistics.fmean(a - b for a, b in zip(spt, edd, strict=True))
    )


def test_cli_prints_both_tables_and_writes_every_run(
    default_scenario_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "exp.json"
    args = ["experiment", str(default_scenario_path), "--seeds", "3", "--until", "2d"]
    assert main([*args, "--rule", "edd", "--rule", "FIFO", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mean ± 95 % CI over the seeds" in printed
    assert "each variant - EDD, seed by seed (paired)" in printed
    data = json.loads(out.read_text())
    assert data["seeds"] == [1, 2, 3]
    assert data["variants"] == ["EDD", "FIFO"]
    assert len(data["runs"]["FIFO"]["jobs_completed"]) == 3
    assert set(data["differences_to_first"]) == {"FIFO"}


def test_cli_compares_variants_of_a_cell(
    default_scenario_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What if the cell took more jobs at once: two scenario files, the same seeds."""
    text = default_scenario_path.read_text(encoding="utf-8")
    more = tmp_path / "more_wip.toml"
    more.write_text(text.replace("max_wip = 10", "max_wip = 14"), encoding="utf-8")
    out = tmp_path / "exp.json"
    args = ["experiment", str(default_scenario_path), str(more), "--seeds", "2"]
    assert main([*args, "--until", "1d", "--out", str(out)]) == 0
    assert "each variant - default, seed by seed (paired)" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["variants"] == ["default", "more_wip"]
    both = main([*args, "--rule", "EDD", "--rule", "SPT", "--out", str(out)])
    assert both == 0
    assert json.loads(out.read_text())["variants"] == [
        "default EDD",
        "default SPT",
        "more_wip EDD",
        "more_wip SPT",
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rule", "LIFO"], "--rule: unknown dispatching rule 'LIFO'"),
        (["--rule", "SPT", "--rule", "spt"], "--rule: a rule is given twice"),
        (["--seeds", "0"], "--seeds: must be >= 1"),
        (["--jobs", "0"], "--jobs: must be >= 1"),
        (["--until", "0s"], "--until: must be > 0"),
        (["scenarios/default.toml"], "SCENARIOS: a scenario file is given twice"),
    ],
)
def test_bad_options_are_named(
    default_scenario_path: Path,
    extra: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["experiment", str(default_scenario_path), *extra]) == 2
    assert message in capsys.readouterr().err
