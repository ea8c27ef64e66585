"""A bounded, fsync'd on-disk spool of write batches (store and forward).

Each batch is one file ``<seq:012d>-<lines>-<source>.lp.gz`` holding exactly the gzip'd
payload that would have been sent, so a spooled batch is also importable by hand. The
directory is its owner's alone (0700) and so are its files (0600). A file is
written to a temporary name, fsync'd, renamed and the directory fsync'd, so after a crash a
batch is either wholly present or absent. Batches are replayed oldest first (lowest sequence
number).

``<source>`` keys the batch's ``Origin`` in ``origins.json`` (written, durably, before the
first batch of a new origin): the destination it is meant for (never the token) and the run
that spooled it. A batch spooled before origins were kept (``<seq>-<lines>.lp.gz``) or whose
origin is lost has none (``origin`` gives None).

One owner at a time: ``open`` locks the directory (``.lock``, released by ``close`` or the
process's end); a second twin or a ``twin telemetry replay`` on it meanwhile is refused
(both would number their batches from the same sequence and write ``origins.json`` with
only their own origins).

Bound: ``max_bytes`` of payload. A batch that would exceed it is *not* stored: ``put``
returns False and the caller counts it as dropped, or stores the part of it that fits
(``room``; nothing is dropped silently). Dropping the newest rather than the oldest keeps
fsync'd data untouched while it may be replaying.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

from twin.errors import ServiceError
from twin.files import hold_lock, write_durably
from twin.telemetry.destination import Destination, Origin

__all__ = [
    "ORIGINS_FILE",
    "Spool",
    "SpoolEntry",
    "private_directory",
    "recorded_destinations",
    "spool_depth",
]

_SUFFIX = ".lp.gz"
ORIGINS_FILE = "origins.json"
#: the pipeline's counters, beside the batches (``twin telemetry status``)
STATUS_FILE = "status.json"
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One spooled batch: its file, sequence number, line count, size in bytes and the key
    of its origin (``""``: none recorded)."""

    path: Path
    seq: int
    lines: int
    size: int
    source: str = ""


def private_directory(path: Path) -> None:
    """``path`` as a directory only its owner may read (0700): made so when missing, and made
    so when it is a spool of an earlier version (ours, with its lock, origins or status in
    it) that others may read. Its batches, origins and status tell where the database is and
    what the cell did. A directory of another kind is left as it is (TWIN_SPOOL_DIR=/tmp
    must not close /tmp). Raises OSError when it cannot be made (NotADirectoryError: it, or
    one above it, is a file)."""
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        st = path.stat()
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path)) from None
        ours = st.st_uid == os.geteuid() and not st.st_mode & stat.S_ISVTX
        spool = any((path / name).exists() for name in (".lock", ORIGINS_FILE, STATUS_FILE))
        if st.st_mode & 0o077 and ours and spool:
            path.chmod(0o700)
    else:
        path.chmod(0o700)  # mkdir's mode is masked by the umask


def _reason(exc: OSError) -> str:
    """What went wrong with a file, in one line: its reason and the path it names."""
    what = exc.strerror or str(exc)
    return f"{exc.filename}: {what}" if exc.filename else what


def _parse(path: Path) -> SpoolEntry | None:
    seq, lines, *source = path.name.removesuffix(_SUFFIX).split("-")
    if not (seq.isdigit() and lines.isdigit()) or len(source) > 1:
        return None
    if source and not (source[0] and set(source[0]) <= _HEX):
        return None
    return SpoolEntry(path, int(seq), int(lines), path.stat().st_size, "".join(source))


def _entries(directory: Path) -> list[SpoolEntry]:
    entries = [e for p in directory.glob("*" + _SUFFIX) if (e := _parse(p))]
    return sorted(entries, key=lambda e: e.seq)


