"""An accepted job order is never lost: commands are on disk when the call that gave them
returns, and a killed run's event log (a torn last line included) restores the twin."""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path
from typing import IO, Any

import orjson
import pytest

from tests.opcua.conftest import require_nodesets, run_args, start_cli
from twin.api import TwinAPI
from twin.cli import main
from twin.cli.rundir import (
    DURABLE,
    EVENTS,
    PREVIOUS,
    hold,
    new_log,
    previous_run,
    restore,
    run_info,
    write_info,
)
from twin.engine.cell import Engine
from twin.engine.replay import read_log
from twin.errors import ConfigError
from twin.events import EventLogWriter
from twin.model import load_scenario

ORDER = {"id": "MES-1", "due": "8h", "product": {"type": "printed_housing", "volume_cm3": 20}}


def test_a_command_is_on_disk_when_the_call_returns(
    default_scenario_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(fd)
        fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    path = tmp_path / "events.jsonl"
    with path.open("wb") as fh:
        engine = Engine(load_scenario(default_scenario_path))
        writer = EventLogWriter(fh, durable=frozenset({"command"}))
        engine.bus.subscribe(writer)
        engine.run(3600, stop_when_done=False)
        assert path.read_bytes() == b""  # other events are batched
        TwinAPI(engine).submit_order(ORDER)
        on_disk = path.read_bytes()  # another handle: what the operating system has
        assert synced == [fh.fileno()]
        *before, command = on_disk.splitlines()
        assert len(before) > 10  # the events before it came with it, in order
        assert orjson.loads(command)["args"]["order"]["id"] == "MES-1"
        assert on_disk.endswith(b"\n")
        engine.run(7200, stop_when_done=False)
        assert path.read_bytes() == on_disk  # batched again
        writer.flush()
    assert path.read_bytes().startswith(on_disk)
    assert len(path.read_bytes()) > len(on_disk)


def test_durable_types_must_exist(tmp_path: Path) -> None:
    with (tmp_path / "x").open("wb") as fh, pytest.raises(ValueError, match="'comand'"):
        EventLogWriter(fh, durable=frozenset({"comand"}))


def test_a_torn_last_line_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    complete = _lines(
        {"type": "job_released", "t": 5.0, "job": "SO-1001"},
        {"type": "command", "t": 7, "command": "pause", "args": {}},
        {"type": "job_released", "t": 9.5, "job": "SO-1002"},
    )
    path.write_bytes(complete + b'{"type":"command","t":12,"comm')  # killed while writing
    log = read_log(path, torn_tail=True)
    assert [(c.t, c.name, c.line) for c in log.commands] == [(7, "pause", 2)]
    assert (log.resume_at, log.size) == (9.5, len(complete))
    with pytest.raises(ConfigError, match=r"events\.jsonl: line 4: not a JSON event"):
        read_log(path)  # complete logs only: a torn line is an error
    # only the last line may be incomplete: any other bad line is an error
    path.write_bytes(b"{oops\n" + complete)
    with pytest.raises(ConfigError, match=r"events\.jsonl: line 1: not a JSON event"):
        read_log(path, torn_tail=True)


def _lines(*events: dict[str, object]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


END = 10 * 86400  # the killed run's simulated time, and the restored twin's end


def _killed_run(scenario: Path, out: Path) -> bytes:
    """Record a run in ``out`` as ``twin run`` does, then leave its event log as a kill
    does: commands on disk, the later events partly (batches, then a torn line). Returns
    every line the run published."""
    out.mkdir()
    everything = io.BytesIO()
    with (out / EVENTS).open("wb") as fh:
        write_info(out, run_info(scenario, load_scenario(scenario)), dt.datetime.now(dt.UTC))
        engine = Engine(load_scenario(scenario), signals=True)
        full = EventLogWriter(everything)
        engine.bus.subscribe(full)
        engine.bus.subscribe(EventLogWriter(fh, durable=DURABLE))
        api = TwinAPI(engine)
        engine.run(3600, stop_when_done=False)
        api.submit_order(ORDER)
        engine.run(5000, stop_when_done=False)
        api.inject_fault("cnc1", "breakdown", "30m")
        engine.run(END, stop_when_done=False)
        fh.write(b'{"type":"machine_st')
    full.flush()
    return everything.getvalue()


def test_restore_continues_a_killed_run(default_scenario_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    published = _killed_run(default_scenario_path, out)
    (out / PREVIOUS).write_bytes(b"an older backup\n")
    old = (out / EVENTS).read_bytes()
    complete = old[: old.rindex(b"\n") + 1]
    assert published.startswith(complete)
    assert len(complete) < len(published) - 100_000  # lost by the kill
    assert old[len(complete) :] == b'{"type":"machine_st'

    sc = load_scenario(default_scenario_path)
    recorded = orjson.loads((out / "run.json").read_bytes())
    assert (recorded["seed"], recorded["rule"]) == (sc.seed, sc.rule)  # for readers
    previous = previous_run(out, run_info(default_scenario_path, sc))
    assert previous is not None
    log = previous[0]
    assert [c.name for c in log.commands] == ["submit_order", "inject_fault"]
    engine, fh = restore(out, sc, log)
    assert engine.now == log.resume_at == orjson.loads(complete.splitlines()[-1])["t"]
    assert (out / PREVIOUS).read_bytes() == old
    assert (out / EVENTS).read_bytes().startswith(complete)
    assert sorted(p.name for p in out.iterdir()) == [EVENTS, PREVIOUS, "run.json"]
    # the restored twin goes on as the live one did: the same lines, to the byte
    writer = EventLogWriter(fh, durable=DURABLE)
    engine.bus.subscribe(writer)
    engine.run(END, stop_when_done=False)
    writer.flush()
    fh.close()
    assert (out / EVENTS).read_bytes() == published


def test_a_replay_that_differs_from_the_log_is_refused(
    default_scenario_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _killed_run(default_scenario_path, out)
    lines = (out / EVENTS).read_bytes().split(b"\n")
    lines[4] = lines[4].replace(b'"t":', b'"t":1')
    (out / EVENTS).write_bytes(b"\n".join(lines))
    sc = load_scenario(default_scenario_path)
    previous = previous_run(out, run_info(default_scenario_path, sc))
    assert previous is not None
    with pytest.raises(ConfigError, match=r"events\.jsonl: line 5: the replay of the recorded"):
        restore(out, sc, previous[0])
    assert (out / EVENTS).read_bytes() == b"\n".join(lines)  # untouched
    assert sorted(p.name for p in out.iterdir()) == [EVENTS, "run.json"]


def test_resume_refuses_another_scenario_or_no_record(
    default_scenario_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_nodesets()  # twin run checks them before the run directory
    scenario, out = tmp_path / "cell.toml", tmp_path / "out"
    scenario.write_bytes(default_scenario_path.read_bytes())
    _killed_run(scenario, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    scenario.write_bytes(scenario.read_bytes().replace(b"max_wip = ", b"max_wip = 1"))
    args = ["run", str(scenario), "--resume", "--out", str(out), "--telemetry", "none"]
    args += ["--port", "0"]  # any free port: the check of the port comes first
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out / 'run.json'}: scenario_sha256: the run was recorded ")
    assert f"the contents of {scenario} (sha256 " in err
    assert err.endswith("resume with the same scenario, or start afresh without --resume\n")
    assert len(err.splitlines()) == 1
    (out / "run.json").unlink()
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"error: {out / 'run.json'}: missing: no record of what made {out / EVENTS}; "
        "start afresh without --resume\n"
    )
    del before["run.json"]
    before[".lock"] = b""  # the run directory was held, and let go
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_one_twin_per_run_directory(
    default_scenario_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_nodesets()
    out = tmp_path / "out"
    _killed_run(default_scenario_path, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with hold(out):  # as a twin run serving from out holds it
        for extra in ([], ["--resume"]):
            args = ["run", str(default_scenario_path), "--out", str(out), "--telemetry", "none"]
            args += ["--port", "0"]
            assert main([*args, *extra]) == 2
            assert capsys.readouterr().err == (
                f"error: command line: --out: {out} is in use by another twin run; "
                "stop it or use another --out directory\n"
            )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before | {".lock": b""}
    with hold(out):  # free again once the holder is gone
        pass
    fresh = tmp_path / "new"
    with hold(fresh):
        assert (fresh / ".lock").exists()
    assert not fresh.exists()  # made here and left empty: removed again
    (tmp_path / "a-file").write_text("")
    for bad, why in [
        ("a-file/run", f"{tmp_path}/a-file is not a directory"),
        ("/proc/x", "cannot create /proc/x: /proc does not allow new entries"),
    ]:
        with (
            pytest.raises(ConfigError, match=r"^command line: --out: ") as caught,
            hold(tmp_path / bad),
        ):
            pass
        assert why in str(caught.value)


def test_a_new_log_keeps_the_one_before(tmp_path: Path) -> None:
    (tmp_path / EVENTS).write_bytes(b"the last run\n")
    (tmp_path / PREVIOUS).write_bytes(b"the run before it\n")
    said: list[str] = []
    with new_log(tmp_path, said.append) as fh:
        fh.write(b"this run\n")
    assert said == [f"kept the last run's event log as {tmp_path / PREVIOUS}"]
    assert (tmp_path / PREVIOUS).read_bytes() == b"the last run\n"
    assert (tmp_path / EVENTS).read_bytes() == b"this run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [EVENTS, PREVIOUS]
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    new_log(fresh, said.append).close()
    assert said == [f"kept the last run's event log as {tmp_path / PREVIOUS}"]  # nothing more
    assert [p.name for p in fresh.iterdir()] == [EVENTS]


async def test_a_run_without_resume_keeps_the_last_log(
    default_scenario_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _killed_run(default_scenario_path, out)
    old = (out / EVENTS).read_bytes()
    args = ["--insecure-dev", *run_args(tmp_path, out), "--telemetry", "none"]
    twin = await start_cli(str(default_scenario_path), *args)
    try:
        assert f"kept the last run's event log as {out / PREVIOUS}\n" in twin.banner
    finally:
        await twin.stop()
    assert (out / PREVIOUS).read_bytes() == old
    new = (out / EVENTS).read_bytes()
    assert new != old
    assert orjson.loads(new.splitlines()[-1])["command"] == "stop"


def test_a_refused_adapters_file_after_a_restore_closes_the_log(
    default_scenario_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    require_nodesets()
    out = tmp_path / "out"
    _killed_run(default_scenario_path, out)
    opened: list[IO[bytes]] = []

    def spy(*args: Any, **kwargs: Any) -> tuple[Engine, IO[bytes]]:
        engine, fh = restore(*args, **kwargs)
        opened.append(fh)
        return engine, fh

    monkeypatch.setattr("twin.cli.run.restore", spy)
    plcs = tmp_path / "plcs.toml"
    plcs.write_text(
        '[[adapter]]\nname = "plc"\nkind = "modbus"\nhost = "127.0.0.1"\nport = 5020\n'
        '[[adapter.write]]\nsignal = "cnc1.nope"\ntable = "holding"\naddress = 0\n'
    )
    args = ["run", str(default_scenario_path), "--resume", *run_args(tmp_path, out)]
    args += ["--telemetry", "none", "--adapters", str(plcs), "--insecure-dev"]
    assert main(args) == 2
    assert "adapter[0].write[0].signal: unknown signal 'cnc1.nope'" in capsys.readouterr().err
    assert len(opened) == 1
    assert opened[0].closed
