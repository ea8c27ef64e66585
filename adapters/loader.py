"""Adapters files: read and validate (no I/O beyond the file), then bind to a running twin.

Errors are ConfigError naming the file and the field (``adapter[1].write[0].signal``), with
exit code 2 from the CLI, before the twin starts serving.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from adapters.base import Adapter
from adapters.bridge import Bridge
from adapters.config import AdapterConfig
from twin.clock import Clock
from twin.errors import ConfigError
from twin.links import LinkRegistry
from twin.model import format_validation_error, read_toml

if TYPE_CHECKING:
    from twin.api import TwinAPI
    from twin.engine.cell import Engine

__all__ = ["AdaptersFile", "build_adapters", "load_adapters", "parse_adapters"]


class AdaptersFile:
    """The validated adapters of one file (``source``), in file order."""

    def __init__(self, source: str, configs: list[AdapterConfig]) -> None:
        self.source = source
        self.configs = configs


def parse_adapters(
    data: Mapping[str, Any], source: str, kinds: Mapping[str, type[Adapter]]
) -> AdaptersFile:
    """Validate ``{"adapter": [...]}`` (parsed TOML) against each entry's kind."""
    unknown = sorted(set(data) - {"adapter"})
    if unknown:
        raise ConfigError(source, unknown[0], "unknown field (an adapters file has [[adapter]])")
    entries = data.get("adapter", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(source, "adapter", "must be a list of tables ([[adapter]])")
    if not entries:  # a file saved empty or all commented out: not "OK", nothing is linked
        raise ConfigError(source, "adapter", "no adapters: give at least one [[adapter]] table")
    configs: list[AdapterConfig] = []
    names: set[str] = set()
    for i, entry in enumerate(entries):
        kind = entry.get("kind")
        if kind not in kinds:
            raise ConfigError(
                source,
                f"adapter[{i}].kind",
                f"unknown adapter kind {kind!r} (known: {', '.join(sorted(kinds))})"
                if kind is not None
                else f"field required (one of: {', '.join(sorted(kinds))})",
            )
        model = kinds[kind].config_model
        try:
            cfg = model.model_validate(entry)
        except ValidationError as exc:
            # an unknown field is told the field it likely misspells ("reads": "read"); a
            # value is echoed as a scenario's is ("got 'discret' (did you mean 'discrete'?)")
            # unless _strict words it its own way (a string or boolean for a number)
            plain = format_validation_error(source, exc, model, echo=False)
            err = _strict(plain, exc)
            if err is plain:
                err = format_validation_error(source, exc, model)
            raise _in_entry(err, i) from exc
        if cfg.name in names:
            raise ConfigError(source, f"adapter[{i}].name", f"{cfg.name!r} used twice")
        names.add(cfg.name)
        configs.append(cfg)
    _apart(source, configs)
    return AdaptersFile(source, configs)


def _apart(source: str, configs: list[AdapterConfig]) -> None:
    """ConfigError for two enabled adapters that clash (``AdapterConfig.clashes``: one
    ``pki_dir``, a register both write), naming the later one's field and the earlier one."""
    for i, cfg in enumerate(configs):
        for j, other in enumerate(configs[:i]):
            if cfg.enabled and other.enabled:
                for field, why in cfg.clashes(other, f"adapter[{j}] ({other.name})"):
                    raise ConfigError(source, f"adapter[{i}].{field}", why)


def _strict(err: ConfigError, exc: ValidationError) -> ConfigError:
    """``err`` saying what was written where a strict number or boolean was expected (TOML
    has them: ``"0.5"`` or ``true`` for a number, ``"no"`` for a boolean are mistakes);
    ``err`` itself for any other error."""
    for e in exc.errors(include_url=False):
        if e["type"] in ("float_type", "bool_type") and err.reason.startswith(e["msg"]):
            value = e["input"]
            want = "a number" if e["type"] == "float_type" else "true or false"
            if isinstance(value, str):
                quotes = ": write the number without quotes" if e["type"] == "float_type" else ""
                got = f"the string {value!r}{quotes}"
            elif isinstance(value, bool):
                got = f"the boolean {str(value).lower()}"
            else:
                got = repr(value)
            reason = f"expected {want}, got {got}" + err.reason[len(e["msg"]) :]
            return ConfigError(err.source, err.field, reason)
    return err


def _in_entry(err: ConfigError, i: int) -> ConfigError:
    """``err`` (of one entry's model) placed in the ``i``-th adapter."""
    field = f"adapter[{i}]" if err.field in (None, "(top level)") else f"adapter[{i}].{err.field}"
    return ConfigError(err.source, field, err.reason)


def load_adapters(path: str | Path, kinds: Mapping[str, type[Adapter]]) -> AdaptersFile:
    """Read and validate an adapters TOML file; ConfigError naming file and field (or only
    the file, for one that is not TOML or nests too deeply to be read: ``read_toml``)."""
    return parse_adapters(read_toml(path), str(path), kinds)


def build_adapters(
    file: AdaptersFile,
    engine: Engine,
    api: TwinAPI,
    kinds: Mapping[str, type[Adapter]],
    clock: Clock | None = None,
    links: LinkRegistry | None = None,
) -> list[Adapter]:
    """One adapter per enabled entry, bound to the twin (no I/O) and registered in ``links``
    (a new registry when not given). ConfigError for a signal or machine the cell lacks, a
    signal fed by two inputs, or a machine faulted by two tags (the first to clear would clear
    the other's fault too)."""
    links = links if links is not None else LinkRegistry()
    adapters: list[Adapter] = []
    owner: dict[tuple[str, str], str] = {}  # (signal | machine, what) -> the field that has it

    def claim(key: str, what: str, field: str) -> None:
        other = owner.setdefault((key, what), field)
        if other != field:
            raise ConfigError(file.source, field, f"{key!r} is already {what} by {other}")

    for i, cfg in enumerate(file.configs):
        if not cfg.enabled:
            continue
        where = f"adapter[{i}]"
        bridge = Bridge(cfg, engine, api, file.source, where, links=links)
        for j, m in enumerate(cfg.read):
            claim(m.signal, "fed", f"{where}.read[{j}].signal")
        for j, f in enumerate(cfg.fault):
            claim(f.machine, "faulted", f"{where}.fault[{j}].machine")
        adapters.append(kinds[cfg.kind](cfg, bridge, clock))
    return adapters
