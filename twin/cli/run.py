"""``twin run``: the cell in real time, served over OPC UA until Ctrl-C.

The runner only wires: engine (with signal sampling) + RealtimeDriver + TwinAPI + TwinServer
+ telemetry. Ctrl-C (or SIGTERM) stops the driver, drains or spools telemetry, closes the
sessions, flushes history, writes the event log and a snapshot of the twin's state. Accepted
commands are on disk at once, the other events every second, so ``--resume`` restores a twin
that was killed close to where it was (``twin.cli.rundir``). The twin's clock ends at
``rundir.END`` (2262-04-11): the run stops there as at Ctrl-C, and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import secrets
import signal
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel

from twin.api import TwinAPI
from twin.cli.adapters import AdaptersOption, InsecurePlcOption, LinkedPlcs
from twin.cli.common import DEFAULT_SCENARIO
from twin.cli.live import LiveDriver, LiveTelemetry, running_line
from twin.cli.rundir import (
    DEFAULT_RUN_DIRS,
    DURABLE,
    END,
    END_WHY,
    EVENTS,
    LogFlusher,
    hold,
    hold_history,
    new_history,
    new_log,
    previous_run,
    restore,
    run_info,
    write_info,
)
from twin.cli.telemetry import (
    InfluxBucketOption,
    InfluxOrgOption,
    InfluxTokenOption,
    InfluxUrlOption,
    TelemetryOption,
    settings_from_cli,
)
from twin.engine import commands
from twin.engine.cell import Engine
from twin.errors import ConfigError, ServiceError, TwinError
from twin.events import Event, EventLogWriter, guarded
from twin.files import directory_problem
from twin.kpi import KpiCollector
from twin.model import load_scenario
from twin.net import is_loopback
from twin.runtime import RealtimeDriver
from twin.text import plural

if TYPE_CHECKING:
    from opcua_server import ServerSettings
    from opcua_server.nodes.job_records import JobRecords
    from twin.model.scenario import Scenario

__all__ = ["register"]

_STATE = Path("var/opcua")


def run(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML file")] = DEFAULT_SCENARIO,
    speed: Annotated[float, typer.Option(help="simulated seconds per wall second")] = 60.0,
    host: Annotated[
        str, typer.Option(help="address to listen on (0.0.0.0: all interfaces)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port)")] = 4840,
    users: Annotated[Path, typer.Option(help="users file (twin users add)")] = _STATE
    / "users.toml",
    pki: Annotated[Path, typer.Option(help="certificates and trust list")] = _STATE / "pki",
    history: Annotated[
        Path | None,
        typer.Option(
            help="SQLite history database (default: OUT/history.sqlite); a new run starts"
            " a new one (the last kept as history.prev.sqlite), --resume keeps it",
            show_default=False,
        ),
    ] = None,
    retention: Annotated[float, typer.Option(help="history retention, hours")] = 24.0,
    out: Annotated[
        Path, typer.Option(help="run directory: run.json, event log, snapshot on exit")
    ] = DEFAULT_RUN_DIRS["twin run"],
    resume: Annotated[
        bool, typer.Option("--resume", help="restore the twin from OUT's event log, continue")
    ] = False,
    resume_if_possible: Annotated[
        bool,
        typer.Option(
            "--resume-if-possible",
            help="as --resume, but start afresh (keeping the log, with a warning) when OUT's"
            " log cannot be resumed: another scenario or twin version (unattended restarts)",
        ),
    ] = False,
    insecure_dev: Annotated[
        bool,
        typer.Option(
            "--insecure-dev",
            help="DEVELOPMENT ONLY: also offer security None and anonymous (and allow"
            " unencrypted adapters, as --insecure-plc)",
        ),
    ] = False,
    insecure_dev_any_host: Annotated[
        bool,
        typer.Option(
            "--insecure-dev-any-host",
            help="allow --insecure-dev with a --host other than loopback (a network that is"
            " yours alone)",
        ),
    ] = False,
    insecure_plc: InsecurePlcOption = False,
    telemetry: TelemetryOption = None,
    influx_url: InfluxUrlOption = None,
    influx_org: InfluxOrgOption = None,
    influx_bucket: InfluxBucketOption = None,
    influx_token: InfluxTokenOption = None,
    adapters: AdaptersOption = None,
) -> None:
    """Run SCENARIO in real time x SPEED and serve it over OPC UA until Ctrl-C.

    With --resume, restore the twin from the event log in OUT (the same scenario file: its
    seed and rule come with it) and continue from its last event; without an event log,
    start afresh. --resume-if-possible also starts afresh when the log cannot be resumed.

    With --adapters, link the PLCs the file names (Modbus TCP, OPC UA) to the twin.

    The twin's clock runs on the wall clock's axis and ends on 2262-04-11T23:47:16Z (at
    speed 1e6, two hours from now): the run stops there by itself. A second Ctrl-C hurries
    the stop: telemetry not yet delivered goes to the spool at once. Exit code 1 when
    telemetry lines were lost, or are kept because the server refused them (as twin
    simulate).
    """
    from opcua_server import ServerSettings, TwinServer
    from opcua_server.app import preflight
    from opcua_server.users import AUDIT_LOGGER

    logging.getLogger(AUDIT_LOGGER).setLevel(logging.INFO)  # every login, as it happens
    console = Console(soft_wrap=True)  # URLs and paths must stay copyable: never wrap them
    if not 0 < speed <= 1e6:
        raise ConfigError("command line", "--speed", "must be in (0, 1e6]")
    if retention <= 0:
        raise ConfigError("command line", "--retention", "must be > 0")
    if not 0 <= port <= 65535:  # before ServerSettings: one line, not pydantic's traceback
        raise ConfigError("command line", "--port", "must be in [0, 65535] (0: any free port)")
    sc = load_scenario(scenario)
    plcs = LinkedPlcs(adapters, unencrypted=insecure_plc or insecure_dev)
    info = run_info(scenario, sc)
    tsettings = settings_from_cli(
        telemetry=telemetry,
        influx_url=influx_url,
        influx_org=influx_org,
        influx_bucket=influx_bucket,
        influx_token=influx_token,
    )
    settings = ServerSettings(
        host=host,
        port=port,
        users_file=users,
        pki_dir=pki,
        history_db=out / "history.sqlite" if history is None else history,
        history_retention_s=retention * 3600.0,
        insecure_dev=insecure_dev,
    )
    # before anything is created, restored or rotated: a bad users file, certificate folder
    # or history database, missing NodeSet2 files or a taken port -> one line
    _check_files(settings)
    try:
        nodesets, port = preflight(settings)
    except OSError as exc:  # --port 0: finding a free port (any other port: ServiceError)
        reason = f"cannot listen on {host} (--host): {exc.strerror or exc}"
        raise ServiceError(reason) from exc
    settings = settings.model_copy(update={"port": port})
    _check_insecure_host(host, insecure_dev, any_host=insecure_dev_any_host)
    # one twin per run directory, before anything in it is read or written; the event log
    # is closed however the run ends (a refused --adapters file after a restore included)
    with hold(out), contextlib.ExitStack() as closing:
        if settings.history_db.absolute().parent != out.absolute():  # else held with out
            closing.enter_context(hold_history(settings.history_db))
        log_fh: IO[bytes] | None = None
        restored = None
        records: JobRecords | None = None  # not restored: the server keeps its own
        if (old := _old_history(history)) is not None:  # a run that starts: said once
            console.print(old, style="yellow", markup=False)
        if resume or resume_if_possible:
            restored = _restore(out, sc, info, console, strict=not resume_if_possible)
        if restored is None:
            new_history(settings.history_db, out, console.print)  # the last run's is not ours
            kpi = KpiCollector.for_cell(sc.cell)  # the run's, from 0 (not one a refused replay fed)
            engine = Engine(sc, signals=True)
            engine.bus.subscribe(_followed(kpi))
            driver = LiveDriver(engine, speed)
        else:
            engine, log_fh, sim_start, kpi, records = restored
            closing.enter_context(log_fh)
            driver = LiveDriver(engine, speed, origin=sim_start)
            if (behind := driver.behind()) >= 1.0:  # at speed >= 1: never stamps in the past
                console.print(
                    f"the twin's clock is {behind:,.0f} s behind the wall clock on the run's"
                    " time axis (the time it was down): it catches up as fast as possible at"
                    " start, then goes on in real time"
                )

        def sample(_t: float) -> None:
            engine.sample_signals()

        driver.on_step.append(sample)  # before the server's hook: it publishes what was sampled
        api = TwinAPI(engine, driver)
        plcs.bind(engine, api)
        server = TwinServer(
            engine,
            settings,
            driver=driver,
            api=api,
            nodesets=nodesets,
            links=plcs.links,
            kpi=kpi,
            job_records=records,
        )
        if log_fh is None:  # not restored: a new log
            log_fh = new_log(out, console.print)  # before run.json: no new record on an old log
            closing.enter_context(log_fh)
            write_info(out, info, driver.wall_time(0.0))
        writer = EventLogWriter(log_fh, durable=DURABLE)
        engine.bus.subscribe(writer)
        flusher = LogFlusher(writer, log_fh, driver.clock)
        try:
            links = plcs.links if plcs.adapters else None  # the PLCs' states, when linked
            sinks = LiveTelemetry(tsettings, out, kpi, resume=restored is not None, links=links)
            # the last thing before the server reads it: its password is shown once, in the
            # banner, or when the start fails (no later start would show it)
            initial = _initial_user(users) if not insecure_dev and not users.exists() else None
            asyncio.run(_serve(server, driver, console, initial, sinks, plcs, flusher))
        finally:
            # logged durably (every line before it written and synced with it): a resumed
            # twin goes on from here
            commands.stop(engine)
            log_fh.close()
            (out / "snapshot.json").write_text(
                json.dumps(engine.snapshot(), indent=1, sort_keys=True, default=str) + "\n",
                encoding="utf-8",
            )
        if driver.ended:
            console.print(
                f"reached {END:%Y-%m-%dT%H:%M:%SZ}, where the clock of twin run ends"
                f" ({END_WHY}); a new run (without --resume) starts at the wall clock's time"
            )
        console.print(
            f"stopped at simulated time {engine.now:.1f} s; event log and snapshot in {out}"
        )
    if sinks.undelivered:  # telemetry lost or refused: its line above says what and why
        raise typer.Exit(1)


def _followed(kpi: KpiCollector) -> Callable[[Event], None]:
    """The run's KPIs as a subscriber whose failure does not reach the engine."""
    return guarded(kpi, logging.getLogger("twin.kpi"), "KPIs", "the KPIs may miss it")


