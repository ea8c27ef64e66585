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
from urllib.parse import urlsplit

import typer
from rich.console import Console

from dashboards import JSON_DIR, load_dashboards
from twin.cli.common import sentence
from twin.errors import ConfigError, ServiceError
from twin.telemetry.settings import excerpt

__all__ = ["NotGrafanaError", "PushResult", "push_dashboards", "register"]

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


#: what to check when the URL does not lead to Grafana's API
_CHECK_URL = "check the URL (--url or GRAFANA_URL: Grafana's base URL, e.g. http://localhost:3000)"


#: characters of a server's answer a message quotes
_EXCERPT = 120


class NotGrafanaError(Exception):
    """The server at the URL answered, but not as Grafana's HTTP API does: ``answer`` is
    what it answered."""

    def __init__(self, answer: object) -> None:
        super().__init__(f"{_excerpt(answer)} instead of JSON")
        self.answer = answer


def _status(exc: Exception) -> int:
    return int(getattr(exc, "status_code", 0) or 0)


def _without_credentials(url: str) -> str:
    """``url`` as messages show it: without a user and password."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _unreachable(where: str, exc: BaseException, timeout: float) -> str:
    """Why a request got no answer, in a few words (the innermost cause, e.g. 'connection
    refused'), instead of urllib3's text about connection pools and retries."""
    import niquests

    chain = [exc]
    while len(chain) < 20 and (nxt := chain[-1].__cause__ or chain[-1].__context__) is not None:
        chain.append(nxt)  # (bounded: a chain may loop)
    root = chain[-1]
    if any(isinstance(e, niquests.exceptions.Timeout | TimeoutError) for e in chain):
        reason = f"no answer within {timeout:g} s"
    elif isinstance(root, OSError) and root.strerror:
        reason = sentence(root.strerror)
    else:
        reason = str(root) or type(root).__name__
    return f"cannot reach {where}: {reason}: {_CHECK_URL} and that Grafana is running"


def _refused(exc: Exception, where: str, token: str | None, url: str) -> str:
    """What Grafana's HTTP error answer means and what to do about it."""
    code = _status(exc)
    if code == 401 and token:
        return (
            f"{where} rejected the token (HTTP 401): check GRAFANA_TOKEN or --token "
            "(a service-account token of this Grafana, not expired)"
        )
    if code == 401 and urlsplit(url).username is not None:
        return f"{where} rejected the user and password in the URL (HTTP 401)"
    if code == 401:
        return (
            f"{where} asks for credentials (HTTP 401): set GRAFANA_TOKEN to a service-account "
            "token (or give --token, or user:password in the URL)"
        )
    if code == 403:
        return (
            f"{where} refused the upload (HTTP 403): the token's service account needs the "
            "Editor role"
        )
    if code in (404, 405, 501):  # another web server (or a path) at that URL
        return f"{where} has no such API (HTTP {code}): {_CHECK_URL}"
    answer = getattr(exc, "response", None)
    secret = _secret(token, url)
    if not isinstance(answer, dict):  # Grafana's API answers its errors in JSON
        return (
            f"{where}: the server answers HTTP {code} with {_excerpt(answer, secret)}"
            f" instead of JSON: {_CHECK_URL}"
        )
    message = _excerpt(answer.get("message", answer), secret, quoted=False)
    return f"{where} refused the upload (HTTP {code}): {message}"


def _secret(token: str | None, url: str) -> str:
    """The credential a request to ``url`` sends: the token, else the URL's password."""
    return token or urlsplit(url).password or ""


def _excerpt(text: object, secret: str = "", *, quoted: bool = True) -> str:
    """The start of a server's answer for a one-line message, as the telemetry quotes one
    (``excerpt``: credentials hidden, ``secret`` the one sent; an HTML page by its title;
    white space collapsed), at most ``_EXCERPT`` characters, quoted unless told."""
    words = excerpt(str(text or ""), secret, _EXCERPT)
    return repr(words) if quoted else words


def push_dashboards(
    api: Any, dashboards: dict[str, dict[str, Any]], folder_title: str, folder_uid: str
) -> list[PushResult]:
    """Create the folder if missing, then save each dashboard into it (overwriting).

    ``api`` is a ``grafana_client.GrafanaApi``; its errors propagate (the CLI translates them),
    and an answer that is not Grafana's JSON raises NotGrafanaError.
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
        if not isinstance(answer, dict):  # e.g. a web page: another server at that URL
            raise NotGrafanaError(answer)
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
    shown = _without_credentials(url)
    if not url.startswith(("http://", "https://")):
        raise ConfigError("command line", "--url", f"not an http(s) URL: {shown!r}")
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout)
    where = f"Grafana at {shown}"
    try:
        results = push_dashboards(api, dashboards, folder, folder_uid)
    except GrafanaException as exc:
        if not _status(exc):  # no HTTP answer: a timeout, a broken exchange
            raise ServiceError(_unreachable(where, exc, timeout)) from exc
        raise ServiceError(_refused(exc, where, token, url)) from exc
    except NotGrafanaError as exc:
        said = _excerpt(exc.answer, _secret(token, url))
        raise ServiceError(
            f"{where}: the server answers {said} instead of JSON: {_CHECK_URL}"
        ) from exc
    except niquests.exceptions.RequestException as exc:
        raise ServiceError(_unreachable(where, exc, timeout)) from exc
    finally:  # the keep-alive connections it pooled (a server may keep them open)
        api.client.s.close()
    console = Console()
    for r in results:
        console.print(f"pushed {r.name} -> {shown.rstrip('/')}{r.url} (version {r.version})")


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
