"""A run's OPC UA history is its own: ``twin run`` keeps it in its run directory by default
(``OUT/history.sqlite``); a new run starts a new one, the last run's kept as
``history.prev.sqlite``, and ``--resume`` goes on with it. (A history shared by every run
served a new twin's clients the values and events of the runs before, some stamped days
ahead by a fast run.)"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import SCENARIOS
from tests.opcua.conftest import run_args, start_cli
from twin.cli.rundir import new_history
from twin.errors import ConfigError

SCENARIO = str(SCENARIOS / "default.toml")


def _mark(db: Path, name: str) -> None:
    """Mark a database with a table of its own, to tell it apart later."""
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.execute(f"CREATE TABLE {name} (x)")
        con.commit()


def _tables(db: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(db)) as con:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _marks(db: Path) -> set[str]:
    return {t for t in _tables(db) if t.startswith("mark_")}


async def _run(*args: str) -> str:
    """A ``twin run`` of ``args`` started and stopped with Ctrl-C; its banner."""
    twin = await start_cli(SCENARIO, *args)
    try:
        await twin.stop()
    finally:
        await twin.kill()
    return twin.banner


async def test_a_new_run_starts_a_new_history_and_resume_keeps_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    options = run_args(tmp_path, out)
    at = options.index("--history")
    del options[at : at + 2]  # the default: in the run directory
    args = ["--speed", "600", "--insecure-dev", *options, "--telemetry", "none"]
    db, kept = out / "history.sqlite", out / "history.prev.sqlite"

    first = await _run(*args)
    assert "kept the last run's OPC UA history" not in first
    assert db.is_file()
    assert not kept.exists()
    own = _tables(db)
    assert own  # the server's tables
    _mark(db, "mark_first")

    second = await _run(*args)
    assert f"kept the last run's OPC UA history as {kept}" in second
    assert _marks(kept) == {"mark_first"}
    assert _tables(db) == own  # a new history, nothing of the run before
    _mark(db, "mark_second")

    third = await _run("--resume", *args)
    assert "kept the last run's OPC UA history" not in third
    assert _marks(db) == {"mark_second"}  # the resumed run's own, gone on with
    assert _marks(kept) == {"mark_first"}


def test_the_last_history_and_its_wal_replace_an_older_one(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    for name, text in (("h.sqlite", "new"), ("h.sqlite-wal", "new wal")):
        (tmp_path / name).write_text(text)
    for name in ("h.prev.sqlite", "h.prev.sqlite-wal", "h.prev.sqlite-shm"):
        (tmp_path / name).write_text("old")
    said: list[str] = []
    new_history(db, tmp_path, said.append)
    assert said == [f"kept the last run's OPC UA history as {tmp_path / 'h.prev.sqlite'}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.prev.sqlite", "h.prev.sqlite-wal"]
    assert (tmp_path / "h.prev.sqlite").read_text() == "new"
    assert (tmp_path / "h.prev.sqlite-wal").read_text() == "new wal"  # no stale -shm beside it
    new_history(db, tmp_path, said.append)  # nothing to keep: nothing said, nothing moved
    assert len(said) == 1
    assert (tmp_path / "h.prev.sqlite").read_text() == "new"


def test_a_history_that_cannot_be_kept_names_the_option(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    db.write_text("x")
    (tmp_path / "h.prev.sqlite").mkdir()  # in the way: a directory
    (tmp_path / "h.prev.sqlite" / "f").write_text("y")
    with pytest.raises(ConfigError) as err:
        new_history(db, tmp_path, print)
    assert str(err.value).startswith(f"command line: --history: cannot keep {db} as ")
    assert db.read_text() == "x"  # left where it was


def test_a_failed_starts_history_never_replaces_the_last_runs(tmp_path: Path) -> None:
    """A start that failed left only its ``stop`` in the log (``new_log`` replaces such a
    log) and a new, empty history: the next start deletes that history, and the last real
    run's, kept before the failed start, stays kept. A database outside the run directory
    (``--history``) is kept as ever, never deleted."""
    out = tmp_path / "out"
    out.mkdir()
    db, kept = out / "history.sqlite", out / "history.prev.sqlite"
    kept.write_text("the last real run's")
    db.write_text("the failed start's")
    (out / "events.jsonl").write_text('{"t":0,"type":"command","command":"stop","args":{}}\n')
    said: list[str] = []
    new_history(db, out, said.append)
    assert said == []
    assert not db.exists()
    assert kept.read_text() == "the last real run's"
    elsewhere = tmp_path / "h.sqlite"
    elsewhere.write_text("a database of the user's")
    new_history(elsewhere, out, said.append)
    assert (tmp_path / "h.prev.sqlite").read_text() == "a database of the user's"
    # a log with more than the stop: a real run, its history kept
    (out / "events.jsonl").write_text('{"t":0,"type":"machine_state","machine":"m"}\n')
    db.write_text("a real run's")
    new_history(db, out, said.append)
    assert kept.read_text() == "a real run's"


def test_the_history_of_earlier_versions_is_named_until_given_or_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from twin.cli.run import _old_history

    monkeypatch.chdir(tmp_path)
    assert _old_history(None) is None  # none there
    old = tmp_path / "var" / "opcua" / "history.sqlite"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"SQLite format 3\x00")
    note = _old_history(None)
    assert note is not None
    assert note.startswith("note: var/opcua/history.sqlite, the OPC UA history of earlier")
    assert note.endswith("give --history var/opcua/history.sqlite to go on with it, or delete it")
    assert _old_history(Path("var/opcua/history.sqlite")) is None  # given: it is read


def test_a_history_another_twin_holds_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two twins on one --history would mix their runs, and the second's start would move
    the first's database away under it: the second is refused in one line, nothing moved."""
    from tests.opcua.conftest import require_nodesets
    from twin.cli import main
    from twin.cli.rundir import hold_history

    require_nodesets()
    db = tmp_path / "shared.sqlite"
    db.write_bytes(b"SQLite format 3\x00")
    args = ["run", "--insecure-dev", "--telemetry", "none", *run_args(tmp_path, history=db)]
    with hold_history(db):
        capsys.readouterr()
        assert main(args) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: command line: --history: {db} is in use by another twin run; give this one"
        " another --history, or none (its run directory's)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("shared")) == [
        "shared.sqlite",
        "shared.sqlite.lock",
    ]
    assert db.read_bytes() == b"SQLite format 3\x00"