def _restore(
    out: Path,
    sc: Scenario,
    info: dict[str, Any],
    console: Console,
    *,
    strict: bool,
) -> tuple[Engine, IO[bytes], datetime, KpiCollector, JobRecords] | None:
    """The twin restored from ``out``'s event log, its new log, its ``sim_start``, the
    run's KPIs and its job orders' records from time 0 (server and telemetry: the replay fed
    them: responses keep their StartTime, ended orders not cleared stay listed); None when there is
    no log, or (not ``strict``) when it cannot be resumed: the new run keeps it
    (``new_log``), and its accepted orders stay in it, not in the new run (said loudly)."""
    flag = "--resume" if strict else "--resume-if-possible"
    try:
        previous = previous_run(out, info)
        if previous is None:
            console.print(f"{flag}: no event log in {out}, starting afresh")
            return None
        log, sim_start = previous
        from opcua_server.nodes.job_records import JobRecords

        kpi = KpiCollector.for_cell(sc.cell)
        records = JobRecords()
        job_log = logging.getLogger("opcua_server.nodes.job_records")
        follow = (
            _followed(kpi),
            guarded(records, job_log, "job records", "a job order's response may miss it"),
        )
        engine, log_fh = restore(out, sc, log, console.print, follow=follow)
    except ConfigError as exc:
        if strict:
            raise
        Console(stderr=True, soft_wrap=True).print(  # one line: container logs, grep
            f"WARNING: cannot resume {out / EVENTS}: {exc}. Starting afresh: the log is kept"
            " (the next line says where), with the orders it accepted; they are not in this"
            " run.",
            style="bold red",
            markup=False,
            highlight=False,
        )
        return None
    console.print(
        f"restored {plural(len(log.commands), 'command')} from {out / EVENTS}; "
        f"resuming at simulated time {engine.now:.1f} s"
    )
    return engine, log_fh, sim_start, kpi, records


