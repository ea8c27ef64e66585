"""Modbus TCP adapter: PLC registers and coils mapped to the twin's signals, faults and states
(see README.md in this folder, and example.toml)."""

from __future__ import annotations

from adapters.modbus.adapter import ModbusAdapter
from adapters.modbus.config import ModbusConfig

__all__ = ["ModbusAdapter", "ModbusConfig"]
