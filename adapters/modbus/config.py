"""Configuration of the Modbus TCP adapter: the PLC's address and each tag's place in its
tables (pydantic only, no I/O)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.config import (
    AdapterConfig,
    FaultInput,
    SignalInput,
    SignalOutput,
    StateOutput,
    clash,
)

__all__ = [
    "WORDS",
    "ModbusConfig",
    "ModbusFaultInput",
    "ModbusSignalInput",
    "ModbusSignalOutput",
    "ModbusStateOutput",
    "Table",
]

Table = Literal["holding", "input", "coil", "discrete"]
DataType = Literal["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]

#: 16-bit registers per data type.
WORDS = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "int64": 4,
    "uint64": 4,
    "float32": 2,
    "float64": 4,
}
BIT_TABLES = ("coil", "discrete")
_WRITABLE = ("holding", "coil")
_NAMES = {
    "holding": "a holding register",
    "input": "an input register",
    "coil": "a coil",
    "discrete": "a discrete input",
}


class _Tag(BaseModel):
    """Where a value sits: ``table`` and 0-based ``address``; registers hold ``type``
    (big-endian bytes; word order per adapter), coils and discrete inputs one bit."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    writable: ClassVar[bool] = False  # outputs: holding registers and coils only

    table: Table = Field(description="holding, input (registers), coil, discrete (bits)")
    address: int = Field(strict=True, ge=0, le=65535, description="0-based address in the table")
    type: DataType | None = Field(None, description="register type (default uint16); not bits")

    @property
    def words(self) -> int:
        """Registers (or bits) the tag takes."""
        return 1 if self.table in BIT_TABLES else WORDS[self.data_type]

    @property
    def data_type(self) -> DataType:
        return self.type or "uint16"

    @property
    def cells(self) -> list[tuple[str, int]]:
        """The (table, address) of each register (or bit) the tag takes."""
        return [(self.table, a) for a in range(self.address, self.address + self.words)]

    @model_validator(mode="after")
    def _check_tag(self) -> Self:
        if self.table in BIT_TABLES and self.type is not None:
            raise ValueError(f"type: {_NAMES[self.table]} is one bit; give no type")
        if self.writable and self.table not in _WRITABLE:
            raise ValueError(
                f"table: {_NAMES[self.table]} is read-only in Modbus; write to a holding "
                "register or a coil"
            )
        if self.address + self.words > 65536:
            raise ValueError(f"address: {self.address} + {self.words} words is beyond 65535")
        return self


class ModbusSignalInput(SignalInput, _Tag):
    pass


class ModbusSignalOutput(SignalOutput, _Tag):
    writable: ClassVar[bool] = True

    @property
    def int_bounds(self) -> tuple[int, int] | None:
        """Smallest and largest raw value of an integer register type; None for a coil or
        a float."""
        dt = self.data_type
        if self.table in BIT_TABLES or dt.startswith("float"):
            return None
        bits = 16 * WORDS[dt]
        return (0, 2**bits - 1) if dt.startswith("u") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


class ModbusFaultInput(FaultInput, _Tag):
    pass


class ModbusStateOutput(StateOutput, _Tag):
    writable: ClassVar[bool] = True
    table: Literal["holding"] = Field("holding", description="state codes: a holding register")


