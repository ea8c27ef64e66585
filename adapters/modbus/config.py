"""Configuration of the Modbus TCP adapter: the PLC's address and each tag's place in its
tables (pydantic only, no I/O)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.config import AdapterConfig, FaultInput, SignalInput, SignalOutput, StateOutput

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

    @model_validator(mode="after")
    def _outputs_apart(self) -> ModbusConfig:
        """Two outputs must not write the same register or coil, nor an input read one."""
        taken: dict[tuple[str, int], str] = {}
        tags: list[tuple[str, _Tag]] = [(f"write[{j}]", t) for j, t in enumerate(self.write)]
        tags += [(f"state[{j}]", t) for j, t in enumerate(self.state)]
        for name, tag in tags:
            for a in range(tag.address, tag.address + tag.words):
                other = taken.setdefault((tag.table, a), name)
                if other != name:
                    raise ValueError(f"{name}.address: {tag.table} {a} is also written by {other}")
        # a register the twin writes and reads back as another signal: each cycle would read
        # the twin's own value (or the PLC's, overwritten at the next change)
        reads: list[tuple[str, _Tag]] = [(f"read[{j}]", t) for j, t in enumerate(self.read)]
        reads += [(f"fault[{j}]", t) for j, t in enumerate(self.fault)]
        for name, tag in reads:
            for a in range(tag.address, tag.address + tag.words):
                if (tag.table, a) in taken:
                    raise ValueError(
                        f"{name}.address: {tag.table} {a} is written by {taken[tag.table, a]}:"
                        " the twin would read back what it writes"
                    )
        return self
