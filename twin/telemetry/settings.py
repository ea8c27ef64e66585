"""Telemetry settings: defaults, overridden by environment (``TWIN_*``), overridden by CLI.

Pure data (pydantic-settings); building a pipeline from them is ``twin.telemetry.build``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SinkKind", "TelemetrySettings"]

SinkKind = Literal["file", "influx", "none"]


class TelemetrySettings(BaseSettings):
    """Where telemetry goes and how it is batched and kept during outages.

    Environment: ``TWIN_TELEMETRY`` (file|influx|none), ``TWIN_INFLUX_URL``,
    ``TWIN_INFLUX_TOKEN``, ``TWIN_INFLUX_ORG``, ``TWIN_INFLUX_BUCKET`` and ``TWIN_<FIELD>`` for
    every other field. For InfluxDB 1.8+ use bucket ``db/rp`` and token ``user:password``;
    for InfluxDB 3 Core the bucket is the database name.
    """

    model_config = SettingsConfigDict(env_prefix="TWIN_", extra="ignore", allow_inf_nan=False)

    telemetry: SinkKind = "file"
    influx_url: str = "http://127.0.0.1:8086"
    influx_token: SecretStr = SecretStr("")
    influx_org: str = "celltwin"
    influx_bucket: str = Field("celltwin", min_length=1)
    batch_lines: int = Field(5000, ge=1, description="lines per write batch")
    max_in_flight: int = Field(4, ge=1, description="batches being compressed or sent at once")
    flush_interval_s: float = Field(1.0, gt=0, description="send a partial batch after this")
    write_timeout_s: float = Field(10.0, gt=0)
    stop_timeout_s: float = Field(15.0, gt=0, description="shutdown deadline: drain or spool")
    spool_dir: Path | None = Field(None, description="default: <run dir>/telemetry-spool")
    spool_max_bytes: int = Field(256 * 1024 * 1024, gt=0)
    compress_level: int = Field(1, ge=0, le=9, description="gzip level (0: stored, fastest)")
    retry_max_s: float = Field(5.0, gt=0, description="longest pause between replay attempts")
    kpi_period_s: float = Field(3600.0, gt=0, description="simulate: KPI point every (sim s)")
    realtime_kpi_period_s: float = Field(10.0, gt=0, description="twin run: KPIs every (wall s)")
    realtime_signal_period_s: float = Field(1.0, gt=0, description="twin run: signals (sim s)")

    @field_validator("influx_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL")
        return url