class ModbusConfig(AdapterConfig):
    """A Modbus TCP server (the PLC or a gateway) at ``host:port``, device ``unit``."""

    kind: Literal["modbus"]
    host: str = Field(min_length=1)
    port: int = Field(502, strict=True, ge=1, le=65535)
    unit: int = Field(1, strict=True, ge=0, le=255, description="device (slave) id")
    word_order: Literal["big", "little"] = Field(
        "big", description="order of the registers of 32/64-bit values"
    )
    read: tuple[ModbusSignalInput, ...] = ()
    write: tuple[ModbusSignalOutput, ...] = ()
    fault: tuple[ModbusFaultInput, ...] = ()
    state: tuple[ModbusStateOutput, ...] = ()

    @functools.cached_property
    def inputs(self) -> Sequence[ModbusSignalInput | ModbusFaultInput]:
        return [*self.read, *self.fault]

    @functools.cached_property
    def outputs(self) -> Sequence[ModbusSignalOutput | ModbusStateOutput]:
        return [*self.write, *self.state]

    @property
    def unencrypted(self) -> str:
        return "Modbus TCP has no encryption"

    @property
    def device(self) -> str:
        """The PLC (or the device behind a gateway) as messages name it."""
        return f"{self.host}:{self.port} unit {self.unit}"

    @model_validator(mode="after")
    def _outputs_apart(self) -> ModbusConfig:
        """Two outputs must not write the same register or coil, nor an input read one."""
        taken: dict[tuple[str, int], str] = {}
        for name, tag in self.named(True):
            for cell in tag.cells:
                other = taken.setdefault(cell, name)
                if other != name:
                    raise ValueError(f"{name}.address: {_cell(cell)} is also written by {other}")
        # a register the twin writes and reads back as another signal: each cycle would read
        # the twin's own value (or the PLC's, overwritten at the next change)
        for name, tag in self.named(False):
            for cell in tag.cells:
                if cell in taken:
                    raise ValueError(
                        f"{name}.address: {_cell(cell)} is written by {taken[cell]}:"
                        " the twin would read back what it writes"
                    )
        return self

    @property
    def warnings(self) -> list[tuple[str, str]]:
        """Inputs that read one register (or bit) twice: a float32 at input 0 takes 0 and 1,
        so a uint16 at input 1 reads half of it. Maybe meant (a status word read whole and
        as a fault), so a warning, not an error."""
        read: dict[tuple[str, int], tuple[str, _Tag]] = {}
        found: list[tuple[str, str]] = []
        for name, tag in self.named(False):
            for cell in tag.cells:
                first = read.setdefault(cell, (name, tag))
                if first[0] != name:
                    found.append(
                        (
                            f"{name}.address",
                            f"{_cell(cell)} is also read by {first[0]} ({_span(first[1])}):"
                            " one register read as two values; check the addresses and types",
                        )
                    )
                    break
        return found

    def clashes(self, other: AdapterConfig, named: str) -> list[tuple[str, str]]:
        """Two adapters of one device (host, port, unit) must not write one register or
        coil, nor one read what the other writes (as within one adapter)."""
        if not isinstance(other, ModbusConfig) or _device_key(self) != _device_key(other):
            return []
        theirs = {True: _cells(other.named(True)), False: _cells(other.named(False))}
        found: list[tuple[str, str]] = []
        for written in (True, False):
            for name, tag in self.named(written):
                for cell in tag.cells:
                    why = clash(f"{_cell(cell)} of {self.device}", cell, written, theirs, named)
                    if why is not None:
                        found.append((f"{name}.address", why))
                        break
        return found


def _device_key(cfg: ModbusConfig) -> tuple[str, int, int]:
    return cfg.host.lower(), cfg.port, cfg.unit


def _cells(named: list[tuple[str, _Tag]]) -> dict[tuple[str, int], str]:
    """Each (table, address) the tags take -> the first tag's name."""
    cells: dict[tuple[str, int], str] = {}
    for name, tag in named:
        for cell in tag.cells:
            cells.setdefault(cell, name)
    return cells


def _cell(cell: tuple[str, int]) -> str:
    return f"{cell[0]} {cell[1]}"


def _span(tag: _Tag) -> str:
    """Where a tag is, e.g. ``input 0..1, float32`` or ``coil 3``."""
    if tag.table in BIT_TABLES:
        return f"{tag.table} {tag.address}"
    last = tag.address + tag.words - 1
    where = str(tag.address) if last == tag.address else f"{tag.address}..{last}"
    return f"{tag.table} {where}, {tag.data_type}"
