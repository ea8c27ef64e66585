"""A ``twin run`` that cannot start leaves the run directory as it was: every option and file
that can be checked is checked before the directory is touched, and a start failing later
never costs the log of a run that accepted orders (nor does any later start)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest

from tests.opcua.conftest import require_nodesets, run_args
from twin.api import TwinAPI
from twin.cli import main
from twin.cli.rundir import EVENTS, PREVIOUS, new_log, run_info, write_info
from twin.engine import commands
from twin.engine.cell import Engine
from twin.errors import ServiceError
from twin.events import EventLogWriter
from twin.model import load_scenario

ORDER = {"id": "MES-1", "due": "8h", "product": {"type": "printed_housing", "volume_cm3": 20}}
STOP = b'{"type":"command","t":0,"command":"stop","args":{}}\n'  # a start that failed


def _recorded_run(scenario: Path, out: Path, order: str = "MES-1") -> bytes:
    """Record in ``out`` a run that accepted an order and was stopped with Ctrl-C, as
    ``twin run`` does; returns its event log."""
    out.mkdir(exist_ok=True)
    write_info(out, run_info(scenario, load_scenario(scenario)), dt.datetime.now(dt.UTC))
    with (out / EVENTS).open("wb") as fh:
        engine = Engine(load_scenario(scenario), signals=True)
        writer = EventLogWriter(fh)
        engine.bus.subscribe(writer)
        engine.run(600, stop_when_done=False)
        TwinAPI(engine).submit_order({**ORDER, "id": order})
        engine.run(1200, stop_when_done=False)
        commands.stop(engine)
        writer.flush()
    return (out / EVENTS).read_bytes()


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _bad(tmp_path: Path, option: str) -> tuple[str, str]:
    """A value of ``option`` twin run cannot use, and the reason it gives."""
    text = tmp_path / "notes.txt"
    text.write_text("not what it should be\n")
    if option == "--users-dir":
        return str(tmp_path), f"--users: {tmp_path} is a directory, not a users file"
    if option == "--users":
        (tmp_path / "users.toml").write_text("[users.erin]\nrole = 'engineer'\n")
        return str(tmp_path / "users.toml"), "users.erin.password: must be a scrypt hash"
    if option == "--pki":
        return str(text), f"--pki: {text} is not a directory"
    if option == "--pki-own":
        (tmp_path / "pki").mkdir()
        (tmp_path / "pki" / "own").write_text("")
        return str(tmp_path / "pki"), f"--pki: {tmp_path / 'pki' / 'own'} is not a directory"
    if option == "--history-dir":
        return str(tmp_path), f"--history: {tmp_path} is a directory, not a database file"
    if option == "--history-in-a-file":
        return str(text / "history.sqlite"), f"--history: {text} is not a directory"
    assert option == "--history"
    return str(text), f"--history: {text} is not an SQLite database"


@pytest.mark.parametrize(
    "option",
    [
        "--users-dir",
        "--users",
        "--pki",
        "--pki-own",
        "--history-dir",
        "--history-in-a-file",
        "--history",
    ],
)
def test_a_start_refused_for_a_bad_file_touches_nothing(
    default_scenario_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    out, bad = tmp_path / "out", tmp_path / "bad"
    bad.mkdir()
    _recorded_run(default_scenario_path, out)
    before = _files(out)
    value, reason = _bad(bad, option)
    files = {option.split("-")[2]: value}  # --users-dir: --users
    args = ["run", str(default_scenario_path), *run_args(tmp_path, out, **files)]
    args += ["--telemetry", "none"]
    for _ in range(2):  # a second try changes nothing either
        capsys.readouterr()
        assert main(args) == 2
        out_text, err = capsys.readouterr()
        assert err.startswith("error: "), err
        assert reason in err
        assert len(err.splitlines()) == 1, err
        assert "kept" not in out_text
    assert _files(out) == before
    assert not (tmp_path / "users.toml").exists() or option == "--users"  # no user made


def test_a_start_failing_later_keeps_the_log_of_the_last_run(
    default_scenario_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A failure no check foresees (the server does not start) comes after the last run's log
    was kept: the failed start's own log (its stop alone) is no log to keep in its place."""
    require_nodesets()
    out = tmp_path / "out"
    log = _recorded_run(default_scenario_path, out)
    info = (out / "run.json").read_bytes()

    async def fails(self: object) -> None:
        raise ServiceError("the server failed to start")

    monkeypatch.setattr("opcua_server.TwinServer.start", fails)
    args = ["run", str(default_scenario_path), *run_args(tmp_path, out), "--insecure-dev"]
    args += ["--telemetry", "none"]
    for kept in (True, False):
        capsys.readouterr()
        assert main(args) == 2
        printed, err = capsys.readouterr()
        assert err == "error: the server failed to start\n"
        assert (f"kept the last run's event log as {out / PREVIOUS}" in printed) is kept
        assert (out / PREVIOUS).read_bytes() == log
        assert (out / "run.prev.json").read_bytes() == info
        assert (out / EVENTS).read_bytes().endswith(b'"command":"stop","args":{}}\n')
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("events")) == [
        EVENTS,
        PREVIOUS,
    ]


def test_a_log_of_a_failed_start_is_not_kept(tmp_path: Path) -> None:
    (tmp_path / EVENTS).write_bytes(STOP)
    (tmp_path / PREVIOUS).write_bytes(b"the last run\n")
    said: list[str] = []
    new_log(tmp_path, said.append).close()
    assert said == []
    assert (tmp_path / PREVIOUS).read_bytes() == b"the last run\n"
    assert (tmp_path / EVENTS).read_bytes() == b""


def test_a_kept_log_with_commands_is_never_replaced_by_another_run(
    default_scenario_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    logs = [_recorded_run(default_scenario_path, out, "MES-0")]
    said: list[str] = []
    for n in range(1, 4):  # three runs afresh, each accepting an order
        before = len(said)
        new_log(out, said.append).close()
        assert f"kept the last run's event log as {out / PREVIOUS}" in said[before:]
        logs.append(_recorded_run(default_scenario_path, out, f"MES-{n}"))
    assert (out / EVENTS).read_bytes() == logs[3]
    assert (out / PREVIOUS).read_bytes() == logs[2]
    assert (out / "events.prev.1.jsonl").read_bytes() == logs[0]
    assert (out / "events.prev.2.jsonl").read_bytes() == logs[1]
    assert orjson.loads((out / "run.prev.1.json").read_bytes())["sim_start"]
    assert said[-2:] == [
        f"kept the log before it, which holds commands, as {out / 'events.prev.2.jsonl'}",
        f"kept the last run's event log as {out / PREVIOUS}",
    ]


def test_a_kept_log_the_last_one_continues_is_replaced(tmp_path: Path) -> None:
    """A resumed run's log begins with the lines of the log it resumed (kept before it): the
    older one holds nothing the newer does not."""
    order = b'{"type":"command","t":5,"command":"submit_order","args":{"order":{}}}\n'
    (tmp_path / PREVIOUS).write_bytes(order + b'{"type":"job_rel')  # killed while writing
    (tmp_path / EVENTS).write_bytes(order + b'{"type":"job_released","t":9}\n' + STOP)
    resumed = (tmp_path / EVENTS).read_bytes()
    said: list[str] = []
    new_log(tmp_path, said.append).close()
    assert (tmp_path / PREVIOUS).read_bytes() == resumed
    assert sorted(p.name for p in tmp_path.iterdir()) == [EVENTS, PREVIOUS]
    assert said == [f"kept the last run's event log as {tmp_path / PREVIOUS}"]
