"""``twin run`` that cannot listen, or whose server cannot start on the files it was given,
says so in one line naming the option (exit 2), never with a traceback (a key file that is
a directory: tests/test_run_first_user.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.opcua.conftest import require_nodesets, run_args, start_cli
from twin.cli import main

UNASSIGNED = "192.0.2.1"  # TEST-NET-1 (RFC 5737): no interface of this machine has it


def _twin_run(tmp_path: Path, **options: Path | str) -> list[str]:
    return ["run", "--insecure-dev", "--telemetry", "none", *run_args(tmp_path, None, **options)]


def test_an_address_of_no_interface_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As with a given port, so with any free one (--port 0, which the twin looks for)."""
    require_nodesets()
    for port, reason in [
        ("4999", f"cannot listen on opc.tcp://{UNASSIGNED}:4999/cell-twin: "),
        ("0", f"cannot listen on {UNASSIGNED} (--host): "),
    ]:
        assert main(_twin_run(tmp_path, host=UNASSIGNED, port=port)) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {reason}"), err
        assert len(err.splitlines()) == 1
        assert not (tmp_path / "out").exists()


async def _started_and_stopped(args: list[str]) -> None:
    twin = await start_cli(*args)
    try:
        await twin.stop()
    finally:
        await twin.kill()


def test_a_damaged_history_database_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A resumed run goes on with its history, so one SQLite cannot open stops it (a new run
    sets the last run's aside and starts a new one: tests/opcua/test_run_history.py)."""
    require_nodesets()
    history = tmp_path / "damaged.sqlite"
    args = _twin_run(tmp_path, history=history)
    asyncio.run(_started_and_stopped(args[1:]))  # a run to resume
    for side in ("-wal", "-shm"):
        Path(f"{history}{side}").unlink(missing_ok=True)
    history.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    capsys.readouterr()
    assert main([*args, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: command line: --history: {history}: "), err
    assert len(err.splitlines()) == 1