def _origins(directory: Path) -> dict[str, Origin]:
    """The origins recorded in ``directory`` (none when the file is missing or damaged: its
    batches are kept, as batches of no recorded origin)."""
    try:
        data = json.loads((directory / ORIGINS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: o for k, v in data.items() if (o := Origin.from_dict(v)) is not None}


class Spool:
    """Directory of spooled batches. Not thread-safe: one owner (the pipeline's event loop).

    Constructing it does no I/O; ``open()`` creates the directory and indexes what an
    earlier run left behind.
    """

    def __init__(self, directory: Path, max_bytes: int, *, name: str | None = None) -> None:
        if max_bytes <= 0:
            raise ValueError("spool max_bytes must be > 0")
        self.directory = directory
        #: how messages name it: where it will be (``twin simulate`` writes a run aside)
        self.name = str(directory) if name is None else name
        self.max_bytes = max_bytes
        self._entries: list[SpoolEntry] = []
        self._bytes = 0
        self._lines = 0
        self._next_seq = 0
        self._origins: dict[str, Origin] = {}
        self._source = ""
        self._lock: int | None = None  # the lock file's descriptor, while open

    def open(self) -> None:
        """Lock the directory (ServiceError naming it when another owner has it, or when it
        cannot be made or locked) and index what an earlier run left behind."""
        if self._lock is None:
            try:
                private_directory(self.directory)
                self._lock = hold_lock(self.directory / ".lock", wait=False, create=True)
            except BlockingIOError:
                raise ServiceError(
                    f"telemetry spool {self.name} is in use by another twin run or telemetry"
                    " replay: wait for it to end, or give this one another spool"
                    " (TWIN_SPOOL_DIR)"
                ) from None
            except OSError as exc:
                raise ServiceError(
                    f"telemetry spool {self.name} cannot be used: {_reason(exc)}; give"
                    " another one (TWIN_SPOOL_DIR)"
                ) from exc
        for tmp in self.directory.glob("*.tmp"):  # a write interrupted by a crash
            tmp.unlink(missing_ok=True)
        self._entries = _entries(self.directory)
        self._origins = _origins(self.directory)
        self._bytes = sum(e.size for e in self._entries)
        self._lines = sum(e.lines for e in self._entries)
        self._next_seq = self._entries[-1].seq + 1 if self._entries else 0

    def close(self) -> None:
        """Release the directory (what it holds stays for the next owner)."""
        if self._lock is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock)  # closing the descriptor releases the lock
            self._lock = None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        return self._bytes

    @property
    def lines(self) -> int:
        return self._lines

    @property
    def room(self) -> int:
        """Bytes of payload it may still take (``max_bytes`` less what it holds)."""
        return max(self.max_bytes - self._bytes, 0)

    def use(self, origin: Origin) -> str:
        """Spool the next batches as coming from ``origin``; returns its key."""
        text = json.dumps(origin.as_dict(), sort_keys=True)
        self._source = hashlib.sha256(text.encode()).hexdigest()[:12]
        self._origins.setdefault(self._source, origin)
        return self._source

    def origin(self, entry: SpoolEntry) -> Origin | None:
        """Where ``entry`` came from and is meant to go (None: not recorded)."""
        return self._origins.get(entry.source)

    def entries(self) -> list[SpoolEntry]:
        """The spooled batches, oldest first."""
        return list(self._entries)

    def put(self, payload: bytes, lines: int) -> bool:
        """Store one batch durably; False (nothing written) when it would exceed the bound."""
        if self._bytes + len(payload) > self.max_bytes:
            return False
        self._append(payload, lines)
        return True

    def _append(self, payload: bytes, lines: int, source: str | None = None) -> None:
        source = self._source if source is None else source
        if source and not any(e.source == source for e in self._entries):
            self._save_origins(source)  # before its first batch: a batch never lacks it
        seq = self._next_seq
        self._next_seq += 1
        path = self.directory / f"{seq:012d}-{lines}{'-' if source else ''}{source}{_SUFFIX}"
        write_durably(path, payload, mode=0o600)
        self._entries.append(SpoolEntry(path, seq, lines, len(payload), source))
        self._bytes += len(payload)
        self._lines += lines

    def replace(self, entry: SpoolEntry, parts: list[tuple[bytes, int]]) -> None:
        """Store the batches ``parts`` (payload, lines) in place of ``entry``, whatever the
        bound (they hold its lines): the parts first, so a crash between leaves a batch twice,
        never none."""
        for payload, lines in parts:
            self._append(payload, lines, entry.source)
        self.remove(entry)

    def _save_origins(self, adding: str) -> None:
        """Record the origins of the batches in the spool and of ``adding`` (the others are
        forgotten: no batch needs them)."""
        keep = {e.source for e in self._entries} | {adding}
        data = {k: o.as_dict() for k, o in self._origins.items() if k in keep}
        text = json.dumps(data, indent=1, sort_keys=True) + "\n"
        write_durably(self.directory / ORIGINS_FILE, text.encode(), mode=0o600)

    def oldest(self, sources: Container[str] | None = None) -> SpoolEntry | None:
        """The oldest batch, of one of the origin keys ``sources`` when given."""
        return next((e for e in self._entries if sources is None or e.source in sources), None)

    def read(self, entry: SpoolEntry) -> bytes:
        return entry.path.read_bytes()

    def remove(self, entry: SpoolEntry) -> None:
        """Forget a batch once it is delivered (or rejected for good)."""
        self._entries.remove(entry)
        self._bytes -= entry.size
        self._lines -= entry.lines
        entry.path.unlink(missing_ok=True)


def spool_depth(directory: Path) -> dict[str, object]:
    """Batches, lines and bytes in a spool directory, counted from its files (no pipeline
    needed; right even after a crash), and its lines by the destination they are meant for
    (``spool_destinations``, when it holds any). An absent directory is an empty spool."""
    entries = _recorded(directory)
    depth: dict[str, object] = {
        "spool_batches": len(entries),
        "spool_lines": sum(e.lines for e, _ in entries),
        "spool_bytes": sum(e.size for e, _ in entries),
    }
    if entries:
        by: dict[str, int] = {}
        for e, origin in entries:
            where = "not recorded" if origin is None else str(origin.destination or "none")
            by[where] = by.get(where, 0) + e.lines
        depth["spool_destinations"] = by
    return depth


def recorded_destinations(directory: Path) -> list[Destination]:
    """The destinations the batches in a spool directory were spooled for, oldest batch's
    first (those recorded; each database once)."""
    found = (o.destination for _, o in _recorded(directory) if o is not None)
    return list(dict.fromkeys(d for d in found if d is not None))


def _recorded(directory: Path) -> list[tuple[SpoolEntry, Origin | None]]:
    """The batches in a spool directory, oldest first, each with the origin recorded for it
    (None: not recorded); none when the directory is absent. Read from the files alone."""
    if not directory.is_dir():
        return []
    origins = _origins(directory)
    return [(e, origins.get(e.source)) for e in _entries(directory)]
