"""Telemetry settings: defaults, overridden by environment (``TWIN_*``), overridden by CLI.

Pure data (pydantic-settings); building a pipeline from them is ``twin.telemetry.build``.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    ByteSize,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from twin.net import is_loopback

__all__ = [
    "InfluxToken",
    "SinkKind",
    "TelemetrySettings",
    "excerpt",
    "influx_url_problem",
    "redact",
    "token_source",
    "token_warnings",
]

SinkKind = Literal["file", "influx", "none"]


_BYTE_SIZE = TypeAdapter(ByteSize)


def _byte_size(value: object) -> object:
    """A size such as "256MiB" or "1 GB" as bytes; other values as they are (checked as int)."""
    if isinstance(value, str) and not value.strip().isdigit():
        try:
            return int(_BYTE_SIZE.validate_python(value))
        except ValueError:  # pydantic's ValidationError
            raise ValueError(
                f"expected bytes or a size such as 256MiB or 1GB, got {value!r}"
            ) from None
    return value


#: the settings that can give the token, for messages that cannot tell which one did
ANY_TOKEN_SETTING = "TWIN_INFLUX_TOKEN, TWIN_INFLUX_TOKEN_FILE or --influx-token"  # noqa: S105 (names)


def influx_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the InfluxDB URL (None when it can); never repeats a password.

    Credentials in the URL are refused: the client sends the token as an Authorization
    header, which aiohttp will not combine with credentials in the URL.
    """
    try:
        netloc = urlsplit(url).netloc
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket; the text names no part of it
        return f"is not a valid URL ({exc})"
    # without a scheme ("user:pass@db:8086") the credentials are not in the netloc
    if "@" in netloc or "@" in url.split("/", 1)[0]:
        return (
            "must not contain a user name or password (user:password@): give the credentials"
            f" as the token instead ({ANY_TOKEN_SETTING}; user:password for InfluxDB 1.8)"
        )
    if not url.startswith(("http://", "https://")):
        return f"{url!r} is not an http(s) URL"
    return None


class InfluxToken(str):
    """A token that remembers which setting gave it (``setting``: ``TWIN_INFLUX_TOKEN``,
    ``TWIN_INFLUX_TOKEN_FILE`` with its ``path``, or ``--influx-token``), so that a refusal
    names the setting to fix, never the value. It is a ``str``: whatever takes the token as
    text (``build_pipeline``, the sinks) passes it on with its source. Its repr hides the
    value.
    """

    setting: str
    path: Path | None

    def __new__(cls, value: str, setting: str, path: Path | None = None) -> InfluxToken:
        token = super().__new__(cls, value)
        token.setting = setting
        token.path = path
        return token

    def __getnewargs__(self) -> tuple[str, str, Path | None]:  # type: ignore[override]
        return str(self), self.setting, self.path  # copy and pickle

    def __repr__(self) -> str:
        return f"InfluxToken('**********', {self.source!r})"

    @property
    def source(self) -> str:
        """The setting that gave it, with the file: ``TWIN_INFLUX_TOKEN_FILE (/run/token)``."""
        return self.setting if self.path is None else f"{self.setting} ({self.path})"


def token_source(token: str) -> str | None:
    """The setting that gave ``token`` (None when it does not say: a plain ``str``)."""
    return token.source if isinstance(token, InfluxToken) else None


REDACTED = "[REDACTED]"
#: credentials as a server or a proxy may quote them: an Authorization header's value, or
#: a scheme and its credentials anywhere ("Token 0aF3...==", "Bearer eyJ0...", "Basic
#: dXNlcjpw"): at least 8 characters, one of them a digit or a sign (never a word: "Token
#: required")
_CREDENTIALS = re.compile(
    r"(?i:(\bauthorization\b[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,}]+)"
    r"|\b(Token|Bearer|Basic|token|bearer|basic)(\s+)"
    r"(?=[\w.~+/=:-]{8})(?=[\w.~+/=:-]*[\d.~+/=:_-])[\w.~+/=:-]+"
)
#: a token part shorter than this is not looked for as such (it would blank common text);
#: the patterns above still hide it where a server quotes it as credentials
_MIN_SECRET = 4


