"""Configuration of adapters: what every adapter kind shares (pydantic models only, no I/O).

An adapters file (TOML) lists adapters; each maps tags of one PLC to the twin::

    [[adapter]]
    name = "plc1"            # unique; in logs and errors
    kind = "modbus"          # which plugin (adapters.KINDS)
    period_s = 0.5           # one cycle: read the inputs, write the changed outputs

    [[adapter.read]]         # PLC -> twin: the tag's value replaces the signal's simulated one
    signal = "printer1.bed_temp"
    ...                      # the tag's address, in the kind's own terms
    [[adapter.write]]        # twin -> PLC: the signal's value, written when it changes
    [[adapter.fault]]        # PLC -> twin: a true tag puts the machine out of service
    [[adapter.state]]        # twin -> PLC: the machine's state code (twin.events.STATE_CODES)

Engineering values and tag values are related by ``value = raw * scale + offset`` in both
directions. Each kind subclasses the mappings with its address fields and ``AdapterConfig``
with its connection fields.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from twin.model.scenario import FaultKind

__all__ = [
    "AdapterConfig",
    "FaultInput",
    "Mapping",
    "SignalInput",
    "SignalOutput",
    "StateOutput",
    "clash",
]


class Mapping(BaseModel):
    """One tag of the PLC and what it means to the twin."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Scaled(Mapping):
    signal: str = Field(min_length=1, description="SignalStore path, e.g. cnc1.spindle_speed")
    scale: float = Field(1.0, strict=True, description="value = raw * scale + offset")
    offset: float = Field(0.0, strict=True)

    @field_validator("scale")
    @classmethod
    def _scale_not_zero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("must not be 0")
        return v


class SignalInput(_Scaled):
    """PLC -> twin: the tag's value replaces the signal's simulated value (the signal is pinned
    to the PLC while the twin runs)."""


class SignalOutput(_Scaled):
    """Twin -> PLC: the signal's value, written whenever it changes (and all at a reconnect)."""

    @property
    def int_bounds(self) -> tuple[int, int] | None:
        """Smallest and largest raw value the tag holds, when the file says (an integer
        type); None when unknown or not an integer."""
        return None


class FaultInput(Mapping):
    """PLC -> twin: while the tag is true (non-zero) ``machine`` is out of service with a fault
    of ``kind``; when it turns false the machine's injected faults are cleared."""

    machine: str = Field(min_length=1)
    kind: FaultKind = "breakdown"
    active_low: bool = Field(
        False, strict=True, description="the machine is faulted while the tag is false"
    )


class StateOutput(Mapping):
    """Twin -> PLC: ``machine``'s MachineryItemState as a number (0 NotAvailable,
    1 OutOfService, 2 NotExecuting, 3 Executing)."""

    machine: str = Field(min_length=1)


class AdapterConfig(BaseModel):
    """What every adapter has; a kind adds its connection fields and typed mappings."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", max_length=64)
    kind: str  # each kind narrows this to its own literal
    # strict: a boolean is no number, a string no number or boolean ("no" would read true)
    enabled: bool = Field(True, strict=True)
    period_s: float = Field(
        0.5, strict=True, ge=0.01, le=3600, description="wall seconds between two cycles"
    )
    timeout_s: float = Field(
        5.0, strict=True, gt=0, le=600, description="one connect, read or write"
    )
    refresh_s: float = Field(
        10.0, strict=True, ge=0, description="write every output again this often (0: only changes)"
    )
    backoff_s: float = Field(1.0, strict=True, gt=0, description="first wait before reconnecting")
    backoff_max_s: float = Field(
        60.0, strict=True, gt=0, description="longest wait between reconnects"
    )
    # a kind narrows these to its mappings with addresses (tuples: covariant, immutable)
    read: tuple[SignalInput, ...] = ()
    write: tuple[SignalOutput, ...] = ()
    fault: tuple[FaultInput, ...] = ()
    state: tuple[StateOutput, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> AdapterConfig:
        if self.backoff_max_s < self.backoff_s:
            raise ValueError(f"backoff_max_s: must be at least backoff_s ({self.backoff_s:g} s)")
        if not (self.read or self.write or self.fault or self.state):
            raise ValueError("maps nothing: give at least one read, write, fault or state")
        # a signal the PLC feeds, written back to it: the PLC's own value a cycle late (the
        # twin models nothing there). To another PLC it is fine: the twin passes it on.
        read = {m.signal: j for j, m in enumerate(self.read)}
        for j, m in enumerate(self.write):
            if m.signal in read:
                raise ValueError(
                    f"write[{j}].signal: {m.signal!r} is read from this PLC "
                    f"(read[{read[m.signal]}]): writing it back would only echo the PLC's "
                    "own value a cycle late"
                )
        return self

    @property
    def warnings(self) -> list[tuple[str, str]]:
        """What the mappings allow but is likely a mistake, as (field, why): ``twin adapters
        check`` and ``twin run`` say it. Nothing by default; a kind says."""
        return []

    def clashes(self, other: AdapterConfig, named: str) -> list[tuple[str, str]]:
        """What this adapter and ``other`` (an earlier one of the file, ``named`` e.g.
        ``adapter[0] (plc1)``) must not both have, as (this adapter's field, why): one
        folder, or one register written twice. Nothing by default; a kind says."""
        return []

    @property
    def insecure_by(self) -> str | None:
        """The field that turns this link's security off (``twin run`` needs --insecure-dev
        then), or None. A kind that can secure its link says so."""
        return None

    @property
    def unencrypted(self) -> str | None:
        """Why this link is not encrypted (``twin run`` names it in a warning), or None when
        it is. A kind says."""
        return None

    def named(self, written: bool) -> list[tuple[str, Any]]:
        """The outputs (``written``) or the inputs as the file names them (``write[0]``), in
        file order."""
        groups = ("write", "state") if written else ("read", "fault")
        return [(f"{g}[{j}]", m) for g in groups for j, m in enumerate(getattr(self, g))]

    @property
    def pins_at(self) -> Path | None:
        """Where the PLC's certificate will be pinned at the first connect (trusted on first
        use, not pinned yet: ``twin run`` warns, ``twin adapters check`` says so), or None.
        A kind says."""
        return None

    @functools.cached_property
    def inputs(self) -> Sequence[SignalInput | FaultInput]:
        """What one cycle reads, in this order: signal inputs, then fault inputs."""
        return [*self.read, *self.fault]

    @functools.cached_property
    def outputs(self) -> Sequence[SignalOutput | StateOutput]:
        """What one cycle may write, in this order: signal outputs, then state outputs."""
        return [*self.write, *self.state]


def clash(
    where: str, key: Hashable, written: bool, theirs: dict[bool, dict[Any, str]], named: str
) -> str | None:
    """Why a tag of one adapter at ``key`` (a register, a node; ``where`` says it in words;
    ``written``: an output) clashes with the tags of adapter ``named`` of the same PLC
    (``theirs``: their names by key, outputs under True, inputs under False), or None: one
    written by both, or one adapter reading what the other writes."""
    if key in theirs[True]:
        why = f"{where} is {'also ' if written else ''}written by {theirs[True][key]} of {named}"
        return why if written else f"{why}: the twin would read back what it writes"
    if written and key in theirs[False]:
        return (
            f"{where} is read by {theirs[False][key]} of {named}: it would read back what the"
            " twin writes"
        )
    return None
