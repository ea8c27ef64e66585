"""What ``twin run`` says about logging in is what applies: anonymous sessions as engineers
under --insecure-dev before any users file exists, as viewers once one does; every login is
shown as it happens (the ``opcua_server.audit`` lines)."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from asyncua import Client
from rich.console import Console

from opcua_server import Role, ServerSettings, add_user, load_users
from opcua_server.users import TwinUserManager
from tests.conftest import SCENARIOS
from tests.opcua.conftest import run_args, start_cli
from twin.cli import main
from twin.cli.run import _banner


async def test_without_a_users_file_anonymous_engineers_are_said_and_logged(
    tmp_path: Path,
) -> None:
    users = tmp_path / "users.toml"
    twin = await start_cli(
        str(SCENARIOS / "default.toml"),
        *("--insecure-dev", "--telemetry", "none"),
        *run_args(tmp_path, history=tmp_path / "h.sqlite"),
    )
    try:
        assert (
            f"no users file ({users}): log in anonymously, as an engineer, until one exists;"
            " add users with `twin users add NAME --role viewer|operator|engineer`\n"
        ) in twin.banner
        assert "log in with user name and password" not in twin.banner
        assert "Anyone who can reach this port can read the cell and control it." in twin.banner
        async with Client(twin.url, timeout=10):  # anonymous, security None
            pass
        rest = await twin.stop()
    finally:
        await twin.kill()
    assert "login ok: anonymous (engineer) from 127.0.0.1" in rest


def _banner_of(users: Path) -> tuple[str, str]:
    server = SimpleNamespace(
        settings=ServerSettings(users_file=users, pki_dir=users.parent, insecure_dev=True),
        endpoint="opc.tcp://127.0.0.1:4840/cell-twin",
        security_policies=["Basic256Sha256 (SignAndEncrypt)", "None (None)"],
        certificate_created=False,
        users=load_users(users),
        anonymous_role=TwinUserManager(path=users, insecure_dev=True).anonymous_role,
    )
    out, err = io.StringIO(), io.StringIO()
    console = Console(file=out, width=200)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stderr", err)  # the warning's console writes to stderr
        _banner(server, console, None)
    return out.getvalue(), " ".join(err.getvalue().replace("│", " ").split())


def test_with_a_users_file_anonymous_sessions_only_view(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    add_user(users, "erin", Role.ENGINEER, "erin-pass")
    out, warning = _banner_of(users)
    assert (
        "log in with user name and password: erin (engineer), or anonymously as a viewer;"
    ) in out
    assert "can read the cell. Never use this" in warning
    users.write_text("# every user removed\n")  # anonymous sessions still only view
    out, warning = _banner_of(users)
    assert (
        f"log in with user name and password (no users in {users} yet), or anonymously as a viewer;"
    ) in out
    assert "control it" not in warning


def test_the_help_of_resume_names_no_option_twin_run_lacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "(same scenario, seed and rule)" not in text
    assert "(the same scenario file: its seed and rule come with it)" in text
