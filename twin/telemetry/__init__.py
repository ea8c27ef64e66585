"""Telemetry: the twin's events, signals and KPIs as InfluxDB line protocol, with nothing lost.

Sinks behind one interface (``file``: gzip'd line protocol in the run directory; ``influx``:
the InfluxDB v2 write API), batching with vectorised serialisation, bounded in-flight
batches with back-pressure, and a bounded fsync'd spool that is replayed when the database is
back. The schema is in ``twin.telemetry.schema`` and ``dashboards/SCHEMA.md``.
"""

from twin.telemetry.lineprotocol import escape_key, escape_measurement, field_value, frame_lines
from twin.telemetry.pipeline import TelemetryPipeline, TelemetryStats
from twin.telemetry.schema import STATE_CODES, LineEncoder, datetime_ns
from twin.telemetry.settings import TelemetrySettings
from twin.telemetry.sinks import (
    FileSink,
    InfluxSink,
    RefusedWriteError,
    RejectedWriteError,
    Sink,
    TransientWriteError,
)
from twin.telemetry.spool import Spool, spool_depth
from twin.telemetry.wiring import (
    FILE_NAME,
    PREVIOUS_FILE_NAME,
    SPOOL_DIR,
    attach_realtime,
    build_pipeline,
    simulate_with_telemetry,
)

__all__ = [
    "FILE_NAME",
    "PREVIOUS_FILE_NAME",
    "SPOOL_DIR",
    "STATE_CODES",
    "FileSink",
    "InfluxSink",
    "LineEncoder",
    "RefusedWriteError",
    "RejectedWriteError",
    "Sink",
    "Spool",
    "TelemetryPipeline",
    "TelemetrySettings",
    "TelemetryStats",
    "TransientWriteError",
    "attach_realtime",
    "build_pipeline",
    "datetime_ns",
    "escape_key",
    "escape_measurement",
    "field_value",
    "frame_lines",
    "simulate_with_telemetry",
    "spool_depth",
]
