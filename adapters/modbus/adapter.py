"""``ModbusAdapter``: a PLC over Modbus TCP (pymodbus' asyncio client).

One cycle reads every input tag in as few requests as the tables allow (tags of one table
whose addresses lie close together are read as one block of at most 125 registers or 2000
bits) and writes the changed outputs, contiguous ones in one request. Values are converted
by pymodbus (``convert_from_registers``/``convert_to_registers``); integer outputs are
rounded and saturated to their type's range. pymodbus' own reconnect is off: the adapter's
lifecycle reconnects, with backoff.

A Modbus exception response is the PLC's answer, not a lost link: the tags of that request
are bad (named with the exception's meaning and what to check) and the link goes on. A
grouped read or write refused as a bad function, address or value (codes 1 to 3) is tried
again tag by tag, and those tags are read or written alone from then on, so that one wrong
address (or a gap the PLC does not have) does not take its neighbours with it. Other codes
(4 device failure, as a gateway or server answers for a unit it does not have; 5, 6 busy;
10, 11 gateway) fail the tags of that request for this cycle. Only I/O errors (connection
closed, timeout) mean a lost link.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, cast

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.pdu import ModbusPDU

from adapters.base import Adapter
from adapters.bridge import TagValue, as_float32, int_range, overflows, saturate
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
#: exception code -> (meaning, what to check)
_EXCEPTIONS = {
    1: ("illegal function", "check the table (the PLC does not serve it)"),
    2: ("illegal data address", "check the address"),
    3: ("illegal data value", "check the address and the type (its register count)"),
    4: ("server device failure", "check unit (the device id) and the PLC"),
    5: ("acknowledge (still busy)", "tried again next cycle"),
    6: ("server device busy", "tried again next cycle"),
    8: ("memory parity error", "check the PLC"),
    10: ("gateway path unavailable", "check unit (the device id behind the gateway)"),
    11: ("gateway target failed to respond", "check unit and that the device is on"),
}
_SPLIT = (1, 2, 3)  # codes about the request's addresses: try its tags one by one
_TABLE_NAMES = {
    "holding": ("holding register", "holding registers"),
    "input": ("input register", "input registers"),
    "coil": ("coil", "coils"),
    "discrete": ("discrete input", "discrete inputs"),
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
    def _alone(self) -> set[int]:
        """Outputs (positions) the PLC refused in a write with others: written alone."""
        return set()

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
        blocks, i = self._blocks, 0
        while i < len(blocks):
            b = blocks[i]
            read = getattr(client, _READERS[b.table])
            rr = await read(b.start, count=b.count, device_id=cfg.unit)
            if rr.isError():
                code = _code(rr)
                if len(b.tags) > 1 and code in _SPLIT:  # these tags alone, now and from now on
                    blocks[i : i + 1] = [
                        _Block(b.table, b.start + off, inputs[pos].words, [(pos, 0)])
                        for pos, off in b.tags
                    ]
                    continue
                for pos, _ in b.tags:
                    self._tag_failed(False, pos, _refused("read", inputs[pos], code))
            else:
                for pos, off in b.tags:
                    values[pos] = self._decode(client, rr, inputs[pos], off)
                    self._tag_ok(False, pos)
            i += 1
        return values

    def _decode(self, client: AsyncModbusTcpClient, rr: ModbusPDU, tag: _Tag, off: int) -> TagValue:
        if tag.table in BIT_TABLES:
            return bool(rr.bits[off])
        words = rr.registers[off : off + tag.words]
        value = client.convert_from_registers(
            words, _DT[tag.data_type.upper()], self.cfg.word_order
        )
        return cast(float, value)

    def _as_written(self, pos: int, value: float) -> float:
        tag = self.cfg.outputs[pos]
        if tag.table in BIT_TABLES:
            return float(value != 0)
        if tag.data_type == "float32":
            return as_float32(value)
        return float(_fit(value, tag.data_type))

    async def _write(self, items: Sequence[tuple[int, float]]) -> Sequence[tuple[int, float]]:
        client, cfg = self._connected(), self.cfg
        outputs = cfg.outputs
        runs: list[_Run] = []  # contiguous outputs of one table, but those to write alone
        for pos, value in sorted(items, key=lambda it: _place(outputs[it[0]])):
            tag = outputs[pos]
            if tag.table in BIT_TABLES:
                data = [int(value != 0)]
            else:
                bounds = _RANGES.get(tag.data_type)
                if bounds is not None and overflows(value, bounds):
                    self._saturated(pos, value, tag.data_type, bounds)
                data = client.convert_to_registers(
                    _fit(value, tag.data_type), _DT[tag.data_type.upper()], cfg.word_order
                )
            last = runs[-1] if runs else None
            alone = pos in self._alone
            if (
                last is not None
                and not alone
                and not last.alone
                and last.table == tag.table
                and last.start + len(last.data) == tag.address
            ):
                last.data.extend(data)
                last.items.append((pos, value, len(data)))
            else:
                runs.append(_Run(tag.table, tag.address, data, [(pos, value, len(data))], alone))
        done: list[tuple[int, float]] = []
        i = 0
        while i < len(runs):
            run = runs[i]
            if run.table == "coil":
                bits = [bool(b) for b in run.data]
                rr = await client.write_coils(run.start, bits, device_id=cfg.unit)
            else:
                rr = await client.write_registers(run.start, run.data, device_id=cfg.unit)
            if rr.isError():
                code = _code(rr)
                if len(run.items) > 1 and code in _SPLIT:  # these tags alone, from now on
                    self._alone.update(pos for pos, _, _ in run.items)
                    runs[i : i + 1] = run.split()
                    continue
                for pos, _, _ in run.items:
                    self._tag_failed(True, pos, _refused("write", outputs[pos], code))
            else:
                for pos, value, _ in run.items:
                    done.append((pos, value))
                    self._tag_ok(True, pos)
            i += 1
        return done


@dataclass
class _Run:
    """One write request: ``data`` (registers or bits) to ``table`` from ``start``, made of
    the outputs (position, value, words) in address order; ``alone``: one output that the PLC
    refused together with others."""

    table: str
    start: int
    data: list[int]
    items: list[tuple[int, float, int]]
    alone: bool = False

    def split(self) -> list[_Run]:
        runs, at = [], 0
        for pos, value, n in self.items:
            data = self.data[at : at + n]
            runs.append(_Run(self.table, self.start + at, data, [(pos, value, n)], True))
            at += n
        return runs


def _place(tag: _Tag) -> tuple[str, int]:
    return tag.table, tag.address


def _code(rr: ModbusPDU) -> int:
    return int(getattr(rr, "exception_code", 0) or 0)


def _refused(verb: str, tag: _Tag, code: int) -> str:
    """Why the PLC refused to ``verb`` ``tag``, e.g. 'read input register 50: the PLC answers
    illegal data address (exception 2): check the address ...'."""
    one, many = _TABLE_NAMES[tag.table]
    last = tag.address + tag.words - 1
    where = f"{one} {tag.address}" if last == tag.address else f"{many} {tag.address}..{last}"
    meaning, check = _EXCEPTIONS.get(code, ("an unknown exception", "check the PLC"))
    return f"{verb} {where}: the PLC answers {meaning} (exception {code}): {check}"


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
