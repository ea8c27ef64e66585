"""The run directory of ``twin run``: what it keeps so that a killed twin can be restored.

``run.json`` names the scenario (its path and the SHA-256 of its bytes), the seed, the rule
and ``sim_start``, the wall-clock timestamp of simulated time 0. ``events.jsonl`` is written
with ``DURABLE``: every accepted command is on disk before its caller hears so. ``--resume``
checks ``run.json``, replays the log's commands on a fresh engine up to its last event and
continues from there (``restore``); the old log is kept as ``events.prev.jsonl``, as it is
when a run starts afresh in the directory (``new_log``; its ``run.json`` then as
``run.prev.json``). No log holding a command is lost that way (see ``new_log``). While the twin
runs, ``LogFlusher`` writes the other events every ``FLUSH_S`` wall seconds, so a killed twin
resumes close to where it was. A run's clock ends at ``END`` (``axis_end``): a log that
reached it is not resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from twin.aio import cancel_and_wait
from twin.clock import Clock
from twin.engine.cell import Engine
from twin.engine.replay import RecordedLog, read_log, replay
from twin.errors import ConfigError
from twin.events import Event, EventBus, EventLogWriter
from twin.files import directory_problem, fsync_dir, hold_lock, open_private, write_durably
from twin.model.scenario import Scenario
from twin.telemetry.schema import LAST_TIMESTAMP

__all__ = [
    "DEFAULT_RUN_DIRS",
    "DURABLE",
    "END",
    "END_WHY",
    "EVENTS",
    "FLUSH_S",
    "PREVIOUS",
    "LogFlusher",
    "axis_end",
    "hold",
    "hold_history",
    "latest_run_dir",
    "new_history",
    "new_log",
    "previous_run",
    "restore",
    "run_info",
    "write_info",
]

DURABLE = frozenset({"command"})
#: the run directories ``twin run`` and ``twin simulate`` write by default (their --out)
DEFAULT_RUN_DIRS = {"twin run": Path("runs/live"), "twin simulate": Path("runs/latest")}
EVENTS, PREVIOUS, INFO, LOCK = "events.jsonl", "events.prev.jsonl", "run.json", ".lock"
_PREVIOUS_INFO = "run.prev.json"
_PARTIAL = "events.resume.jsonl"
_FRESH = "start afresh without --resume"
#: how often (wall seconds) a running twin writes the events it buffers: a kill loses the
#: last ``FLUSH_S`` x speed simulated seconds at most (commands: none, they are ``DURABLE``)
FLUSH_S = 1.0
#: where the clock of ``twin run`` ends: its time axis is the wall clock's (``sim_start``
#: on), and its telemetry stamps it in int64 nanoseconds (at speed 1e6: two hours from 2026)
END = LAST_TIMESTAMP
END_WHY = "the last time telemetry timestamps, nanoseconds since 1970 in 64 bits, can hold"


@contextlib.contextmanager
def hold(out: Path) -> Iterator[None]:
    """Hold the run directory ``out`` (created if missing) while the block runs: an exclusive
    lock on ``out/.lock``. A directory this made that holds nothing else afterwards (a start
    that failed, e.g. on a taken port) is removed again.

    Raises ConfigError when another ``twin run`` holds it: two twins writing one event log
    would corrupt it.
    """
    problem = directory_problem(out)
    if problem is not None:
        raise ConfigError("command line", "--out", problem)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True, mode=0o700)  # the owner's alone, as its files
    lock = out / LOCK
    held: int | None = None
    try:
        try:
            held = hold_lock(lock, wait=False, create=True)  # made 0600: the owner's alone
        except BlockingIOError:
            raise ConfigError(
                "command line",
                "--out",
                f"{out} is in use by another twin run; stop it or use another --out directory",
            ) from None
        yield
    finally:
        if created and [p.name for p in out.iterdir()] == [LOCK]:
            lock.unlink()
            out.rmdir()
        if held is not None:
            os.close(held)


def run_info(path: Path, scenario: Scenario) -> dict[str, Any]:
    """What identifies a run: the scenario file and the SHA-256 of its bytes; its seed and
    rule, for readers (the scenario sets them: the same bytes, the same seed and rule)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "scenario": str(path),
        "scenario_sha256": digest,
        "seed": scenario.seed,
        "rule": scenario.rule,
    }


def write_info(out: Path, info: dict[str, Any], sim_start: datetime) -> None:
    """Write ``out/run.json`` (replaced at once, on disk when this returns)."""
    text = json.dumps({**info, "sim_start": sim_start.isoformat()}, indent=1) + "\n"
    write_durably(out / INFO, text.encode(), mode=0o600)