def _old_history(history: Path | None) -> str | None:
    """A note when the history database of versions before the run directory kept it (the
    former default, ``var/opcua/history.sqlite``) is there and no ``--history`` is given:
    it is no longer read."""
    old = _STATE / "history.sqlite"
    if history is not None or not old.exists():
        return None
    return (
        f"note: {old}, the OPC UA history of earlier versions, is no longer read: a run keeps"
        " its history in its run directory (OUT/history.sqlite); give --history"
        f" {old} to go on with it, or delete it"
    )


def _check_files(s: ServerSettings) -> None:
    """The server's files as ``--users``, ``--pki`` and ``--history`` name them, checked
    without changing anything; raises ConfigError naming the option (or the users file and
    entry) when one is of the wrong kind or cannot be made where it is to be."""
    from opcua_server import load_users

    users, pki, history = s.users_file, s.pki_dir, s.history_db
    assert users is not None  # twin run always names one
    if users.is_dir():
        raise ConfigError("command line", "--users", f"{users} is a directory, not a users file")
    if users.exists():
        load_users(users)  # read at start anyway (under --insecure-dev too)
    elif not s.insecure_dev:  # the first run creates it
        _check_dir("--users", users.parent)
    if not pki.is_dir():  # one that exists may be read-only: it may hold all it needs
        _check_dir("--pki", pki)
    for sub in ("own", "trusted", "rejected", "crl"):
        if (pki / sub).exists() and not (pki / sub).is_dir():
            raise ConfigError("command line", "--pki", f"{pki / sub} is not a directory")
    if history.is_dir():
        raise ConfigError(
            "command line", "--history", f"{history} is a directory, not a database file"
        )
    _check_dir("--history", history.parent)  # SQLite writes its journal beside the file
    if history.exists():
        try:
            with history.open("rb") as fh:
                head = fh.read(len(_SQLITE))
        except OSError as exc:
            reason = f"cannot read {history}: {exc.strerror or exc}"
            raise ConfigError("command line", "--history", reason) from exc
        if head and head != _SQLITE:
            raise ConfigError("command line", "--history", f"{history} is not an SQLite database")


