"""``twin dashboards push`` against a local HTTP stand-in for Grafana.

The stand-in is not Grafana: no Grafana server can be installed here, so a small
``http.server`` on a free loopback port answers the few API calls grafana-client makes
(``GET/POST /api/folders``, ``POST /api/dashboards/db``) the way Grafana documents them, checks
the bearer token and records every request, so the tests can assert what was sent.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dashboards import load_dashboards
from tests.conftest import free_port
from twin.cli import main

TOKEN = "stand-in-token"


@dataclass
class Call:
    method: str
    path: str
    auth: str | None
    body: Any


@dataclass
class StandIn:
    """Recorded calls and the folders/dashboards the stand-in holds."""

    calls: list[Call] = field(default_factory=list)
    folders: dict[str, str] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            auth = self.headers.get("Authorization")
            state.calls.append(Call(method, self.path, auth, body))
            if auth != f"Bearer {TOKEN}":
                self._reply(401, {"message": "Unauthorized"})
                return
            if method == "GET" and self.path.startswith("/api/folders/"):
                uid = self.path.rsplit("/", 1)[1]
                if uid in state.folders:
                    self._reply(200, {"uid": uid, "title": state.folders[uid]})
                else:
                    self._reply(404, {"message": "folder not found", "status": "not-found"})
            elif method == "POST" and self.path == "/api/folders":
                assert body is not None
                state.folders[body["uid"]] = body["title"]
                self._reply(200, {"uid": body["uid"], "title": body["title"], "id": 1})
            elif method == "POST" and self.path == "/api/dashboards/db":
                assert body is not None
                d = body["dashboard"]
                if body.get("folderUid") not in state.folders:
                    self._reply(400, {"message": "folder not found"})
                    return
                uid = d["uid"]
                state.versions[uid] = state.versions.get(uid, 0) + 1
                state.dashboards[uid] = d
                self._reply(
                    200,
                    {
                        "status": "success",
                        "uid": uid,
                        "url": f"/d/{uid}/x",
                        "version": state.versions[uid],
                        "id": len(state.dashboards),
                    },
                )
            else:
                self._reply(404, {"message": "not found"})

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    return Handler


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server of ``handler`` on a free loopback port, for the block; its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def grafana() -> Iterator[tuple[str, StandIn]]:
    state = StandIn()
    with serving(_handler(state)) as url:
        yield url, state


def test_push_creates_folder_and_uploads_every_dashboard(
    grafana: tuple[str, StandIn], capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = grafana
    assert main(["dashboards", "push", "--url", url, "--token", TOKEN]) == 0
    committed = load_dashboards()
    assert [(c.method, c.path) for c in state.calls] == [
        ("GET", "/api/folders/celltwin"),
        ("POST", "/api/folders"),
        *[("POST", "/api/dashboards/db")] * len(committed),
    ]
    assert all(c.auth == f"Bearer {TOKEN}" for c in state.calls)
    assert state.calls[1].body == {"title": "cell-twin", "uid": "celltwin"}
    for call in state.calls[2:]:
        assert call.body["overwrite"] is True
        assert call.body["folderUid"] == "celltwin"
        assert call.body["dashboard"]["id"] is None
    # exactly the committed JSON arrived (apart from the id), keyed by uid
    expected = {d["uid"]: {**d, "id": None} for d in committed.values()}
    assert state.dashboards == expected
    out = capsys.readouterr().out
    assert out.count("pushed ") == len(committed)
    assert "(version 1)" in out


def test_second_push_reuses_folder_and_bumps_versions(
    grafana: tuple[str, StandIn], capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = grafana
    assert main(["dashboards", "push", "--url", url, "--token", TOKEN]) == 0
    n = len(state.calls)
    assert main(["dashboards", "push", "--url", url, "--token", TOKEN]) == 0
    second = state.calls[n:]
    assert [c.path for c in second if c.method == "POST"].count("/api/folders") == 0
    assert set(state.versions.values()) == {2}
    assert "(version 2)" in capsys.readouterr().out


def test_token_from_environment(
    grafana: tuple[str, StandIn], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = grafana
    monkeypatch.setenv("GRAFANA_URL", url)
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    assert main(["dashboards", "push"]) == 0
    assert state.dashboards


CHECK_URL = "check the URL (--url or GRAFANA_URL: Grafana's base URL, e.g. http://localhost:3000)"


def push_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """What ``twin dashboards push ARGS`` says on failing: one line, no traceback, no
    urllib3 text."""
    assert main(["dashboards", "push", *args]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.count("\n") == 0, err
    assert "pushed" not in captured.out
    for raw in ("urllib3", "HTTPConnectionPool", "Max retries", "Traceback"):
        assert raw not in err
    return err


def test_wrong_token_is_one_line_error(
    grafana: tuple[str, StandIn], capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = grafana
    assert push_error(capsys, "--url", url, "--token", "wrong") == (
        f"error: Grafana at {url} rejected the token (HTTP 401): check GRAFANA_TOKEN or "
        "--token (a service-account token of this Grafana, not expired)"
    )
    assert not state.dashboards


def test_no_token_says_which_variable_to_set(
    grafana: tuple[str, StandIn],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, state = grafana
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    assert push_error(capsys, "--url", url) == (
        f"error: Grafana at {url} asks for credentials (HTTP 401): set GRAFANA_TOKEN to a "
        "service-account token (or give --token, or user:password in the URL)"
    )
    assert state.calls[0].auth is None
    assert not state.dashboards


def test_a_password_in_the_url_is_not_shown(
    grafana: tuple[str, StandIn], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = grafana
    secret = url.replace("http://", "http://admin:s3cret@")
    err = push_error(capsys, "--url", secret)
    assert err == f"error: Grafana at {url} rejected the user and password in the URL (HTTP 401)"


@pytest.mark.parametrize("token", [[], ["--token", TOKEN]], ids=["no-token", "token"])
def test_unreachable_grafana_is_one_line_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, token: list[str]
) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert push_error(capsys, "--url", url, *token, "--timeout", "2") == (
        f"error: cannot reach Grafana at {url}: connection refused: {CHECK_URL} and that "
        "Grafana is running"
    )


def test_a_grafana_that_does_not_answer_is_one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        err = push_error(capsys, "--url", url, "--token", TOKEN, "--timeout", "0.3")
    assert err == (
        f"error: cannot reach Grafana at {url}: no answer within 0.3 s: {CHECK_URL} and "
        "that Grafana is running"
    )


class WebSite(BaseHTTPRequestHandler):
    """Another web server than Grafana: a page for every GET, no POST."""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        page = b"<html><body>intranet</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)


class WebApp(WebSite):
    """Another web server that answers a POST with a page too."""

    def do_POST(self) -> None:
        self.do_GET()


@pytest.mark.parametrize(
    ("site", "answer"),
    [
        (WebSite, "has no such API (HTTP 501)"),
        (WebApp, "the server answers 'intranet' instead of JSON"),  # a page by its text
    ],
    ids=["no-post", "page-for-post"],
)
def test_another_web_server_at_the_url_is_one_line_error(
    capsys: pytest.CaptureFixture[str], site: type[BaseHTTPRequestHandler], answer: str
) -> None:
    with serving(site) as url:
        err = push_error(capsys, "--url", url, "--token", TOKEN)
    sep = " " if answer.startswith("has") else ": "
    assert err == f"error: Grafana at {url}{sep}{answer}: {CHECK_URL}"


def test_bad_url_and_empty_directory_are_config_errors(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dashboards", "push", "--url", "localhost:3000", "--token", TOKEN]) == 2
    assert "--url" in capsys.readouterr().err
    assert main(["dashboards", "push", "--url", "http://x", "--dir", str(tmp_path)]) == 2
    assert "no dashboard JSON files" in capsys.readouterr().err


def test_build_check_passes_on_committed_json() -> None:
    assert main(["dashboards", "build", "--check"]) == 0