def previous_run(out: Path, info: dict[str, Any]) -> tuple[RecordedLog, datetime] | None:
    """The event log recorded in ``out`` (an incomplete last line left out) and the run's
    ``sim_start``; None when there is no event log.

    Raises ConfigError when ``run.json`` is missing or unreadable, or names another scenario
    content than ``info`` (its seed and rule come with it: ``twin run`` has no options for
    them), when a line of the log is bad (naming it), and when the log reached ``END``.
    """
    path = out / INFO
    if not (out / EVENTS).exists():
        return None
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        sim_start = datetime.fromisoformat(recorded["sim_start"])
    except FileNotFoundError as exc:
        raise ConfigError(
            str(path), None, f"missing: no record of what made {out / EVENTS}; {_FRESH}"
        ) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(str(path), None, f"unreadable ({exc}); {_FRESH}") from exc
    key = "scenario_sha256"
    if recorded.get(key) != info[key]:
        was = f"the contents of {recorded.get('scenario')} (sha256 {recorded.get(key)})"
        now = f"those of {info['scenario']} (sha256 {info[key]})"
        reason = f"the run was recorded with {was}, not {now}; resume with the same scenario"
        raise ConfigError(str(path), key, f"{reason}, or {_FRESH}")
    log = read_log(out / EVENTS, torn_tail=True)
    if log.resume_at >= axis_end(sim_start):
        raise ConfigError(
            str(out / EVENTS),
            None,
            f"the run reached {END:%Y-%m-%dT%H:%M:%SZ} (simulated time {log.resume_at:.1f} s),"
            f" where the clock of twin run ends ({END_WHY}); {_FRESH}",
        )
    return log, sim_start


def axis_end(sim_start: datetime) -> float:
    """The simulated time at which a run whose time 0 is at ``sim_start`` reaches ``END``."""
    return (END - sim_start).total_seconds()


def restore(
    out: Path,
    scenario: Scenario,
    log: RecordedLog,
    say: Callable[[str], None] = print,
    follow: Iterable[Callable[[Event], None]] = (),
) -> tuple[Engine, IO[bytes]]:
    """A fresh engine with the commands of ``log`` applied, run through ``log.resume_at``,
    and the new event log open for appending. ``follow``: subscribers of the engine's events
    from time 0 on (the run's KPIs), kept subscribed.

    The replay is written to a new file, checked to begin with the old log's lines and synced;
    then the old log becomes ``events.prev.jsonl`` and the new one replaces ``events.jsonl`` in
    one step, so ``events.jsonl`` holds every accepted command at any moment (an older kept
    log is kept as ``new_log`` says, ``say`` telling where). Raises ConfigError naming the line
    when a command does not apply or the replay differs.
    """
    events, partial = out / EVENTS, out / _PARTIAL
    fh = open_private(partial, "w+b")
    try:
        bus = EventBus()
        writer = EventLogWriter(fh)
        unsubscribe = bus.subscribe(writer)
        for callback in follow:
            bus.subscribe(callback)
        engine = replay(Engine(scenario, bus=bus, signals=True), log.commands, log.resume_at)
        unsubscribe()
        writer.sync()
        _check_prefix(events, partial, log.size)
    except BaseException:
        fh.close()
        partial.unlink()
        raise
    _replace_log(out, partial, say, new_run=False)
    return engine, fh


def new_log(out: Path, say: Callable[[str], None] = print) -> IO[bytes]:
    """A new, empty event log ``out/events.jsonl`` open for writing; ``say`` tells where the
    one there was kept, if it was.

    The last run's log is kept as ``events.prev.jsonl`` (as ``restore`` keeps it), its
    ``run.json`` as ``run.prev.json``, unless it holds no event but the ``stop`` of a start
    that failed: that one is replaced, and ``events.prev.jsonl`` stays as it is. A kept log
    holding a command other than ``stop`` (an accepted order, a fault, ...) is never replaced
    by another run's log: it moves to ``events.prev.N.jsonl`` (and ``run.prev.N.json``), N the
    first free number; one the new kept log continues (a resumed run's) is replaced.
    """
    events, partial = out / EVENTS, out / _PARTIAL
    if not events.exists() or _stop_only(events):
        return open_private(events, "wb")
    fh = open_private(partial, "wb")
    try:
        _replace_log(out, partial, say, new_run=True)
    except BaseException:
        fh.close()
        partial.unlink(missing_ok=True)
        raise
    say(f"kept the last run's event log as {out / PREVIOUS}")
    return fh


