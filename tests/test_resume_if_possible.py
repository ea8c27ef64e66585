"""``twin run --resume-if-possible``: an unattended restart (docker compose's ``restart:
unless-stopped``) whose log cannot be resumed starts afresh, keeping the log, instead of
refusing (exit 2) and restarting for ever; ``--resume`` still refuses."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.opcua.conftest import require_nodesets, run_args, start_cli
from twin.cli import main
from twin.cli.rundir import EVENTS, INFO, PREVIOUS


def _args(tmp_path: Path, out: Path) -> list[str]:
    return ["--insecure-dev", *run_args(tmp_path, out), "--telemetry", "none", "--speed", "600"]


def _copy(source: Path, target: Path, extra: str = "") -> None:
    target.write_text(source.read_text(encoding="utf-8") + extra, encoding="utf-8")


async def test_a_log_of_another_scenario_is_kept_and_the_run_starts_afresh(
    default_scenario_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, out = tmp_path / "cell.toml", tmp_path / "out"
    _copy(default_scenario_path, scenario)
    twin = await start_cli(str(scenario), *_args(tmp_path, out))
    await twin.stop()
    old_log, old_info = (out / EVENTS).read_bytes(), orjson.loads((out / INFO).read_bytes())
    # a new image: the scenario changed under the same name
    _copy(default_scenario_path, scenario, "\n# changed\n")

    require_nodesets()
    args = ["run", str(scenario), *_args(tmp_path, out), "--resume"]
    assert main(args) == 2  # --resume: refused, nothing touched
    assert "resume with the same scenario" in capsys.readouterr().err
    assert (out / EVENTS).read_bytes() == old_log

    twin = await start_cli(str(scenario), *_args(tmp_path, out), "--resume-if-possible")
    try:
        assert "cannot resume" in twin.banner
        assert "resume with the same scenario" in twin.banner  # why
        assert "restored" not in twin.banner
    finally:
        await twin.stop()
    assert (out / PREVIOUS).read_bytes() == old_log  # kept, with what it accepted
    info = orjson.loads((out / INFO).read_bytes())
    assert info["scenario_sha256"] != old_info["scenario_sha256"]  # a new run
    assert orjson.loads((out / EVENTS).read_bytes().splitlines()[0])["t"] == 0


async def test_a_resumable_log_is_resumed(default_scenario_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    twin = await start_cli(str(default_scenario_path), *_args(tmp_path, out))
    await twin.stop()
    args = _args(tmp_path, out)
    twin = await start_cli(str(default_scenario_path), *args, "--resume-if-possible")
    try:
        assert "restored 1 command" in twin.banner
        assert "cannot resume" not in twin.banner
    finally:
        await twin.stop()
