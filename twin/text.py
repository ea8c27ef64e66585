"""Words for messages, shared by the engine, the servers and the CLI."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``n`` with the noun for that many: '1 order', '0 orders', '2 orders'; ``nouns`` when
    the plural is not the noun and an s ('1 catalogue entry', '3 catalogue entries')."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"
