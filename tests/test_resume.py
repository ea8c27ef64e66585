"""An accepted job order is never lost: commands are on disk when the call that gave them
returns, and a killed run's event log (a torn last line included) restores the twin."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from twin.api import TwinAPI
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
    assert (log.last_time, log.resume_at, log.size) == (9.5, 9.5, len(complete))
    with pytest.raises(ConfigError, match=r"events\.jsonl: line 4: not a JSON event"):
        read_log(path)  # complete logs only: a torn line is an error
    # only the last line may be incomplete: any other bad line is an error
    path.write_bytes(b"{oops\n" + complete)
    with pytest.raises(ConfigError, match=r"events\.jsonl: line 1: not a JSON event"):
        read_log(path, torn_tail=True)


def _lines(*events: dict[str, object]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)
