"""The ``opcua`` adapter kind: the twin as an OPC UA client of a PLC's OPC UA server.

See README.md in this folder for the configuration and an example.
"""

from __future__ import annotations

from adapters.opcua.adapter import OpcUaAdapter
from adapters.opcua.config import OpcUaConfig

__all__ = ["OpcUaAdapter", "OpcUaConfig"]
