"""``twin dashboards push`` to a server that is not Grafana and answers an HTTP error in text
(not Grafana's JSON): one line quoting the start of the answer, with the advice to check the
URL. A real VictoriaMetrics (a URL mixed up with the database's) and a stand-in whose answer
spans lines."""

from __future__ import annotations

import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.dashboards.test_push import CHECK_URL, TOKEN, push_error, serving
from tests.telemetry.servers import victoria_metrics


@pytest.mark.services
def test_victoria_metrics_at_the_url_is_one_line_with_advice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vm = victoria_metrics(tmp_path / "vm")
    vm.start()
    try:
        err = push_error(capsys, "--url", vm.url, "--token", TOKEN)
    finally:
        vm.stop()
    prefix = f"error: Grafana at {vm.url}: the server answers HTTP 400 with 'remoteAddr: "
    assert err.startswith(prefix), err
    assert err.endswith(
        '; unsupported path requested: "/api/folders/celltwin"\' instead of JSON: ' + CHECK_URL
    ), err


def answering(status: int, content_type: str, body: bytes) -> type[BaseHTTPRequestHandler]:
    """A web server answering every GET with ``status`` and ``body``."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


#: another web server: HTTP 400 with a long text of several lines
VERBOSE = answering(
    400, "text/plain", b"bad request:\n  " + b"this server serves other things\n" * 20
)
#: Grafana refusing a request: HTTP 400 with its JSON message
GRAFANA_REFUSING = answering(400, "application/json", b'{"message": "bad request data"}')


def test_a_long_answer_of_several_lines_is_collapsed_and_cut(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serving(VERBOSE) as url:
        err = push_error(capsys, "--url", url, "--token", TOKEN)
    quoted = re.fullmatch(
        rf"error: Grafana at {re.escape(url)}: the server answers HTTP 400 with '(.*)' "
        rf"instead of JSON: {re.escape(CHECK_URL)}",
        err,
    )
    assert quoted is not None, err
    assert quoted[1].startswith("bad request: this server serves other things this")
    assert quoted[1].endswith("…")
    assert len(quoted[1]) == 120


def test_grafana_refusing_is_quoted_by_its_message(capsys: pytest.CaptureFixture[str]) -> None:
    with serving(GRAFANA_REFUSING) as url:
        err = push_error(capsys, "--url", url, "--token", TOKEN)
    assert err == f"error: Grafana at {url} refused the upload (HTTP 400): bad request data"


def test_a_server_echoing_the_token_is_quoted_without_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a proxy that echoes the request's Authorization header in its error page
    echo = answering(400, "text/plain", f"bad request; Authorization: Bearer {TOKEN}".encode())
    with serving(echo) as url:
        err = push_error(capsys, "--url", url, "--token", TOKEN)
    assert TOKEN not in err
    assert "[REDACTED]" in err
    grafana_echo = answering(400, "application/json", f'{{"message": "bad key {TOKEN}"}}'.encode())
    with serving(grafana_echo) as url:
        err = push_error(capsys, "--url", url, "--token", TOKEN)
    assert err == f"error: Grafana at {url} refused the upload (HTTP 400): bad key [REDACTED]"


def test_a_page_answering_ok_is_quoted_without_the_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a login page of a proxy, HTTP 200, quoting the token it was sent (no scheme before it)
    page = answering(200, "text/html", f"<p>unknown key {TOKEN}</p>".encode())
    page.do_POST = page.do_GET  # type: ignore[attr-defined]
    with serving(page) as url:
        err = push_error(capsys, "--url", url, "--token", TOKEN)
    assert err == (
        f"error: Grafana at {url}: the server answers '<p>unknown key [REDACTED]</p>' instead"
        f" of JSON: {CHECK_URL}"
    )
