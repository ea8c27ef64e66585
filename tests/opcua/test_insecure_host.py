"""``--insecure-dev`` (security None, anonymous sessions) is for the developer's own machine:
with a ``--host`` other machines reach, ``twin run`` refuses it in one line (exit 2) before
anything is made, unless ``--insecure-dev-any-host`` says that network is the developer's
alone."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.opcua.conftest import require_nodesets, run_args, start_cli
from twin.errors import ConfigError


async def _twin_run(*args: str) -> tuple[int, str]:
    """``twin run ARGS``: its exit code and its error output (killed after 60 s)."""
    require_nodesets()
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "twin"),
        "run",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:  # it serves: the old twin run did, on every interface
        proc.kill()
        await proc.wait()
        return -1, ""
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_insecure_dev_is_refused_on_every_interface(tmp_path: Path) -> None:
    """The reported case: --host 0.0.0.0 --insecure-dev served anonymous engineers to the
    whole network."""
    code, err = await _twin_run(
        "--insecure-dev", "--telemetry", "none", *run_args(tmp_path, host="0.0.0.0")
    )
    assert code == 2
    assert err.startswith("error: command line: --insecure-dev: not with --host 0.0.0.0: ")
    assert "--insecure-dev-any-host" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


async def test_any_host_needs_insecure_dev(tmp_path: Path) -> None:
    code, err = await _twin_run("--insecure-dev-any-host", *run_args(tmp_path))
    assert code == 2
    assert "--insecure-dev-any-host: needs --insecure-dev" in err


async def test_insecure_dev_any_host_serves_every_interface(tmp_path: Path) -> None:
    twin = await start_cli(
        "--insecure-dev",
        "--insecure-dev-any-host",
        "--telemetry",
        "none",
        *run_args(tmp_path, host="0.0.0.0"),
    )
    await twin.stop()


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("::1", False),
        ("localhost", False),
        ("0.0.0.0", True),
        ("::", True),
        ("192.0.2.1", True),
        ("twin.example", True),  # a name: whoever resolves it may reach it
    ],
)
def test_only_loopback_hosts_take_insecure_dev(host: str, refused: bool) -> None:
    from twin.cli.run import _check_insecure_host

    if refused:
        with pytest.raises(ConfigError, match=f"not with --host {host}: "):
            _check_insecure_host(host, True, any_host=False)
    else:
        _check_insecure_host(host, True, any_host=False)
    _check_insecure_host(host, True, any_host=True)
    _check_insecure_host(host, False, any_host=False)
