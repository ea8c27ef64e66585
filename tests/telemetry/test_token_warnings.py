"""When a token is warned about: on the command line, or over http:// to another host; not
to this host nor to a container beside it (compose's ``http://influxdb:8086``, which would
warn at every start of the stack)."""

from __future__ import annotations

import pytest

from twin.telemetry.settings import token_warnings


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://127.0.0.1:8086", False),
        ("http://[::1]:8086", False),
        ("http://localhost:8086", False),
        ("http://influxdb:8086", False),
        ("https://influx.example.org", False),
        ("http://influx.example.org:8086", True),
        ("http://10.0.0.5:8086", True),
    ],
)
def test_plain_http_is_warned_about_off_this_host(url: str, warned: bool) -> None:
    found = [w for w in token_warnings(url, "s3cret-token") if "unencrypted" in w]
    assert bool(found) is warned
    assert all("s3cret-token" not in w for w in found)


def test_no_token_no_warning() -> None:
    assert token_warnings("http://influx.example.org:8086", "") == []
