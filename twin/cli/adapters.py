"""``twin run --adapters FILE`` wiring and ``twin adapters check``: PLCs linked to the twin.

The file is read and validated before anything starts (ConfigError naming file and field);
the adapters are bound to the cell once the engine exists (every signal and machine named
must be in it), started after the OPC UA server and stopped before it, within a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from twin.cli.common import DEFAULT_SCENARIO
from twin.engine.cell import Engine
from twin.errors import ConfigError
from twin.links import LinkRegistry
from twin.text import plural

if TYPE_CHECKING:
    from adapters import Adapter, AdaptersFile
    from twin.api import TwinAPI

__all__ = ["AdaptersOption", "InsecurePlcOption", "LinkedPlcs", "register", "warn_insecure"]

AdaptersOption = Annotated[
    Path | None,
    typer.Option(
        "--adapters",
        help="adapters file (TOML): PLCs linked to the twin over Modbus TCP or OPC UA",
    ),
]
STOP_WITHIN_S = 5.0


InsecurePlcOption = Annotated[
    bool,
    typer.Option(
        "--insecure-plc",
        help="allow adapters linked without encryption (an OPC UA PLC with security_policy"
        ' = "None"); the OPC UA server keeps its own security',
    ),
]
#: loggers' levels while adapters run
_LEVELS = {
    "adapters": logging.INFO,  # connects and losses are news
    "pymodbus": logging.ERROR,  # the adapters say it, once
    # asyncua's client logs each retry's ServiceFault and a crashed publish loop with its
    # traceback: the adapters say what happened to the link, once, naming themselves
    "asyncua.client": logging.CRITICAL,
    "asyncua.common.subscription": logging.CRITICAL,
}
_UNENCRYPTED = (
    "None (no encryption) needs --insecure-dev or --insecure-plc (unencrypted PLC links only;"
    " the server keeps its security)"
)


class LinkedPlcs:
    """The adapters of one ``twin run``: none without a file. ``links`` is where they report
    their link state (the OPC UA server shows it). An adapter whose link is unencrypted
    (``insecure_by``) is refused (ConfigError) unless ``unencrypted`` allows it."""

    def __init__(self, path: Path | None, unencrypted: bool) -> None:
        self.file: AdaptersFile | None = None
        self.adapters: list[Adapter] = []
        self.links = LinkRegistry()
        self._levels: dict[str, int] = {}  # loggers' levels before start()
        if path is None:
            return
        from adapters import KINDS, load_adapters

        self.file = load_adapters(path, KINDS)
        for i, cfg in enumerate(self.file.configs):
            if cfg.insecure_by is not None and not unencrypted:
                raise ConfigError(str(path), f"adapter[{i}].{cfg.insecure_by}", _UNENCRYPTED)

    def bind(self, engine: Engine, api: TwinAPI) -> None:
        """Check the mappings against the cell and make the adapters (no I/O)."""
        if self.file is None:
            return
        from adapters import KINDS, build_adapters

        self.adapters = build_adapters(self.file, engine, api, KINDS, links=self.links)

    @property
    def warnings(self) -> list[str]:
        """What the bound mappings allow but will go wrong (``Bridge.warnings``)."""
        return [w for a in self.adapters for w in a.bridge.warnings]

    async def start(self, console: Console) -> None:
        if not self.adapters:
            return
        for name, level in _LEVELS.items():  # as they were again at stop()
            logger = logging.getLogger(name)
            self._levels.setdefault(name, logger.level)
            logger.setLevel(level)
        err = Console(stderr=True, soft_wrap=True, highlight=False)
        for w in self.warnings:
            err.print(f"warning: {w}", markup=False)
        for a in self.adapters:
            await a.start()
            console.print(f"adapter {a.name}: {a.cfg.kind} link to {a.endpoint}")
        warn_insecure(self.adapters, err)

    async def stop(self, console: Console) -> None:
        await asyncio.gather(*(a.stop(STOP_WITHIN_S) for a in self.adapters))  # one deadline
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
        self._levels.clear()
        for a in self.adapters:
            st = a.status
            last = ""
            if st.last_error and st.resolved:  # fixed long ago: not to be read as the end state
                last = f" (last error, since resolved: {st.last_error})"
            elif st.last_error:
                last = f" (last: {st.last_error})"
            console.print(
                f"adapter {a.name}: {plural(st.cycles, 'cycle')}, "
                f"{plural(st.written, 'value')} written, {plural(st.connects, 'connect')}, "
                f"{plural(st.failures, 'failure')}"
                + (f", {plural(len(st.bad_tags), 'bad tag')}" if st.bad_tags else "")
                + last,
                markup=False,
            )


def warn_insecure(adapters: Sequence[Adapter], err: Console) -> None:
    """Warn on ``err`` of the adapters linked without encryption, saying why (OPC UA with
    security None, Modbus TCP always; a box on a terminal, else one line, never cut) and,
    less loudly, of those whose PLC's certificate is not pinned yet (trusted on first
    use)."""
    unencrypted = [a for a in adapters if a.cfg.unencrypted is not None]
    if unencrypted:
        names = ", ".join(f"{a.name} ({a.endpoint}: {a.cfg.unencrypted})" for a in unencrypted)
        text = (
            f"Adapters linked WITHOUT ENCRYPTION: {names}. Anyone on their network can read"
            " and change what the twin and the PLC exchange. Keep the PLCs on a segregated"
            " control network."
        )
        if err.is_terminal:  # wrapped to its width
            err.print(Panel(Text(text), title="WARNING", style="bold red"))
        else:  # a file or a pipe: a box of 80 columns would cut long names
            err.print(f"warning: {text}", markup=False, style="bold red")
    # validation refuses an encrypted link without a certificate to verify unless it is
    # trusted on first use: a certificate not yet verified is one not yet pinned
    for a in adapters:
        if (pins_at := a.cfg.pins_at) is not None:
            err.print(
                f"warning: adapter {a.name}: the PLC's certificate will be trusted on first use:"
                f" check the SHA-256 fingerprint logged at the first connect to {a.endpoint};"
                f" it is then pinned in {pins_at}",
                markup=False,
                style="yellow",
            )


adapters_app = typer.Typer(help="PLCs linked to the twin (Modbus TCP, OPC UA client).")


@adapters_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="adapters file (TOML)")],
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file")] = DEFAULT_SCENARIO,
) -> None:
    """Validate an adapters file against a scenario's cell, without connecting to anything."""
    from twin.api import TwinAPI
    from twin.model import load_scenario

    plcs = LinkedPlcs(file, unencrypted=True)  # said below, per adapter
    engine = Engine(load_scenario(scenario), signals=True)
    plcs.bind(engine, TwinAPI(engine))
    assert plcs.file is not None
    for w in plcs.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for cfg in plcs.file.configs:
        maps = len(cfg.read) + len(cfg.write) + len(cfg.fault) + len(cfg.state)
        state = "" if cfg.enabled else " (disabled: not checked against the cell)"
        if cfg.insecure_by is not None:
            state += f" ({cfg.insecure_by} None: needs --insecure-plc or --insecure-dev)"
        if cfg.pins_at is not None:  # trusted on first use (``warn_insecure``)
            state += (
                " (trust_on_first_use: the certificate the PLC presents at the first connect"
                f" is pinned in {cfg.pins_at})"
            )
        print(f"{cfg.name}: {cfg.kind}, {plural(maps, 'mapping')}{state}")
    print(f"{file}: OK against {scenario}")


def register(app: typer.Typer) -> None:
    app.add_typer(adapters_app, name="adapters")
