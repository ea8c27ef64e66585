"""Settings of the OPC UA server: network, security, limits and history retention.

Pure data (pydantic); validated without I/O. Paths are relative to the working directory.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_STATE_DIR", "Limits", "ServerSettings"]

DEFAULT_STATE_DIR = Path("var/opcua")


class Limits(BaseModel):
    """Resource limits so a misbehaving client cannot exhaust the server."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    max_sessions: int = Field(100, ge=1, description="concurrent activated sessions")
    max_connections: int = Field(200, ge=1, description="TCP connections, pre-activation included")
    max_subscriptions: int = Field(500, ge=1, description="subscriptions across all sessions")
    max_subscriptions_per_session: int = Field(
        20, ge=1, description="subscriptions of one session (the rest are for the others)"
    )
    max_sessions_per_user: int = Field(
        10, ge=1, description="activated sessions of one user name (anonymous: one user)"
    )
    max_monitored_items_per_subscription: int = Field(50_000, ge=1)
    max_message_size: int = Field(16 * 1024 * 1024, ge=8192, description="bytes per message")
    max_chunk_size: int = Field(65_535, ge=8192, description="bytes per chunk (buffer size)")
    max_session_timeout_ms: float = Field(600_000.0, gt=0)
    max_queue_size: int = Field(1_000, ge=1, description="values queued per monitored item")
    pending_activation_s: float = Field(10.0, gt=0, description="close unactivated connections")
    max_pending_per_address: int = Field(
        10, ge=1, description="TCP connections from one client address without an activated session"
    )
    login_failures_per_user_at_address: int = Field(
        5, ge=1, description="failed logins of one user name from one address before it locks"
    )
    login_failures_per_user: int = Field(
        20, ge=1, description="failed logins of one user name (any address) before it locks"
    )
    login_failures_per_address: int = Field(
        20, ge=1, description="failed logins from one address (any user name) before it locks"
    )
    login_lock_s: float = Field(1.0, gt=0, description="the first lock; each next one doubles")
    login_lock_max_s: float = Field(300.0, gt=0, description="the longest lock")
    password_checks_per_s: float = Field(
        4.0, gt=0, description="password checks (scrypt, one at a time) per second, all logins"
    )
    password_check_burst: int = Field(16, ge=1, description="password checks saved up, at most")


class ServerSettings(BaseModel):
    """Everything ``TwinServer`` needs besides the engine.

    Security is on by default: Basic256Sha256, Aes128Sha256RsaOaep and Aes256Sha256RsaPss in
    Sign and SignAndEncrypt, username/password users from ``users_file``. ``insecure_dev``
    adds security mode None and anonymous access (development only).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    host: str = "127.0.0.1"
    port: int = Field(4840, ge=0, le=65535, description="0 picks a free port")
    path: str = "/cell-twin"
    application_uri: str | None = Field(
        None,
        description="None: urn:<host name>:cell-twin:opcua-server (an installation's certificate"
        " naming the old urn:cell-twin:opcua-server keeps that one until it is renewed)",
    )
    product_uri: str = "urn:cell-twin"
    server_name: str = "cell-twin OPC UA server"
    pki_dir: Path = DEFAULT_STATE_DIR / "pki"
    users_file: Path | None = DEFAULT_STATE_DIR / "users.toml"
    insecure_dev: bool = False
    nodesets_dir: Path | None = None
    history_db: Path = DEFAULT_STATE_DIR / "history.sqlite"
    history_retention_s: float = Field(
        24 * 3600.0, gt=0, description="history older than this (wall seconds) is deleted"
    )
    history_max_values: int = Field(
        100_000, ge=1, description="at most this many values kept per variable"
    )
    history_max_events: int = Field(100_000, ge=1, description="at most this many events kept")
    history_sample_s: float = Field(
        1.0, gt=0, description="process values are historized at most this often (latest value)"
    )
    history_flush_s: float = Field(1.0, gt=0, description="history is written in batches")
    publish_interval_s: float = Field(
        0.1, gt=0, description="how often signal values are copied into the address space"
    )
    kpi_interval_s: float = Field(1.0, gt=0, description="how often cell KPIs are refreshed")
    limits: Limits = Limits()

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}{self.path}"
