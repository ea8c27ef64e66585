"""Durable file writes: after a crash a file is either wholly present or absent; a set of
outputs written aside and moved into place only when it is complete (``staged``)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import os
import shutil
import tempfile
import uuid
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "directory_problem",
    "fsync_dir",
    "hold_lock",
    "open_private",
    "staged",
    "write_durably",
]


def write_durably(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, rename it to ``path`` and
    fsync the directory: on disk when this returns, never half written.

    The temporary file is new and of a name of its own (never a leftover, nor a link planted
    there; two writers at once do not write into one file), created with ``mode`` less the
    umask (0o600: the owner's alone, whatever existed)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def open_private(path: Path, mode: str = "wb", *, tighten: bool = False) -> IO[bytes]:
    """``path`` opened in binary ``mode`` ("wb", "w+b" or "ab"), created as the owner's alone
    (0o600: an event log holds the orders and who sent them); an existing file keeps its
    mode unless ``tighten`` (one an earlier version left readable to others is made 0o600
    too, when it is this user's)."""
    flags = {
        "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
        "w+b": os.O_RDWR | os.O_CREAT | os.O_TRUNC,
        "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    }[mode]
    fd = os.open(path, flags, 0o600)
    if tighten:
        with contextlib.suppress(OSError):  # another user's file: left as it is
            os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode)


def fsync_dir(path: Path) -> None:
    """Make the renames and new files in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def directory_problem(out: Path) -> str | None:
    """Why the directory ``out`` could not be made or filled (``staged``, a run directory),
    or None: ``out`` or the nearest existing directory above it is a file, or one of them
    refuses a new entry (read-only file system, no permission, /proc): the one above for
    ``out`` or a stage beside it, ``out`` itself, when it exists, for what goes in it.
    Checked before a run, not after it."""
    if out.exists() and not out.is_dir():
        return f"{out} is not a directory"
    base = next(p for p in out.absolute().parents if p.exists())
    if not base.is_dir():
        return f"{base} is not a directory"
    for where in (base, out) if out.exists() else (base,):
        try:
            Path(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=where)).rmdir()
        except OSError as exc:
            what = f"cannot create {out}" if where is base else f"cannot write in {out}"
            if exc.errno == errno.ENOENT and where.is_dir():
                # procfs answers a new entry with ENOENT: "No such file or directory" of a
                # directory that is there would send the user looking for the wrong fault
                return f"{what}: {where} does not allow new entries"
            if where is base:
                what += f": {where}"
            return f"{what}: {exc.strerror or exc}"
    return None


@contextlib.contextmanager
def staged(
    out: Path,
    products: Collection[str],
    carry: Collection[str] = (),
    *,
    keep_interrupted: bool = True,
) -> Iterator[Path]:
    """A new hidden directory beside ``out`` (``.<name>.partial-<random>``) for the block to
    write the outputs ``products`` (names of files or directories) into; they replace those of
    ``out`` only when the block is done.

    The stage is its owner's alone (0700), and so is ``out`` when the stage becomes it (a
    run's event log and telemetry say what the cell did); an ``out`` that exists keeps its
    mode.

    When the block ends normally or by KeyboardInterrupt (an interrupted run keeps what it
    wrote; not with ``keep_interrupted=False``), every product of the stage replaces its
    namesake in ``out`` (created if missing) and a product the stage lacks is removed from
    ``out``: it belonged to an older run. Files of ``out`` that are not products stay. When
    the block raises anything else, the stage is removed: ``out`` is untouched, and not
    created when it did not exist.

    ``carry`` names directories among the products that the block continues rather than
    replaces (a telemetry spool): they are copied into the stage first, as hard links.

    A stage left by a killed run (kill -9: nothing could move or remove it) is removed by
    the next run on ``out``; a stage of a run still going is held by it (flock) and stays.
    """
    base = next(p for p in out.absolute().parents if p.is_dir())
    key = uuid.uuid4().hex[:12]
    stage, fresh = base / f"{_stage_prefix(out)}{key}", base / f".{out.name}.new-{key}"
    fresh.mkdir(mode=0o700)  # the owner's alone, as is ``out`` when the stage becomes it
    held = hold_lock(fresh)  # held until the process ends: a stage nobody holds is left over
    fresh.replace(stage)  # appears held, never free for another run to take as left over
    try:
        _remove_left_over(base, out)
        for name in carry:
            if (out / name).is_dir():
                _link_tree(out / name, stage / name)
        yield stage
    except Exception:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    except BaseException:
        if keep_interrupted:
            _commit(stage, out, products)
        else:
            shutil.rmtree(stage, ignore_errors=True)
        raise
    else:
        _commit(stage, out, products)
    finally:
        os.close(held)


def _stage_prefix(out: Path) -> str:
    return f".{out.name}.partial-"


def hold_lock(path: Path, *, wait: bool = True, create: bool = False) -> int:
    """An open descriptor of ``path`` (a directory, or a lock file, made 0o600 when missing
    and ``create``) with an exclusive lock on it, held until the descriptor is closed.

    Raises BlockingIOError when another process holds it and not ``wait`` (the descriptor
    closed again), FileNotFoundError when ``path`` is missing and not ``create``."""
    fd = os.open(path, os.O_RDONLY | (os.O_CREAT if create else 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove_left_over(base: Path, out: Path) -> None:
    """Remove the stages of ``out`` that no process holds: runs killed before they could
    move them into place (kill -9, a power cut). Stages of runs still going are kept."""
    for stage in base.glob(glob.escape(_stage_prefix(out)) + "*"):
        try:
            fd = hold_lock(stage, wait=False)
        except (BlockingIOError, FileNotFoundError, NotADirectoryError):
            continue  # in use, or gone meanwhile
        try:
            shutil.rmtree(stage, ignore_errors=True)
        finally:
            os.close(fd)


def _link_tree(src: Path, dst: Path) -> None:
    try:
        shutil.copytree(src, dst, copy_function=os.link)
    except OSError:  # a file system without hard links
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)


def _commit(stage: Path, out: Path, products: Collection[str]) -> None:
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        stage.replace(out)
        fsync_dir(out.parent)
        return
    for name in dict.fromkeys(products):  # a name twice would remove what it moved in
        new, old = stage / name, out / name
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        elif old.exists() or old.is_symlink():
            old.unlink()
        if new.exists():
            new.replace(old)
    shutil.rmtree(stage, ignore_errors=True)
    fsync_dir(out)