@contextlib.contextmanager
def hold_history(db: Path) -> Iterator[None]:
    """Hold the history database ``db`` while the block runs: an exclusive lock on
    ``<db>.lock`` (made 0600). For one outside the run directory (``--history``): one inside
    it is held with the directory. Raises ConfigError naming ``--history`` when another
    ``twin run`` holds it: two twins writing one history would mix their runs, and a new
    run's ``new_history`` would move the other's database away under it."""
    lock = db.with_name(f"{db.name}.lock")
    try:
        fd = hold_lock(lock, wait=False, create=True)
    except BlockingIOError:
        reason = (
            f"{db} is in use by another twin run; give this one another --history, or none"
            " (its run directory's)"
        )
        raise ConfigError("command line", "--history", reason) from None
    except OSError as exc:
        reason = f"cannot lock {lock}: {exc.strerror or exc}"
        raise ConfigError("command line", "--history", reason) from exc
    try:
        yield
    finally:
        os.close(fd)


#: what SQLite keeps beside a database file (WAL mode: the log and its index; a rollback
#: journal otherwise): moved with it
_SQLITE_SIDES = ("", "-wal", "-shm", "-journal")


def new_history(db: Path, out: Path, say: Callable[[str], None] = print) -> None:
    """A new run in ``out`` starts an empty OPC UA history: the history database ``db`` the
    last run left (a run's history holds its own nodes' values and events, on its own time
    axis) is kept as ``<stem>.prev<suffix>`` (``history.prev.sqlite``) with its WAL files,
    replacing an older one; ``say`` tells where. As ``new_log`` replaces the log of a start
    that failed (its ``events.jsonl`` holds only the ``stop``), that start's history in
    ``out`` is deleted, not kept: the last real run's stays the one kept (a database outside
    ``out``, ``--history``, is never deleted). A resumed run keeps its history: not called
    then."""
    if not db.exists():
        return
    kept = db.with_name(f"{db.stem}.prev{db.suffix}")
    events = out / EVENTS
    ours = db.absolute().parent == out.absolute()
    failed = ours and events.exists() and _stop_only(events)
    try:
        for side in _SQLITE_SIDES:
            Path(f"{db if failed else kept}{side}").unlink(missing_ok=True)
        if not failed:
            for side in _SQLITE_SIDES:
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{db}{side}").rename(f"{kept}{side}")
        fsync_dir(db.parent)
    except OSError as exc:
        what = f"delete {db}" if failed else f"keep {db} as {kept}"
        reason = f"cannot {what} for a new run: {exc.strerror or exc}"
        raise ConfigError("command line", "--history", reason) from exc
    if not failed:
        say(f"kept the last run's OPC UA history as {kept}")


def _replace_log(out: Path, new: Path, say: Callable[[str], None], *, new_run: bool) -> None:
    """``new`` becomes ``out/events.jsonl`` in one step, the old log ``events.prev.jsonl``,
    replacing an older one unless ``_set_aside`` must keep it: ``events.jsonl`` holds the old
    log's commands until then. For a ``new_run`` (a ``run.json`` of its own to come), the old
    ``run.json`` is kept as ``run.prev.json``; a resumed run's is the old log's too."""
    events, previous, info = out / EVENTS, out / PREVIOUS, out / _PREVIOUS_INFO
    _set_aside(out, say)
    previous.unlink(missing_ok=True)
    info.unlink(missing_ok=True)
    _keep(events, previous)
    if new_run and (out / INFO).exists():
        _keep(out / INFO, info)
    os.replace(new, events)
    fsync_dir(out)


def _keep(path: Path, as_path: Path) -> None:
    try:
        os.link(path, as_path)
    except OSError:  # a file system without hard links
        shutil.copyfile(path, as_path)


def _set_aside(out: Path, say: Callable[[str], None]) -> None:
    """Move ``events.prev.jsonl`` (and ``run.prev.json``) to the first free
    ``events.prev.N.jsonl`` when ``events.jsonl`` is about to replace it and it holds commands
    ``events.jsonl`` does not: those of another run, never to be lost."""
    previous = out / PREVIOUS
    if not previous.exists() or not _commands_in(previous) or _continued(previous, out / EVENTS):
        return
    n = next(n for n in itertools.count(1) if not (out / f"events.prev.{n}.jsonl").exists())
    os.replace(previous, out / f"events.prev.{n}.jsonl")
    if (out / _PREVIOUS_INFO).exists():  # its run's record, when it was not resumed since
        os.replace(out / _PREVIOUS_INFO, out / f"run.prev.{n}.json")
    say(f"kept the log before it, which holds commands, as {out / f'events.prev.{n}.jsonl'}")


def _events(path: Path, mentioning: bytes = b"") -> Iterator[dict[str, Any] | None]:
    """The events of the log ``path`` (those whose line holds ``mentioning``: parsing is the
    cost), None for a line that is no event (a torn last line)."""
    with path.open("rb") as fh:
        for raw in fh:
            if mentioning in raw and raw.strip():
                try:
                    event = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    event = None
                yield event if isinstance(event, dict) else None


