"""The twin's compose healthcheck, run as Docker runs it, against a real ``twin run``.

No Docker engine runs here: the check's Python (``docker-compose.yml``, the twin's
``healthcheck``) is run with the interpreter of the tests, aimed at a ``twin run`` on a free
loopback port instead of ``twin:4840``. It passes when the OPC UA server answers, and fails
(exit code 1, within its timeout) when nothing listens or what listens is no OPC UA server.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

from tests.dashboards.test_compose import load_compose
from tests.opcua.conftest import run_args, start_cli

ADDRESS = '("twin", 4840)'


def _check(host: str, port: int) -> str:
    """The twin's healthcheck code, asking ``host:port``."""
    code = str(load_compose({})["services"]["twin"]["healthcheck"]["test"][3])
    assert code.count(ADDRESS) == 1
    return code.replace(ADDRESS, f'("{host}", {port})')


async def _exit_code(code: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(proc.wait(), 30)  # the check's own timeout is 4 s


async def test_healthy_when_the_twin_serves_opc_ua(
    default_scenario_path: Path, tmp_path: Path
) -> None:
    twin = await start_cli(str(default_scenario_path), "--insecure-dev", *run_args(tmp_path))
    try:
        url = urlparse(twin.url)
        assert url.hostname is not None
        assert url.port is not None
        assert await _exit_code(_check(url.hostname, url.port)) == 0
    finally:
        await twin.stop()
    # stopped: nothing listens there
    assert await _exit_code(_check(url.hostname, url.port)) == 1


async def test_unhealthy_when_what_listens_is_no_opc_ua_server() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        check = asyncio.ensure_future(_exit_code(_check("127.0.0.1", port)))
        conn, _ = await asyncio.to_thread(server.accept)
        conn.close()  # hangs up without an Acknowledge
        assert await check == 1
