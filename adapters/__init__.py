"""Adapters connecting real or simulated PLCs (OPC UA client, Modbus TCP) to the twin.

Each kind is a plugin folder ``adapters/<kind>/`` (README, example config, config model,
adapter) with one lifecycle (``adapters.base``): validate without I/O, ``await start()``,
``await stop(timeout)``, reconnect with backoff. Mappings tie PLC tags to SignalStore signals
(both ways), faults and machine states (``adapters.config``). Kinds are registered in
``KINDS`` below, explicitly.

    file = load_adapters("plc.toml", KINDS)
    adapters = build_adapters(file, engine, api, KINDS)
    for a in adapters: await a.start()
"""

from __future__ import annotations

from adapters.base import Adapter, AdapterStatus
from adapters.bridge import Bridge
from adapters.config import AdapterConfig
from adapters.loader import AdaptersFile, build_adapters, load_adapters, parse_adapters
from adapters.modbus import ModbusAdapter
from adapters.opcua import OpcUaAdapter

__all__ = [
    "KINDS",
    "Adapter",
    "AdapterConfig",
    "AdapterStatus",
    "AdaptersFile",
    "Bridge",
    "build_adapters",
    "load_adapters",
    "parse_adapters",
]

#: Every adapter kind, by the ``kind`` an adapters file names.
KINDS: dict[str, type[Adapter]] = {
    ModbusAdapter.kind: ModbusAdapter,
    OpcUaAdapter.kind: OpcUaAdapter,
}
