"""The one exception tree of cell-twin.

::

    TwinError                      base: every error a user can cause or see
    ├── ConfigError                bad scenario, settings, sequence or instance file
    │                              (names file, field and reason)
    ├── CommandError               a command through ``twin.api`` was rejected; state unchanged
    │   ├── UnknownMachineError
    │   ├── UnknownJobError
    │   └── InvalidStateError      the command does not apply in the current state
    └── ServiceError               an external service (database, PLC, server) failed

Library errors (pydantic, tomllib, json, OSError) are translated at the boundary with
``raise ... from exc`` so the CLI can print one line and exit with code 2.
"""

from __future__ import annotations

__all__ = [
    "CommandError",
    "ConfigError",
    "InvalidStateError",
    "ServiceError",
    "TwinError",
    "UnknownJobError",
    "UnknownMachineError",
]


class TwinError(Exception):
    """Base class of every error cell-twin raises on purpose."""


class ConfigError(TwinError):
    """A configuration file or value is invalid.

    ``source`` is the file (or other origin), ``field`` the dotted path inside it, ``reason``
    the human explanation; ``str()`` joins them into the one line the CLI prints.
    """

    def __init__(self, source: str, field: str | None, reason: str) -> None:
        self.source = source
        self.field = field
        self.reason = reason
        super().__init__(source, field, reason)  # args rebuild it (SimPy re-raises a copy)

    def __str__(self) -> str:
        where = f"{self.source}: {self.field}" if self.field else self.source
        return f"{where}: {self.reason}"


class CommandError(TwinError):
    """A command was rejected; the twin's state is unchanged."""


class UnknownMachineError(CommandError):
    """The command names a machine the cell does not have."""


class UnknownJobError(CommandError):
    """The command names a job the twin does not know."""


class InvalidStateError(CommandError):
    """The command does not apply in the current state (e.g. cancel a finished job)."""


class ServiceError(TwinError):
    """An external service failed (database, PLC, OPC UA peer)."""
