"""``twin telemetry status|replay`` and the telemetry options other commands share.

``status`` reads a run directory or spool directory: spool depth counted from the batch files,
counters from the ``status.json`` the last pipeline saved. ``replay`` sends what a spool holds
to InfluxDB (each batch where it was meant to go, unless told otherwise) and adds its counters
to that status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from pydantic import SecretStr, ValidationError
from rich.console import Console
from rich.table import Table

from twin.cli.rundir import latest_run_dir
from twin.errors import ConfigError
from twin.files import directory_problem, write_durably
from twin.model import format_validation_error
from twin.model.scenario import Scenario
from twin.telemetry import (
    FILE_NAME,
    SPOOL_DIR,
    InfluxSink,
    LineEncoder,
    Spool,
    TelemetryPipeline,
    TelemetrySettings,
    TelemetryStats,
    build_pipeline,
    simulate_with_telemetry,
    spool_depth,
)
from twin.telemetry.destination import Destination, replay_command
from twin.telemetry.health import size_text
from twin.telemetry.settings import InfluxToken
from twin.telemetry.spool import recorded_destinations
from twin.telemetry.stats import error_is_past
from twin.telemetry.wiring import STATUS_FILE
from twin.text import plural

__all__ = [
    "TelemetryRunner",
    "default_run_dir",
    "read_status",
    "register",
    "replay",
    "settings_from_cli",
    "simulation_runner",
    "status",
    "undelivered",
]

TelemetryOption = Annotated[
    str | None,
    typer.Option(help="telemetry sink: file | influx | none (default: TWIN_TELEMETRY or file)"),
]
InfluxUrlOption = Annotated[
    str | None, typer.Option(help="InfluxDB URL (default: TWIN_INFLUX_URL)")
]
InfluxOrgOption = Annotated[str | None, typer.Option(help="organisation (TWIN_INFLUX_ORG)")]
InfluxBucketOption = Annotated[
    str | None, typer.Option(help="bucket, or db/rp for InfluxDB 1.x (TWIN_INFLUX_BUCKET)")
]
InfluxTokenOption = Annotated[
    str | None,
    typer.Option(help="API token; prefer the TWIN_INFLUX_TOKEN environment variable"),
]


def settings_from_cli(*, spool_dir_used: bool = True, **overrides: Any) -> TelemetrySettings:
    """Settings from the environment with the given (non-None) command-line values on top:
    the preflight of a command's telemetry, before it touches its run directory.

    Raises ConfigError naming the option, or the environment variable, of an invalid value
    (and the allowed values of a choice), and naming ``TWIN_SPOOL_DIR`` when it is set to a
    directory that cannot be made or written (checked unless not ``spool_dir_used``, or
    without telemetry). A token given here is named ``--influx-token`` in messages
    (``InfluxToken``).
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    if given.get("influx_token"):
        given["influx_token"] = SecretStr(InfluxToken(given["influx_token"], "--influx-token"))
    try:
        settings = TelemetrySettings(**given)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        source, field = (
            ("command line", "--" + name.replace("_", "-"))
            if name in given
            else ("environment", f"TWIN_{name.upper()}")  # pydantic-settings' env_prefix
        )
        reason = format_validation_error(source, exc).reason
        field_info = TelemetrySettings.model_fields.get(name)
        allowed = get_args(field_info.annotation) if field_info else ()
        if first["type"] == "literal_error" and allowed:
            reason = f"must be one of {', '.join(map(str, allowed))} (got {first['input']!r})"
        raise ConfigError(source, field, reason) from exc
    spool_dir = settings.spool_dir
    if spool_dir_used and spool_dir is not None and settings.telemetry != "none":
        # the spool (and status.json) go there: a run would find out only once it started
        problem = directory_problem(spool_dir)
        if problem is not None:
            reason = f"{spool_dir} cannot be the telemetry spool: {problem}"
            raise ConfigError("environment", "TWIN_SPOOL_DIR", reason)
    return settings


