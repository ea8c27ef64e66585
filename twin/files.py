"""Durable file writes: after a crash a file is either wholly present or absent."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_dir", "write_durably"]


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary name, fsync it, rename it to ``path`` and fsync the
    directory: on disk when this returns, never half written."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make the renames and new files in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
