"""A real pymodbus TCP server playing the PLC, and an independent pymodbus client to look at
it (as a second master would)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

INPUT_REGISTERS = [655, 7]  # fixed by the PLC: input registers 0 and 1
_DT = AsyncModbusTcpClient.DATATYPE
_WRITE_REGISTERS = (6, 16)  # function codes writing holding registers


class Plc:
    """64 coils and discrete inputs, 100 holding registers and two input registers, at
    ``127.0.0.1:port``, device 1. ``holding_writes`` sees every holding-register write."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: ModbusTcpServer | None = None
        self.client = AsyncModbusTcpClient("127.0.0.1", port=port, retries=0, reconnect_delay=0)
        self._written = asyncio.Condition()
        self.holding_writes: list[tuple[int, list[int]]] = []  # (address, values)

    async def _action(
        self,
        function_code: int,
        _start: int,
        address: int,
        _count: int,
        _current: list[int],
        values: list[int] | list[bool] | None,
    ) -> None:
        if function_code in _WRITE_REGISTERS and values is not None:
            async with self._written:
                self.holding_writes.append((address, [int(v) for v in values]))
                self._written.notify_all()

    async def start(self) -> None:
        device = SimDevice(
            id=1,
            simdata=(
                [SimData(0, count=64, values=False, datatype=DataType.BITS)],
                [SimData(0, count=64, values=False, datatype=DataType.BITS)],
                [SimData(0, count=100, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, values=list(INPUT_REGISTERS), datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )
        self.server = ModbusTcpServer(context=device, address=("127.0.0.1", self.port))
        await self.server.serve_forever(background=True)
        assert await self.client.connect()

    async def stop(self) -> None:
        self.client.close()
        if self.server is not None:
            await self.server.shutdown()
            self.server = None

    async def wait_holding(
        self, address: int, predicate: Callable[[int], bool], within_s: float = 30.0
    ) -> int:
        """Wait for a write that puts a value satisfying ``predicate`` into ``address``."""

        def seen() -> int | None:
            for start, values in reversed(self.holding_writes):
                if start <= address < start + len(values):
                    value = values[address - start]
                    return value if predicate(value) else None
            return None

        async with self._written:
            await asyncio.wait_for(self._written.wait_for(lambda: seen() is not None), within_s)
        value = seen()
        assert value is not None
        return value

    async def holding(self, address: int, count: int = 1) -> list[int]:
        rr = await self.client.read_holding_registers(address, count=count, device_id=1)
        assert not rr.isError(), rr
        return list(rr.registers)

    async def float32(self, address: int) -> float:
        regs = await self.holding(address, 2)
        return float(self.client.convert_from_registers(regs, _DT.FLOAT32))  # type: ignore[arg-type]

    async def coil(self, address: int) -> bool:
        rr = await self.client.read_coils(address, count=1, device_id=1)
        return bool(rr.bits[0])

    async def set_coil(self, address: int, value: bool) -> None:
        assert not (await self.client.write_coil(address, value, device_id=1)).isError()

    async def set_holding(self, address: int, value: int) -> None:
        assert not (await self.client.write_register(address, value, device_id=1)).isError()
