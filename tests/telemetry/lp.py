"""A small, independent line-protocol parser for the tests (not the code under test)."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Point", "parse_line", "parse_lines"]


@dataclass(frozen=True)
class Point:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, object]
    ts: int


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quotes and not escaped."""
    out, cur, quoted, i = [], [], False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _value(text: str) -> object:
    if text.startswith('"'):
        assert text.endswith('"'), text
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if text in ("true", "false"):
        return text == "true"
    if text.endswith("i"):
        return int(text[:-1])
    return float(text)


def parse_line(line: str) -> Point:
    parts = _split(line, " ")
    assert len(parts) == 3, f"not 3 sections: {line!r}"
    head, body, ts = parts
    series = _split(head, ",")
    tags = {}
    for tag in series[1:]:
        key, value = _split(tag, "=")
        assert value, f"empty tag value in {line!r}"
        tags[_unescape(key)] = _unescape(value)
    assert list(tags) == sorted(tags), f"tags not sorted: {line!r}"
    fields = {}
    for field in _split(body, ","):
        key, value = _split(field, "=")
        fields[_unescape(key)] = _value(value)
    assert fields, line
    return Point(_unescape(series[0]), tags, fields, int(ts))


def parse_lines(text: str) -> list[Point]:
    return [parse_line(line) for line in text.splitlines() if line]
