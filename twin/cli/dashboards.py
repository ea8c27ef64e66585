"""``twin dashboards build|push``: generate the Grafana dashboard JSON, upload it to Grafana.

``push`` sends the committed JSON (``dashboards/json``) through grafana-client: it makes sure the
folder exists, then saves every dashboard with ``overwrite`` so a push is idempotent. The
dashboards query through their ``datasource`` variable, which defaults to the provisioned
datasource uid ``celltwin-influxql`` and can be switched to any InfluxDB (InfluxQL) datasource.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from dashboards import JSON_DIR, load_dashboards
from twin.errors import ConfigError, ServiceError

__all__ = ["PushResult", "push_dashboards", "register"]

app = typer.Typer(
    name="dashboards",
    help="Grafana dashboards: build the JSON, push it to a Grafana server.",
    no_args_is_help=True,
)


@dataclass(frozen=True)
class PushResult:
    """What Grafana answered for one dashboard."""

    name: str
    uid: str
    url: str
    version: int


def _status(exc: Exception) -> int:
    return int(getattr(exc, "status_code", 0) or 0)


def push_dashboards(
    api: Any, dashboards: dict[str, dict[str, Any]], folder_title: str, folder_uid: str
) -> list[PushResult]:
    """Create the folder if missing, then save each dashboard into it (overwriting).

    ``api`` is a ``grafana_client.GrafanaApi``; its errors propagate (the CLI translates them).
    """
    from grafana_client.client import GrafanaClientError

    try:
        api.folder.get_folder(folder_uid)
    except GrafanaClientError as exc:
        if _status(exc) != 404:
            raise
        api.folder.create_folder(folder_title, uid=folder_uid)
    results = []
    for name, dashboard in dashboards.items():
        answer = api.dashboard.update_dashboard(
            {
                # id null: Grafana matches by uid, so pushing twice updates instead of duplicating
                "dashboard": {**dashboard, "id": None},
                "folderUid": folder_uid,
                "overwrite": True,
                "message": "twin dashboards push",
            }
        )
        results.append(
            PushResult(
                name=name,
                uid=str(answer.get("uid", dashboard.get("uid", ""))),
                url=str(answer.get("url", "")),
                version=int(answer.get("version", 0)),
            )
        )
    return results


@app.command()
def push(
    url: Annotated[
        str, typer.Option(envvar="GRAFANA_URL", help="Grafana base URL, e.g. http://localhost:3000")
    ],
    token: Annotated[
        str | None,
        typer.Option(
            envvar="GRAFANA_TOKEN",
            help="service-account token (default: GRAFANA_TOKEN; or user:password in the URL)",
        ),
    ] = None,
    folder: Annotated[str, typer.Option(help="folder title")] = "cell-twin",
    folder_uid: Annotated[str, typer.Option(help="folder uid")] = "celltwin",
    directory: Annotated[
        Path, typer.Option("--dir", help="directory of dashboard JSON files")
    ] = JSON_DIR,
    timeout: Annotated[float, typer.Option(help="seconds per request")] = 10.0,
) -> None:
    """Upload the dashboards to the Grafana at URL (idempotent: overwrites by uid)."""
    import niquests
    from grafana_client import GrafanaApi
    from grafana_client.client import GrafanaException

    try:
        dashboards = load_dashboards(directory)
    except (OSError, ValueError) as exc:
        raise ConfigError(str(directory), None, f"cannot read dashboards: {exc}") from exc
    if not url.startswith(("http://", "https://")):
        raise ConfigError("command line", "--url", f"not an http(s) URL: {url!r}")
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout)
    try:
        results = push_dashboards(api, dashboards, folder, folder_uid)
    except GrafanaException as exc:
        code = _status(exc)
        what = "rejected the credentials" if code in (401, 403) else "refused the upload"
        raise ServiceError(f"Grafana at {url} {what} ({code}): {exc.message}") from exc
    except niquests.exceptions.RequestException as exc:
        raise ServiceError(f"cannot reach Grafana at {url}: {exc}") from exc
    console = Console()
    for r in results:
        console.print(f"pushed {r.name} -> {url.rstrip('/')}{r.url} (version {r.version})")


@app.command()
def build(
    check: Annotated[
        bool, typer.Option(help="only check that the committed JSON is up to date")
    ] = False,
    out: Annotated[Path, typer.Option(help="output directory")] = JSON_DIR,
) -> None:
    """Regenerate the dashboard JSON from the builders (needs the dev extra)."""
    try:
        from dashboards.generate import stale, write_all
    except ImportError as exc:
        raise ConfigError(
            "environment",
            None,
            f"{exc.name or 'grafana-foundation-sdk'} missing: pip install -e '.[dev]'",
        ) from exc
    if check:
        bad = stale(out)
        if bad:
            raise ConfigError(str(out), None, f"stale: {', '.join(bad)} (twin dashboards build)")
        return
    for path in write_all(out):
        typer.echo(f"wrote {path}")


def register(root: typer.Typer) -> None:
    root.add_typer(app)
