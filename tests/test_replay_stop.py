"""``twin simulate --replay`` of a log that ends with the ``stop`` ``twin run`` records when it
stops: the replay ends there too (the log is reproduced byte for byte, not run on to the
horizon) and says so; ``--until`` runs it on. A stop that more of the log follows (a run
resumed after it) ends nothing."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from tests.conftest import SCENARIOS
from tests.opcua.conftest import run_args, start_cli
from tests.test_run_log import _logged_past
from twin.cli import main
from twin.engine.replay import read_log

DEFAULT = str(SCENARIOS / "default.toml")


async def recorded_run(tmp_path: Path) -> Path:
    """The event log of a real ``twin run`` stopped with Ctrl-C after a while."""
    out = tmp_path / "live"
    twin = await start_cli(
        *(DEFAULT, "--speed", "2000", "--telemetry", "none"),
        *run_args(tmp_path, out, history=tmp_path / "h.sqlite"),
    )
    try:
        # a few thousand simulated seconds of events, in the log (written every second)
        await _logged_past(out / "events.jsonl", 4000.0, deadline_s=30)
        await twin.stop()
    finally:
        await twin.kill()
    return out / "events.jsonl"


def replay(tmp_path: Path, log: Path, *extra: str) -> Path:
    out = tmp_path / "replayed"
    args = ["simulate", DEFAULT, "--replay", str(log), "--out", str(out), *extra]
    assert main([*args, "--no-plots", "-q", "--telemetry", "none"]) == 0
    return out


async def test_a_replay_ends_where_the_recorded_run_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = await recorded_run(tmp_path)
    recorded = log.read_bytes()
    last = orjson.loads(recorded.splitlines()[-1])
    assert last["command"] == "stop"
    assert recorded.count(b"\n") > 20  # jobs moved before it
    capsys.readouterr()
    out = replay(tmp_path, log)
    assert (out / "events.jsonl").read_bytes() == recorded
    assert json.loads((out / "summary.json").read_text())["end_time"] == last["t"]
    assert (
        f"{log}: note: the recorded run stopped at {last['t']:g} s; the replay ends there too "
        "(--until to go on)"
    ) in capsys.readouterr().out
    # --until says otherwise: on past the stop
    further = replay(tmp_path, log, "--until", "2d")
    assert (further / "events.jsonl").read_bytes().startswith(recorded)
    assert json.loads((further / "summary.json").read_text())["end_time"] > last["t"]


def _lines(path: Path, *events: dict[str, object]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


STOP = {"type": "command", "command": "stop", "args": {}}
FAULT = {"type": "command", "command": "inject_fault"}
FAULT_ARGS = {"machine": "cnc1", "kind": "breakdown", "duration": 60}


def test_only_a_stop_that_ends_the_log_ends_the_replay(tmp_path: Path) -> None:
    stopped = _lines(tmp_path / "a.jsonl", {**FAULT, "t": 5, "args": FAULT_ARGS}, {**STOP, "t": 9})
    assert read_log(stopped).stopped_at == 9
    resumed = _lines(
        tmp_path / "b.jsonl",
        {**STOP, "t": 9},  # a run resumed after its stop...
        {**FAULT, "t": 20, "args": FAULT_ARGS},
        {"type": "fault_started", "t": 20, "machine": "cnc1", "kind": "breakdown"},
    )
    assert read_log(resumed).stopped_at is None
    killed = _lines(tmp_path / "c.jsonl", {**STOP, "t": 9}, {"type": "job_arrived", "t": 30})
    assert read_log(killed).stopped_at is None