_SQLITE = b"SQLite format 3\x00"  # the first bytes of every SQLite database file


def _check_dir(option: str, path: Path) -> None:
    problem = directory_problem(path)
    if problem is not None:
        raise ConfigError("command line", option, problem)


def _start_failed(s: ServerSettings, exc: OSError | sqlite3.Error) -> TwinError:
    """The error that stopped the server's start as one line, naming the option of its file
    (a key file that is a directory, a database SQLite cannot open, ...)."""
    if isinstance(exc, sqlite3.Error):
        return ConfigError("command line", "--history", f"{s.history_db}: {exc}")
    path = Path(exc.filename) if isinstance(exc.filename, str) else None
    for option, where in (("--pki", s.pki_dir), ("--history", s.history_db)):
        if path is not None and (path == where or where in path.parents):
            return ConfigError("command line", option, f"{path}: {exc.strerror or exc}")
    return ServiceError(f"the OPC UA server did not start: {exc}")


def _initial_user(path: Path) -> tuple[str, str]:
    from opcua_server import Role, add_user

    password = secrets.token_urlsafe(12)
    add_user(path, "admin", Role.ENGINEER, password)
    return "admin", password


async def _serve(
    server: Any,
    driver: RealtimeDriver,
    console: Console,
    initial: tuple[str, str] | None,
    telemetry: LiveTelemetry,
    plcs: LinkedPlcs,
    flusher: LogFlusher,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def interrupted() -> None:  # the first Ctrl-C stops; another hurries the stop
        if stop.is_set():
            telemetry.hurry(console)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, interrupted)
    await _start(server, driver, console, initial, telemetry, plcs)
    _banner(server, console, initial)
    console.print(running_line(driver, telemetry))
    console.print("press Ctrl-C to stop")
    runner = asyncio.create_task(driver.run())  # returns at the clock's end
    flushing = flusher.start()
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({runner, flushing, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()  # a run that ended on its own: the first Ctrl-C from now on hurries
        console.print("shutting down: closing sessions, flushing history ...")
        await plcs.stop(console)  # before the driver: no PLC command after the twin stops
        driver.stop()
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await telemetry.stop(console)
        await server.stop()
        await flusher.stop()  # the run's stop command writes and syncs the rest
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
    for task in (runner, flushing):
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _start(
    server: Any,
    driver: RealtimeDriver,
    console: Console,
    initial: tuple[str, str] | None,
    telemetry: LiveTelemetry,
    plcs: LinkedPlcs,
) -> None:
    """Start the server, telemetry and the adapters. When one fails, the server and telemetry
    started are stopped, and the first run's user, made for this start, is shown (``initial``:
    nobody would know its password) before the error is raised."""
    started: list[Callable[[], Awaitable[None]]] = []
    try:
        try:
            await server.start()
        except (OSError, sqlite3.Error) as exc:  # what _check_files could not foresee
            raise _start_failed(server.settings, exc) from exc
        started.append(server.stop)
        await telemetry.start(driver)
        started.append(functools.partial(telemetry.stop, console))
        await plcs.start(console)
    except BaseException:
        if initial is not None:
            _first_run(console, server.settings.users_file, *initial)
        for stop in reversed(started):
            await stop()
        raise


def _banner(server: Any, console: Console, initial: tuple[str, str] | None) -> None:
    s = server.settings
    console.print(f"[bold]cell-twin OPC UA server[/bold] at [cyan]{server.endpoint}[/cyan]")
    console.print("security policies: " + ", ".join(server.security_policies))
    console.print(
        f"server certificate: {s.pki_dir / 'own' / 'cert.der'}"
        + (" (created now)" if server.certificate_created else "")
    )
    console.print(
        f"client certificates: refused ones are copied to {s.pki_dir / 'rejected'}; "
        f"move one to {s.pki_dir / 'trusted'} to trust it"
    )
    if initial is not None:
        _first_run(console, s.users_file, *initial)
    from opcua_server import Role

    anonymous = server.anonymous_role()  # the user manager's rule
    adding = "add users with `twin users add NAME --role viewer|operator|engineer`"
    if anonymous is Role.ENGINEER:
        console.print(
            f"no users file ({s.users_file}): log in anonymously, as an engineer, until one"
            f" exists; {adding}"
        )
    else:
        roles = ", ".join(f"{n} ({u.role.name.lower()})" for n, u in server.users.items())
        console.print(
            "log in with user name and password"
            + (f": {roles}" if roles else f" (no users in {s.users_file} yet)")
            + (", or anonymously as a viewer" if anonymous is Role.VIEWER else "")
            + f"; {adding}"
        )
    if anonymous is not None:
        Console(stderr=True).print(
            Panel(
                "--insecure-dev: security mode None and ANONYMOUS access are enabled.\n"
                "Anyone who can reach this port can read the cell"
                + (" and control it" if anonymous is Role.ENGINEER else "")
                + ". Never use this on a shared network.",
                title="WARNING",
                style="bold red",
            )
        )


def _check_insecure_host(host: str, insecure_dev: bool, *, any_host: bool) -> None:
    """Raises ConfigError for --insecure-dev on an address other machines reach (security
    None and anonymous sessions for everyone there) without --insecure-dev-any-host."""
    if any_host and not insecure_dev:
        raise ConfigError("command line", "--insecure-dev-any-host", "needs --insecure-dev")
    if not insecure_dev or any_host:
        return
    if not is_loopback(host):  # a host name: whoever resolves it may reach it
        raise ConfigError(
            "command line",
            "--insecure-dev",
            f"not with --host {host}: it lets anyone who reaches that address in without"
            " security or a password; use a loopback address (127.0.0.1, the default), or"
            " add --insecure-dev-any-host if that network is yours alone",
        )


def _first_run(console: Console, users_file: Path, name: str, password: str) -> None:
    """Say which user the first run created and print its password once, on a line of its
    own that nothing crops: no panel, no wrapping, whatever the terminal's width or none (a
    log file, ``docker compose logs``: rich assumes 80 columns there)."""
    console.print(
        f"[bold yellow]first run:[/bold yellow] created {users_file} with user "
        f"[bold]{name}[/bold] (engineer); change its password with `twin users passwd {name}`",
        soft_wrap=True,
    )
    console.print(
        f"password of {name} (shown once): {password}",
        soft_wrap=True,
        crop=False,
        markup=False,
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command()(run)
