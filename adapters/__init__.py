"""Adapters connecting real or simulated PLCs (OPC UA client, Modbus TCP) to the twin.

Each adapter will be a plugin folder ``adapters/<name>/`` (README, example config, config
model, adapter) with one lifecycle: validate without I/O, ``async start()``, ``async stop()``
with a timeout, reconnect with backoff; mapping external tags to SignalStore signals and back.
Registered explicitly in one registry here. None is implemented yet.
"""

__all__: list[str] = []
