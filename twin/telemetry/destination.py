"""Where telemetry batches are meant to go, and where spooled ones came from (pure data).

A spooled batch keeps its ``Destination`` (URL, org, bucket; never the token) and the run
that produced it (``Origin``), so a later pipeline on the same spool sends it only where it
was meant to go, and ``replay_command`` says how to send it there by hand.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from twin.telemetry.settings import InfluxToken, TelemetrySettings

__all__ = ["Destination", "Origin", "replay_command"]


def _default(name: str) -> str:
    return str(TelemetrySettings.model_fields[name].default)


@dataclass(frozen=True, slots=True, eq=False)
class Destination:
    """An InfluxDB write destination: its URL, org and bucket (a token is never part of it).

    Two destinations are equal (the same database) when their URLs differ only in the case
    of scheme and host or a trailing slash, and org and bucket are equal; ``url`` keeps the
    spelling it was given, for messages.
    """

    url: str
    org: str
    bucket: str

    @classmethod
    def of(cls, settings: TelemetrySettings) -> Destination:
        return cls(settings.influx_url, settings.influx_org, settings.influx_bucket)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Destination):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[str, str, str]:
        parts = urlsplit(self.url.strip())
        url = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"
        return url, self.org, self.bucket

    def __str__(self) -> str:
        return f"{self.url} (bucket {self.bucket!r}, org {self.org!r})"

    def as_dict(self) -> dict[str, str]:
        return {"url": self.url, "org": self.org, "bucket": self.bucket}


@dataclass(frozen=True, slots=True)
class Origin:
    """Where spooled batches came from: the pipeline that spooled them (its destination,
    ``None`` for a sink that has none, its cell and the wall-clock time it started)."""

    destination: Destination | None
    cell: str
    started: str

    def describe(self) -> str:
        """``an earlier run (cell 'x', started <time>)``, for messages."""
        return f"an earlier run (cell {self.cell!r}, started {self.started})"

    def as_dict(self) -> dict[str, Any]:
        dest = self.destination.as_dict() if self.destination is not None else None
        return {"destination": dest, "cell": self.cell, "started": self.started}

    @classmethod
    def from_dict(cls, data: Any) -> Origin | None:
        """The origin ``as_dict`` gave, or None when ``data`` is not one (a damaged record)."""
        if not isinstance(data, dict):
            return None
        dest = data.get("destination")
        try:
            destination = None if dest is None else Destination(**dest)
        except TypeError:
            return None
        if destination is not None and not all(
            isinstance(v, str) for v in destination.as_dict().values()
        ):
            return None
        return cls(destination, str(data.get("cell", "?")), str(data.get("started", "?")))


def replay_command(destination: Destination, spool: str, token: str = "") -> str:
    """The ``twin telemetry replay`` command sending ``spool`` to ``destination``: its URL,
    and its bucket and org when not the defaults. Of ``token`` (the one the run used) only
    whether there is one and the setting that gave it are told, never its value."""
    args = ["twin", "telemetry", "replay", spool, "--influx-url", destination.url]
    for name, value in (("influx_bucket", destination.bucket), ("influx_org", destination.org)):
        if value != _default(name):
            args += ["--" + name.replace("_", "-"), value]
    text = shlex.join(args)
    if not token:
        return text
    if isinstance(token, InfluxToken) and token.path is not None:
        return f"{text} (with {token.setting} set to {token.path})"
    return f"{text} (with TWIN_INFLUX_TOKEN set to the token)"
