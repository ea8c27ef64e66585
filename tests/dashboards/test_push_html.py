"""``twin dashboards push`` behind a proxy answering its error page: quoted by the page's
title on one line, as the telemetry quotes it (``twin.telemetry.settings.excerpt``), not as
the start of the markup."""

from __future__ import annotations

import pytest

from tests.dashboards.test_push import CHECK_URL, TOKEN, push_error, serving
from tests.dashboards.test_push_not_grafana import answering
from tests.telemetry.test_html_answers import NGINX_502


def test_a_proxys_error_page_is_quoted_by_its_title(capsys: pytest.CaptureFixture[str]) -> None:
    with serving(answering(502, "text/html", NGINX_502.encode())) as url:
        err = push_error(capsys, "--url", url, "--token", TOKEN)
    assert err == (
        f"error: Grafana at {url}: the server answers HTTP 502 with '502 Bad Gateway'"
        f" instead of JSON: {CHECK_URL}"
    )