def _is_stop(event: dict[str, Any] | None) -> bool:
    return event is not None and event.get("type") == "command" and event.get("command") == "stop"


def _stop_only(path: Path) -> bool:
    """Whether the log ``path`` holds no event but ``stop`` commands: a start that failed."""
    return all(_is_stop(event) for event in _events(path))


def _commands_in(path: Path) -> bool:
    """Whether the log ``path`` holds a command other than ``stop``: what the scenario alone
    does not make again (lines that are no event count for nothing)."""
    return any(
        event is not None and event.get("type") == "command" and not _is_stop(event)
        for event in _events(path, mentioning=b"command")
    )


def _continued(old: Path, new: Path) -> bool:
    """Whether ``new`` begins with every complete line of ``old``: it is the log of a run
    resumed from ``old`` (only a torn last line of ``old`` may be missing)."""
    with old.open("rb") as a, new.open("rb") as b:
        while chunk := a.read(1 << 20):
            other = b.read(len(chunk))
            if chunk != other:
                cut = chunk.rfind(b"\n") + 1  # only what follows the last newline may differ
                return chunk[:cut] == other[:cut] and b"\n" not in chunk[cut:] and not a.read(1)
    return True


def _check_prefix(recorded: Path, replayed: Path, size: int) -> None:
    done = 0
    with recorded.open("rb") as old, replayed.open("rb") as new:
        for n, line in enumerate(old, 1):
            done += len(line)
            if done > size:  # the incomplete last line, left out
                return
            if new.readline() != line:
                reason = "the replay of the recorded commands differs from this line"
                raise ConfigError(
                    str(recorded), f"line {n}", f"{reason} (another version of the twin?); {_FRESH}"
                )


class LogFlusher:
    """Keeps the event log of a real-time run current: every ``interval`` wall seconds (on
    ``clock``) it writes what ``writer`` buffers to its ``stream`` and has the operating system
    put it on disk, so a killed twin (a power cut too) resumes at most about that far back.

    The write is in the event loop (it owns the buffer; a few hundred kilobytes at most: the
    writer writes every 4,096 lines itself); the fsync, as slow as the disk, in a worker thread
    while the loop serves on, and only when the file grew. ``twin simulate`` has none: its
    batches are a speed feature. ``start`` the task; ``stop`` cancels it and waits for a
    fsync under way, so the log is closed after it. An error writing ends the task with it.
    """

    def __init__(
        self, writer: EventLogWriter, stream: IO[bytes], clock: Clock, interval: float = FLUSH_S
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval: must be > 0, got {interval}")
        self._writer = writer
        self._fd = stream.fileno()
        self._clock = clock
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._syncing: asyncio.Future[None] | None = None

    def start(self) -> asyncio.Task[None]:
        """Start flushing (in the running event loop); returns the task, to watch for errors."""
        self._task = asyncio.create_task(self._run())
        return self._task

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        if self._syncing is not None:
            # an error of it is the task's, raised there; or, if the task was cancelled
            # meanwhile, met again by the sync of the run's stop command
            with contextlib.suppress(OSError):
                await self._syncing

    async def _run(self) -> None:
        synced = -1
        while True:
            await self._clock.sleep(self._interval)
            self._writer.flush()
            size = os.fstat(self._fd).st_size
            if size != synced:
                self._syncing = asyncio.ensure_future(asyncio.to_thread(os.fsync, self._fd))
                # cancelled (stop), the fsync goes on in its thread: stop waits for it
                await asyncio.shield(self._syncing)
                synced = size


def latest_run_dir(argument: str, marks: Callable[[Path], Iterable[Path]], missing: str) -> Path:
    """Of the default run directories (``DEFAULT_RUN_DIRS``), the one a command given no
    ``argument`` works on: the one with more than one of its ``marks(run_dir)`` first (e.g.
    its telemetry beside the directory itself), then the one whose marks changed last; a
    directory none of whose marks exists does not count. Raises ConfigError ending in
    ``missing`` ("exists", "has a run") when none counts."""
    found = []
    for run_dir in DEFAULT_RUN_DIRS.values():
        times = [p.stat().st_mtime for p in marks(run_dir) if p.exists()]
        if times:
            found.append((len(times) > 1, max(times), run_dir))
    if not found:
        named = ", ".join(f"{d} ({command})" for command, d in DEFAULT_RUN_DIRS.items())
        raise ConfigError("command line", argument, f"not given, and none of {named} {missing}")
    return max(found)[2]
