"""``ModbusAdapter``: a PLC over Modbus TCP (pymodbus' asyncio client).

One cycle reads every input tag in as few requests as the tables allow (tags of one table
whose addresses lie close together are read as one block of at most 125 registers or 2000
bits) and writes the changed outputs, contiguous ones in one request. Values are converted
by pymodbus (``convert_from_registers``/``convert_to_registers``); integer outputs are
rounded and saturated to their type's range. pymodbus' own reconnect is off: the adapter's
lifecycle reconnects, with backoff.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, cast

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.pdu import ModbusPDU

from adapters.base import Adapter
from adapters.bridge import TagValue, int_range, saturate
from adapters.modbus.config import BIT_TABLES, ModbusConfig, _Tag
from twin.errors import ServiceError

__all__ = ["ModbusAdapter"]

_MAX = {"coil": 2000, "discrete": 2000, "holding": 125, "input": 125}
_GAP = 16  # read across a gap of up to this many unused registers or bits
_DT = AsyncModbusTcpClient.DATATYPE
_RANGES = {
    f"{'' if signed else 'u'}int{bits}": int_range(bits, signed)
    for bits in (16, 32, 64)
    for signed in (True, False)
}
_READERS = {
    "holding": "read_holding_registers",
    "input": "read_input_registers",
    "coil": "read_coils",
    "discrete": "read_discrete_inputs",
}


@dataclass
class _Block:
    """One read request: ``count`` registers or bits of ``table`` from ``start``, and the
    inputs it serves as (position in ``cfg.inputs``, offset in the block)."""

    table: str
    start: int
    count: int
    tags: list[tuple[int, int]]


class ModbusAdapter(Adapter):
    kind: ClassVar[str] = "modbus"
    config_model: ClassVar[type[ModbusConfig]] = ModbusConfig
    cfg: ModbusConfig

    _client: AsyncModbusTcpClient | None = None

    @functools.cached_property
    def _blocks(self) -> list[_Block]:
        return _plan_reads(self.cfg)

    @property
    def endpoint(self) -> str:
        return f"modbus://{self.cfg.host}:{self.cfg.port}/{self.cfg.unit}"

    async def _open(self) -> None:
        cfg = self.cfg
        client = AsyncModbusTcpClient(
            cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=0, reconnect_delay=0
        )
        self._client = client
        if not await client.connect():
            raise ServiceError(f"no Modbus TCP server answers at {cfg.host}:{cfg.port}")

    async def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _check(self) -> None:
        self._connected()

    def _connected(self) -> AsyncModbusTcpClient:
        client = self._client
        if client is None or not client.connected:
            raise ServiceError("the connection is closed")
        return client

    async def _read(self) -> Sequence[TagValue]:
        client, cfg = self._connected(), self.cfg
        inputs = cfg.inputs
        values: list[TagValue] = [None] * len(inputs)
        for b in self._blocks:
            read = getattr(client, _READERS[b.table])
            rr = _ok(await read(b.start, count=b.count, device_id=cfg.unit), "read", b)
            for pos, off in b.tags:
                tag = inputs[pos]
                if b.table in BIT_TABLES:
                    values[pos] = bool(rr.bits[off])
                else:
                    words = rr.registers[off : off + tag.words]
                    value = client.convert_from_registers(
                        words, _DT[tag.data_type.upper()], cfg.word_order
                    )
                    values[pos] = cast(float, value)
        return values

    async def _write(self, items: Sequence[tuple[int, float]]) -> None:
        client, cfg = self._connected(), self.cfg
        outputs = cfg.outputs
        runs: list[tuple[str, int, list[int]]] = []  # (table, first address, words or bits)
        for pos, value in sorted(items, key=lambda it: _place(outputs[it[0]])):
            tag = outputs[pos]
            table, address = tag.table, tag.address
            if table in BIT_TABLES:
                data = [int(value != 0)]
            else:
                data = client.convert_to_registers(
                    _fit(value, tag.data_type), _DT[tag.data_type.upper()], cfg.word_order
                )
            last = runs[-1] if runs else None
            if last is not None and last[0] == table and last[1] + len(last[2]) == address:
                last[2].extend(data)
            else:
                runs.append((table, address, data))
        for where, first, data in runs:
            if where == "coil":
                bits = [bool(b) for b in data]
                rr = await client.write_coils(first, bits, device_id=cfg.unit)
            else:
                rr = await client.write_registers(first, data, device_id=cfg.unit)
            _ok(rr, "write", _Block(where, first, len(data), []))


def _place(tag: _Tag) -> tuple[str, int]:
    return tag.table, tag.address


def _ok(rr: ModbusPDU, what: str, block: _Block) -> ModbusPDU:
    """``rr`` unless the PLC answered with an exception (ServiceError naming the request)."""
    if rr.isError():
        last = block.start + block.count - 1
        raise ServiceError(
            f"{what} {block.table} {block.start}..{last}: Modbus exception code "
            f"{getattr(rr, 'exception_code', '?')}"
        )
    return rr


def _fit(value: float, data_type: str) -> int | float:
    """``value`` as the register type takes it: floats as they are, integers saturated."""
    bounds = _RANGES.get(data_type)
    return value if bounds is None else saturate(value, bounds)


def _plan_reads(cfg: ModbusConfig) -> list[_Block]:
    """Group the input tags into read requests, per table, in address order."""
    blocks: list[_Block] = []
    by_table: dict[str, list[tuple[int, int, int]]] = {}
    for pos, tag in enumerate(cfg.inputs):
        by_table.setdefault(tag.table, []).append((tag.address, tag.words, pos))
    for table, tags in sorted(by_table.items()):
        block: _Block | None = None
        for address, words, pos in sorted(tags):
            end = address + words
            if (
                block is not None
                and address <= block.start + block.count + _GAP
                and (max(end, block.start + block.count) - block.start <= _MAX[table])
            ):
                block.count = max(block.count, end - block.start)
            else:
                block = _Block(table, address, words, [])
                blocks.append(block)
            block.tags.append((pos, address - block.start))
    return blocks