class TelemetryRunner:
    """A drop-in for ``run_simulation`` that streams telemetry as ``settings`` ask and prints
    what it delivered; ``undelivered`` tells the command to exit 1 afterwards."""

    def __init__(
        self,
        settings: TelemetrySettings,
        pipeline: TelemetryPipeline | None,
        console: Console,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.console = console
        self.undelivered = False

    def __call__(self, sc: Scenario, **kwargs: Any) -> Any:
        from twin.simulation import run_simulation

        pipeline = self.pipeline
        if pipeline is None:
            return run_simulation(sc, **kwargs)
        try:
            result, _ = simulate_with_telemetry(
                pipeline,
                sc,
                kpi_period_s=self.settings.kpi_period_s,
                stop_timeout_s=self.settings.stop_timeout_s,
                **kwargs,
            )
        except KeyboardInterrupt:  # what the interrupted run produced was still delivered
            self._report(pipeline)
            raise
        self._report(pipeline)
        return result

    def _report(self, pipeline: TelemetryPipeline) -> None:
        self.console.print(telemetry_summary(self.settings, pipeline), soft_wrap=True)
        self.undelivered = undelivered(pipeline.stats.as_dict())


def simulation_runner(
    settings: TelemetrySettings,
    scenario: Scenario,
    out: Path,
    console: Console,
    moved_to: Path | None = None,
) -> TelemetryRunner:
    """The runner of a simulation streaming telemetry into ``out`` (moved to ``moved_to``
    when the run is done); raises ConfigError for bad settings."""
    pipeline = build_pipeline(settings, scenario, out, scenario.start, moved_to=moved_to)
    return TelemetryRunner(settings, pipeline, console)


def undelivered(status: Mapping[str, Any]) -> bool:
    """True when telemetry needs the user: lines lost (dropped, rejected) or kept in the
    spool because the server refuses the writes (URL, token, size limit). Lines waiting for
    a database that is away are not: the next run or a replay sends them."""
    refused = bool(status.get("refused")) and bool(status.get("spool_lines", 0))
    return bool(status.get("lines_dropped", 0) or status.get("lines_rejected", 0) or refused)


def telemetry_summary(settings: TelemetrySettings, pipeline: TelemetryPipeline) -> str:
    """One line saying what ``pipeline`` (built from ``settings``) delivered and what it
    could not: its own lines written, apart from those earlier runs left in the spool for
    the same destination; lines left in its spool, why the server refused them, and the
    command that sends them (with the URL, bucket and org of ``settings``); lines earlier
    runs spooled for another destination, kept, with the command that sends them there; the
    run its points are tagged with (the dashboards' ``run`` variable)."""
    stats = pipeline.stats
    spool = pipeline.spool.name if pipeline.spool is not None else ""  # none: the file
    own = stats.lines_written - stats.lines_carried_written
    text = f"telemetry ({settings.telemetry}): {plural(own, 'line')} written"
    if pipeline.encoder.run is not None:  # what the dashboards' run variable lists
        text += f" as run {pipeline.encoder.run}"
    if stats.lines_carried_written:
        text += f" and {stats.lines_carried_written} that earlier runs left in the spool"
    # without a spool (the file) only a failed write drops lines; its error is logged
    bound = f"spool full: TWIN_SPOOL_MAX_BYTES {size_text(settings.spool_max_bytes)}"
    lost = bound if spool else f"{settings.telemetry} write failed"
    waiting = pipeline.waiting_lines  # lines waiting, lines kept: there is a spool
    in_spool = f"{plural(waiting, 'line')} in spool {spool}"
    extra = [
        what
        for n, what in (
            (waiting, in_spool),
            (stats.lines_rejected, f"{stats.lines_rejected} rejected"),
            (stats.lines_dropped, f"{stats.lines_dropped} DROPPED ({lost})"),
        )
        if n
    ]
    text += f" ({', '.join(extra)})" if extra else ""
    if waiting and stats.refused:
        text += f"; NOT DELIVERED: {stats.refused}"
    if waiting:  # where settings send (the token's setting named, never its value)
        token = settings.influx_token.get_secret_value()
        send = replay_command(Destination.of(settings), spool, token)
        text += f"; {'once fixed, ' if stats.refused else ''}send them with: {send}"
    for kept in pipeline.carried.kept:
        text += f"; {kept.describe(spool)}"
    return text


def read_status(path: Path) -> dict[str, Any]:
    """Status of a run directory, spool directory or status file; raises ConfigError when
    ``path`` holds no telemetry."""
    candidates = [path, path / STATUS_FILE, path / SPOOL_DIR / STATUS_FILE]
    status_file = next((p for p in candidates if p.is_file()), None)
    if status_file is None:
        raise ConfigError(str(path), None, _no_status(path))
    status: dict[str, Any] = {}
    with contextlib.suppress(json.JSONDecodeError):
        status = json.loads(status_file.read_text(encoding="utf-8"))
    spool_dir = Path(status.get("spool_dir") or status_file.parent)
    status.update(spool_depth(spool_dir))  # the files are the truth, even after a crash
    status["status_file"] = str(status_file)
    return status


#: the files of a run directory (twin simulate's, twin run's), with or without telemetry
_RUN_FILES = ("events.jsonl", "summary.json", "run.json")


def _no_status(path: Path) -> str:
    """Why ``path`` has no telemetry status, as far as its files tell: it is not there, it is
    a run without telemetry (``--telemetry none``: a run directory with neither a spool nor a
    telemetry file), or it is neither a run nor a spool directory."""
    if not path.exists():
        return "no such file or directory"
    spool = f"{SPOOL_DIR}/{STATUS_FILE}"
    if path.is_dir() and any((path / name).is_file() for name in _RUN_FILES):
        if not (path / SPOOL_DIR).exists() and not (path / FILE_NAME).exists():
            return (
                f"the run had no telemetry (--telemetry none): it has no {SPOOL_DIR}/ and no"
                f" {FILE_NAME}"
            )
        return f"a run directory without {spool} (removed?): no telemetry status"
    return (
        "no telemetry status here: neither a run directory nor a spool directory (no"
        f" {STATUS_FILE}, no {spool})"
    )


def default_run_dir() -> Path:
    """The run directory ``twin telemetry status`` shows when given none: of the default
    run directories the one whose telemetry changed last (its ``status.json`` or telemetry
    file; a live run's status changes every second), else the one changed last."""
    return latest_run_dir(
        "PATH", lambda d: (d / SPOOL_DIR / STATUS_FILE, d / FILE_NAME, d), "exists"
    )


app = typer.Typer(help="Telemetry: spool and delivery counters.", no_args_is_help=True)


@app.command()
def status(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="run directory or spool directory (default: runs/live, where twin run writes,"
            " or runs/latest, where twin simulate writes: the one whose telemetry changed last)",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show spool depth and delivery counters of a run (exit code 1 if anything was lost,
    or is kept because the server refused the writes)."""
    if path is None:
        path = default_run_dir()
    st = read_status(path)
    console = Console()
    if as_json:
        console.print_json(json.dumps(st, sort_keys=True))
    else:
        table = Table(title=f"telemetry status: {path}")
        table.add_column("counter")
        table.add_column("value", justify="right")
        for key in sorted(st):
            table.add_row(key, _shown(key, st))
        console.print(table)
    if undelivered(st):
        raise typer.Exit(1)


def _shown(key: str, status: Mapping[str, Any]) -> str:
    """A status value as the table shows it: ``last_error`` with its time, marked as past
    when delivery recovered since."""
    value = status[key]
    if key != "last_error" or not value:
        return str(value)
    at = status.get("last_error_at")
    text = f"{value} (at {at})" if at else str(value)
    if error_is_past(status):
        text = f"past: {text}; delivery recovered at {status['recovered_at']}"
    return text


@app.command()
def replay(
    path: Annotated[Path, typer.Argument(help="run directory or spool directory")],
    influx_url: InfluxUrlOption = None,
    influx_org: InfluxOrgOption = None,
    influx_bucket: InfluxBucketOption = None,
    influx_token: InfluxTokenOption = None,
    redirect: Annotated[
        bool,
        typer.Option(help="send every batch there, also those spooled for another destination"),
    ] = False,
    timeout: Annotated[float, typer.Option(help="give up after SECONDS (spool kept)")] = 60.0,
) -> None:
    """Send a spool's batches to InfluxDB, oldest first (exit code 1 if some remain, also
    those kept for another destination).

    Without --influx-url, --influx-bucket and --influx-org the batches go to the destination
    they were spooled for. With them, only the batches spooled for that destination go
    (and those spooled by a version that recorded none); the others stay, unless --redirect.
    """
    settings = settings_from_cli(
        spool_dir_used=False,  # the spool is PATH's
        telemetry="influx",
        influx_url=influx_url,
        influx_org=influx_org,
        influx_bucket=influx_bucket,
        influx_token=influx_token,
    )
    spool_dir = path / SPOOL_DIR if (path / SPOOL_DIR).is_dir() else path
    if not spool_dir.is_dir():
        raise ConfigError(str(path), None, "no telemetry spool here (run dir or spool dir)")
    destination = Destination.of(settings)
    named = any(v is not None for v in (influx_url, influx_org, influx_bucket))
    recorded = [] if named or redirect else recorded_destinations(spool_dir)
    if len(recorded) > 1:
        commands = "; ".join(replay_command(d, str(spool_dir)) for d in recorded)
        raise ConfigError(
            str(path),
            None,
            f"holds lines for {len(recorded)} destinations: name one ({commands})",
        )
    if recorded:
        destination = recorded[0]
    status_file = spool_dir / STATUS_FILE
    before: dict[str, Any] = {}
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        before = json.loads(status_file.read_text(encoding="utf-8"))
    pipeline = TelemetryPipeline(
        InfluxSink(
            destination.url,
            settings.influx_token.get_secret_value(),
            destination.org,
            destination.bucket,
            settings.write_timeout_s,
        ),
        LineEncoder("-", {}, datetime.now(UTC)),  # encodes nothing: only replays
        spool=Spool(spool_dir, settings.spool_max_bytes),
        flush_interval_s=None,
        retry_max_s=settings.retry_max_s,
        spooled="any" if redirect else "own" if recorded else "unrecorded",
    )

    async def run() -> TelemetryStats:
        await pipeline.start()
        return await pipeline.stop(timeout)

    stats = asyncio.run(run())
    merged = _merge(before, stats, pipeline.clock.wall().isoformat(timespec="seconds"))
    write_durably(
        status_file, (json.dumps(merged, indent=1, sort_keys=True) + "\n").encode(), mode=0o600
    )
    left = pipeline.waiting_lines
    kept = stats.spool_lines - left
    Console().print(
        f"replayed {plural(stats.lines_replayed, 'line')} to {destination}; "
        f"{plural(left, 'line')} for it left in {spool_dir}"
        + (f" ({kept} more kept for other destinations, see above)" if kept else ""),
        soft_wrap=True,
    )
    if stats.spool_lines:  # for it, or kept for another destination: the spool is not empty
        raise typer.Exit(1)


def _merge(before: dict[str, Any], replay_stats: TelemetryStats, now_at: str) -> dict[str, Any]:
    """Counters of the run that spooled plus those of the replay (whose "produced" and
    "carried" lines are the spooled ones, already counted by the run). The run's last error
    stays when the replay had none, and is past (``recovered_at`` ``now_at``) once the replay
    wrote lines."""
    now = replay_stats.as_dict()
    merged = {**before, **now}
    as_before = ("lines_produced", "batches_produced", "lines_carried")
    for key, value in now.items():
        if key.startswith(("lines_", "batches_", "write_errors")) and not key.startswith(as_before):
            merged[key] = int(before.get(key, 0)) + int(value)
    for key in now:
        if key.startswith(as_before):
            merged[key] = int(before.get(key, now[key]))
    if not now["last_error"]:
        for key in ("last_error", "last_error_at", "last_rejected_sample"):
            merged[key] = before.get(key, "")
        if replay_stats.lines_written and merged["last_error"]:
            merged["recovered_at"] = now_at
    merged["sink"] = "influx"
    return merged


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="telemetry")