def redact(text: str, token: str = "") -> str:
    """``text`` (what a server answered, an error's words) with credentials hidden: the
    value of ``token``, its password part (``user:password`` for InfluxDB 1.8) and both as
    Basic credentials, and whatever follows ``Authorization:``, ``Token``, ``Bearer`` or
    ``Basic``. For every text quoted from a server onto the console or into status files."""
    secrets = {token, token.partition(":")[2]} if token else set()
    secrets |= {base64.b64encode(t.encode()).decode() for t in set(secrets)}
    for secret in sorted((t for t in secrets if len(t) >= _MIN_SECRET), key=len, reverse=True):
        text = text.replace(secret, REDACTED)

    def hide(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return m.group(1) + REDACTED
        return m.group(2) + m.group(3) + REDACTED

    return _CREDENTIALS.sub(hide, text)


#: an HTML page (a proxy's or a server's error page), its title, and its tags
_HTML = re.compile(r"<!doctype html|<html[\s>]|<body[\s>]|<head[\s>]|<title[\s>]", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def excerpt(text: str, token: str = "", limit: int = 500) -> str:
    """What a server answered (``text``), as a message quotes it: credentials hidden
    (``redact``, ``token`` the one sent); an HTML page (a proxy's error page: nginx's 502
    is six lines of markup) by its title, or its first line of text when it has none; on one
    line (white space collapsed); at most ``limit`` characters, a cut one ending in ``…``."""
    said = redact(text, token)
    if _HTML.search(said):
        title = _TITLE.search(said)
        lines = _TAG.sub("\n", said if title is None else title.group(1)).splitlines()
        said = html.unescape(next((line for line in lines if line.strip()), ""))
    said = " ".join(said.split())
    return said if len(said) <= limit else said[: limit - 1] + "…"


def token_warnings(url: str, token: str) -> list[str]:
    """What is unsafe in how ``token`` is given and sent to ``url``: a token given on the
    command line (any user sees it in ``ps``), or sent unencrypted (http://) to another
    host than this one (a name without a dot, such as compose's ``influxdb``, counts as a
    container beside this one: the stack would warn at every start)."""
    if not token:
        return []
    warnings = []
    if token_source(token) == "--influx-token":
        warnings.append(
            "--influx-token puts the token on the command line, where every user of this host"
            " can read it (ps, /proc) and the shell history keeps it: set TWIN_INFLUX_TOKEN_FILE"
            " (a file only you can read) or TWIN_INFLUX_TOKEN instead"
        )
    parts = urlsplit(url)
    host = parts.hostname or ""
    # a name without a dot is a container on this host's network (compose's "influxdb")
    nearby = is_loopback(host) or (":" not in host and "." not in host)
    if parts.scheme == "http" and not nearby:
        warnings.append(
            f"the token goes unencrypted (http://) to {host}: anyone on the network between"
            " can read it and write to the database; use https://"
        )
    return warnings


def _read_token(path: Path) -> str:
    """The token in ``path`` without surrounding white space (a secret file often ends in a
    newline); ValueError saying why not, never quoting the file."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text") from exc
    if not token:
        raise ValueError(f"{path} is empty")
    return token


class TelemetrySettings(BaseSettings):
    """Where telemetry goes and how it is batched and kept during outages.

    Environment: ``TWIN_TELEMETRY`` (file|influx|none), ``TWIN_INFLUX_URL``,
    ``TWIN_INFLUX_TOKEN`` (or ``TWIN_INFLUX_TOKEN_FILE``: a file holding it, e.g. a Docker
    secret), ``TWIN_INFLUX_ORG``, ``TWIN_INFLUX_BUCKET`` and ``TWIN_<FIELD>`` for every other
    field. For InfluxDB 1.8+ use bucket ``db/rp`` and token ``user:password``; for InfluxDB 3
    Core the bucket is the database name. The URL holds no credentials (refused).

    A token file is read when the settings are built, as the environment is; ``influx_token``
    then holds its content. The token is an ``InfluxToken`` naming the setting that gave it
    (``settings_from_cli`` names ``--influx-token``). Errors never show the values given
    (URL passwords, tokens).
    """

    model_config = SettingsConfigDict(
        env_prefix="TWIN_", extra="ignore", allow_inf_nan=False, hide_input_in_errors=True
    )

    telemetry: SinkKind = "file"
    influx_url: str = "http://127.0.0.1:8086"
    # before influx_token: its validator reads the file this one has checked
    influx_token_file: Path | None = Field(None, description="file holding the token")
    influx_token: SecretStr = Field(SecretStr(""), validate_default=True)
    influx_org: str = "celltwin"
    influx_bucket: str = Field("celltwin", min_length=1)
    batch_lines: int = Field(5000, ge=1, description="lines per write batch")
    max_in_flight: int = Field(4, ge=1, description="batches being compressed or sent at once")
    flush_interval_s: float = Field(1.0, gt=0, description="send a partial batch after this")
    write_timeout_s: float = Field(10.0, gt=0)
    stop_timeout_s: float = Field(15.0, gt=0, description="shutdown deadline: drain or spool")
    spool_dir: Path | None = Field(None, description="default: <run dir>/telemetry-spool")
    # bytes, or a size such as "256MiB", "1 GB" (pydantic's ByteSize); a plain int in use
    spool_max_bytes: Annotated[int, BeforeValidator(_byte_size)] = Field(256 * 1024 * 1024, gt=0)
    compress_level: int = Field(1, ge=0, le=9, description="gzip level (0: stored, fastest)")
    retry_max_s: float = Field(5.0, gt=0, description="longest pause between replay attempts")
    kpi_period_s: float = Field(3600.0, gt=0, description="simulate: KPI point every (sim s)")
    realtime_kpi_period_s: float = Field(10.0, gt=0, description="twin run: KPIs every (wall s)")
    realtime_signal_period_s: float = Field(1.0, gt=0, description="twin run: signals (sim s)")

    @field_validator("influx_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        problem = influx_url_problem(url)
        if problem:
            raise ValueError(problem)
        return url

    @field_validator("influx_token_file")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        if path is not None:
            _read_token(path)
        return path

    @field_validator("influx_token")
    @classmethod
    def _from_file(cls, token: SecretStr, info: ValidationInfo) -> SecretStr:
        path = info.data.get("influx_token_file")
        value = token.get_secret_value()
        if path is None:
            if not value or isinstance(value, InfluxToken):
                return token
            return SecretStr(InfluxToken(value, "TWIN_INFLUX_TOKEN"))
        if value:
            raise ValueError("TWIN_INFLUX_TOKEN_FILE gives the token too: set one of the two")
        return SecretStr(InfluxToken(_read_token(path), "TWIN_INFLUX_TOKEN_FILE", path))
