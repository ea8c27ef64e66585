"""A server's or proxy's answer is quoted on one line: an HTML page by its title (or its
first line of text), cut, with credentials hidden as before. Behind nginx, a 502 printed
nginx's six-line page on the console and ``twin telemetry status`` showed ``last_error:
HTTP 502: <html>``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.telemetry.fakes import Told, lines, make
from tests.telemetry.servers import NginxProxy, VictoriaMetrics
from twin.telemetry import InfluxSink, Spool
from twin.telemetry.settings import excerpt

NGINX_502 = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.22.1</center>
</body>
</html>
"""
TOKEN = "0aF3x9-secret-token=="


@pytest.mark.parametrize(
    ("answer", "quoted"),
    [
        (NGINX_502, "502 Bad Gateway"),
        (
            "<!DOCTYPE html>\n<html><body>\n\n<p>Upstream &amp; cache\n down</p><p>x</p>",
            "Upstream & cache",
        ),
        (f"<html><title>denied: Token {TOKEN}</title></html>", "denied: Token [REDACTED]"),
        (f"<html><title>denied {TOKEN}</title></html>", "denied [REDACTED]"),
        (
            '{"code": "invalid",\n "message": "partial write"}\n',
            '{"code": "invalid", "message": "partial write"}',
        ),
        ("x" * 600, "x" * 499 + "…"),
        ("a 3 < 4 comparison", "a 3 < 4 comparison"),
    ],
    ids=["nginx-502", "no-title", "credentials", "the-token", "json", "long", "not-html"],
)
def test_an_answer_is_quoted_on_one_line(answer: str, quoted: str) -> None:
    assert excerpt(answer, TOKEN) == quoted


@pytest.mark.services
async def test_a_proxys_error_page_is_quoted_by_its_title(
    proxy: NginxProxy, victoria: VictoriaMetrics, tmp_path: Path, told: Told
) -> None:
    proxy.start()
    victoria.stop()  # the database is away, the proxy answers 502 with its page
    sink = InfluxSink(proxy.url, "", "org", "b")
    p = make(tmp_path, sink, spool=Spool(tmp_path / "spool", 10**7))
    await p.start()
    try:
        p.write_lines(lines(0, 10))
        down = await told.wait_for("unavailable")
    finally:
        stats = await p.stop(0.1)
    assert down == "telemetry: influx unavailable (HTTP 502: 502 Bad Gateway); spooling"
    assert stats.last_error == "HTTP 502: 502 Bad Gateway"
    status = json.loads((tmp_path / "spool" / "status.json").read_text())
    assert status["last_error"] == "HTTP 502: 502 Bad Gateway"
    assert stats.spool_lines == 10
