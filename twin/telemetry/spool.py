"""A bounded, fsync'd on-disk spool of write batches (store and forward).

Each batch is one file ``<seq:012d>-<lines>.lp.gz`` holding exactly the gzip'd payload that
would have been sent, so a spooled batch is also importable by hand. A file is written to a
temporary name, fsync'd, renamed and the directory fsync'd, so after a crash a batch is
either wholly present or absent. Batches are replayed oldest first (lowest sequence number).

Bound: ``max_bytes`` of payload. A batch that would exceed it is *not* stored: ``put``
returns False and the caller counts it as dropped (nothing is dropped silently). Dropping the
newest rather than the oldest keeps fsync'd data untouched while it may be replaying.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from twin.files import write_durably

__all__ = ["Spool", "SpoolEntry", "spool_depth"]

_SUFFIX = ".lp.gz"


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One spooled batch: its file, sequence number, line count and size in bytes."""

    path: Path
    seq: int
    lines: int
    size: int


def _parse(path: Path) -> SpoolEntry | None:
    stem = path.name.removesuffix(_SUFFIX)
    seq, _, lines = stem.partition("-")
    if not (seq.isdigit() and lines.isdigit()):
        return None
    return SpoolEntry(path, int(seq), int(lines), path.stat().st_size)


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

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for tmp in self.directory.glob("*.tmp"):  # a write interrupted by a crash
            tmp.unlink(missing_ok=True)
        entries = [e for p in self.directory.glob("*" + _SUFFIX) if (e := _parse(p))]
        self._entries = sorted(entries, key=lambda e: e.seq)
        self._bytes = sum(e.size for e in self._entries)
        self._lines = sum(e.lines for e in self._entries)
        self._next_seq = self._entries[-1].seq + 1 if self._entries else 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        return self._bytes

    @property
    def lines(self) -> int:
        return self._lines

    def put(self, payload: bytes, lines: int) -> bool:
        """Store one batch durably; False (nothing written) when it would exceed the bound."""
        if self._bytes + len(payload) > self.max_bytes:
            return False
        self._append(payload, lines)
        return True

    def _append(self, payload: bytes, lines: int) -> None:
        seq = self._next_seq
        self._next_seq += 1
        path = self.directory / f"{seq:012d}-{lines}{_SUFFIX}"
        write_durably(path, payload)
        self._entries.append(SpoolEntry(path, seq, lines, len(payload)))
        self._bytes += len(payload)
        self._lines += lines

    def replace(self, entry: SpoolEntry, parts: list[tuple[bytes, int]]) -> None:
        """Store the batches ``parts`` (payload, lines) in place of ``entry``, whatever the
        bound (they hold its lines): the parts first, so a crash between leaves a batch twice,
        never none."""
        for payload, lines in parts:
            self._append(payload, lines)
        self.remove(entry)

    def oldest(self) -> SpoolEntry | None:
        return self._entries[0] if self._entries else None

    def read(self, entry: SpoolEntry) -> bytes:
        return entry.path.read_bytes()

    def remove(self, entry: SpoolEntry) -> None:
        """Forget a batch once it is delivered (or rejected for good)."""
        self._entries.remove(entry)
        self._bytes -= entry.size
        self._lines -= entry.lines
        entry.path.unlink(missing_ok=True)


def spool_depth(directory: Path) -> dict[str, int]:
    """Batches, lines and bytes in a spool directory, counted from its files (no pipeline
    needed; right even after a crash). An absent directory is an empty spool."""
    entries = (
        [e for p in directory.glob("*" + _SUFFIX) if (e := _parse(p))] if directory.is_dir() else []
    )
    return {
        "spool_batches": len(entries),
        "spool_lines": sum(e.lines for e in entries),
        "spool_bytes": sum(e.size for e in entries),
    }
