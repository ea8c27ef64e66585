"""``twin scenario show`` prints every routing with, per operation, the machines that can run
it and the planned seconds the planner gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SCENARIOS
from twin.cli import main
from twin.model import load_scenario
from twin.planning import Planner

DEFAULT = SCENARIOS / "default.toml"


def test_order_routings_show_machines_and_planned_seconds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["scenario", "show", str(DEFAULT)]) == 0
    out = capsys.readouterr().out.splitlines()
    sc = load_scenario(DEFAULT)
    planner = Planner(sc.cell.machines)
    for order in sc.orders:
        steps = [
            f"{op.req.name} ({', '.join(f'{m} {d:.0f} s' for m, d in op.durations.items())})"
            for op in planner.plan(order.product)
        ]
        assert f"order {order.id} ({order.product.type}): {' -> '.join(steps)}" in out


def test_catalogue_routings_show_the_range_of_planned_seconds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["scenario", "show", str(DEFAULT)]) == 0
    out = capsys.readouterr().out
    bracket = next(line for line in out.splitlines() if line.startswith("product bracket "))
    assert bracket.startswith("product bracket (machined_bracket): mill (cnc1 ")
    assert " -> inspect (vision1 " in bracket
    low, high = bracket.split("mill (cnc1 ")[1].split(" s)")[0].split("-")
    assert float(low) < float(high)


def test_explicit_operations_print_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        """
[[cell.machines]]
id = "m0"
kind = "generic"
[[orders]]
id = "A"
product = { type = "explicit", operations = [
  { machine = "m0", duration = 90, name = "[bold]deburr" },
] }
""",
        encoding="utf-8",
    )
    assert main(["scenario", "show", str(scenario)]) == 0
    assert "order A (explicit): [bold]deburr (m0 90 s)\n" in capsys.readouterr().out


def test_an_order_the_cell_cannot_make_is_one_error_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).parent / "cases")
    assert main(["scenario", "show", "material_not_machinable/scenario.toml"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "error: material_not_machinable/scenario.toml: orders[1].product: operation 'mill'"
        " (milling): the cell has no machine for milling\n"
    )
