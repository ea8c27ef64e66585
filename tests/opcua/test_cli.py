"""``twin users`` and ``twin run``: serve, print how to connect, stop cleanly on Ctrl-C."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from asyncua import Client
from rich.console import Console

from opcua_server import Role, app, load_users
from tests.conftest import SCENARIOS, free_port
from tests.opcua.conftest import POLICY, SIGN_ENCRYPT, make_client_cert, start_cli, start_twin
from twin.cli import main


def test_users_add_and_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    path = tmp_path / "users.toml"
    monkeypatch.setattr("sys.stdin", io.StringIO("pa55word\n"))
    args = ["users", "add", "olga", "--role", "operator", "--file", str(path), "--password-stdin"]
    assert main(args) == 0
    assert load_users(path)["olga"].role is Role.OPERATOR
    assert "pa55word" not in path.read_text()
    assert main(["users", "list", "--file", str(path)]) == 0
    assert "olga\toperator" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n"))
    assert main([*args[:3], "--role", "boss", "--file", str(path), "--password-stdin"]) == 2
    assert "unknown role 'boss'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--port", "99999", "--port: must be in [0, 65535]"),
        ("--port", "-1", "--port: must be in [0, 65535]"),
        ("--speed", "0", "--speed: must be in (0, 1e6]"),
        ("--retention", "-5", "--retention: must be > 0"),
    ],
)
def test_twin_run_bad_option_is_one_line_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    users, out = tmp_path / "users.toml", tmp_path / "out"
    args = ["run", option, value, "--users", str(users), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: command line: "), err
    assert message in err
    assert len(err.splitlines()) == 1
    assert not users.exists()
    assert not out.exists()


async def test_a_server_given_the_preflight_files_checks_nothing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``twin run`` checks the NodeSet2 files and the port before anything is made and hands
    the files to TwinServer: its start does not search for them (nor check the port) again."""
    calls: list[str] = []
    find, check = app.find_nodesets, app._check_port

    def counted_find(*args: object) -> list[Path]:
        calls.append("find_nodesets")
        return find(*args)  # type: ignore[arg-type]

    def counted_check(*args: object) -> None:
        calls.append("check_port")
        check(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(app, "find_nodesets", counted_find)
    monkeypatch.setattr(app, "_check_port", counted_check)
    twin = await start_twin(tmp_path, insecure=True, preflighted=True, port=free_port())
    try:
        assert calls == ["find_nodesets", "check_port"]  # preflight's, not start's
        assert twin.server.port == twin.server.settings.port  # the port preflight checked
        async with twin.session(None, policy=None):
            pass  # served there
    finally:
        await twin.server.stop()


_FIRST_PASSWORD = re.compile(r"password of admin \(shown once\): (\S+)$", re.MULTILINE)


@pytest.mark.parametrize("width", [12, 80])
def test_first_run_password_is_printed_whole_at_any_width(tmp_path: Path, width: int) -> None:
    """On a narrow terminal or none (a log file: rich assumes 80 columns) the first-run
    password is printed whole: it is the one the users file holds."""
    import io
    from types import SimpleNamespace

    from opcua_server import ServerSettings
    from opcua_server.users import verify_password
    from twin.cli.run import _banner, _initial_user

    users = tmp_path / "a-users-directory-with-a-long-name" / "users.toml"
    initial = _initial_user(users)
    server = SimpleNamespace(
        settings=ServerSettings(users_file=users, pki_dir=tmp_path / "pki"),
        endpoint="opc.tcp://127.0.0.1:4840/cell-twin",
        security_policies=["Basic256Sha256 (SignAndEncrypt)"],
        certificate_created=True,
        users=load_users(users),
        anonymous_role=lambda: None,  # no --insecure-dev: no anonymous sessions
    )
    out = io.StringIO()
    _banner(server, Console(soft_wrap=True, file=out, width=width), initial)  # as twin run's
    printed = _FIRST_PASSWORD.search(out.getvalue())
    assert printed is not None, out.getvalue()
    assert printed.group(1) == initial[1]
    assert verify_password(printed.group(1), load_users(users)["admin"].password_hash)


async def test_twin_run_serves_until_ctrl_c(tmp_path: Path) -> None:
    # output to a pipe without COLUMNS (``make run > log``): nothing the user needs is cropped
    twin = await start_cli(
        str(SCENARIOS / "default.toml"),
        "--port",
        "0",
        "--speed",
        "120",
        "--users",
        str(tmp_path / "users.toml"),
        "--pki",
        str(tmp_path / "pki"),
        "--history",
        str(tmp_path / "history.sqlite"),
        "--out",
        str(tmp_path / "out"),
        columns=None,
    )
    try:
        text = twin.banner
        assert "Basic256Sha256 (SignAndEncrypt)" in text
        assert "Aes256Sha256RsaPss (Sign)" in text
        # what runs and where its data goes
        out = tmp_path / "out"
        assert "twin running at x120 (a wall second is 120 simulated seconds" in text
        assert f"event log {out / 'events.jsonl'}; telemetry: {out / 'telemetry.lp.gz'}" in text
        # the run its points are tagged with, as the dashboards' run variable lists it
        assert re.search(r"telemetry\.lp\.gz as run \d{4}-\d\d-\d\dT[\d:]{8}Z-\d{6}", text), text
        password = _FIRST_PASSWORD.search(text)
        assert password is not None, text  # first run: an engineer user is created
        cert = make_client_cert(tmp_path / "client")
        (tmp_path / "pki" / "trusted" / "client.der").write_bytes(cert.cert.read_bytes())
        client = Client(twin.url, timeout=10)
        client.application_uri = cert.uri
        await client.set_security(
            POLICY, certificate=str(cert.cert), private_key=str(cert.key), mode=SIGN_ENCRYPT
        )
        client.set_user("admin")
        client.set_password(password.group(1))
        async with client:
            assert (await client.nodes.server.read_browse_name()).Name == "Server"
        rest = await twin.stop()
    finally:
        await twin.kill()
    assert "stopped at simulated time" in rest
    assert (tmp_path / "out" / "snapshot.json").stat().st_size > 0
    assert (tmp_path / "out" / "events.jsonl").stat().st_size > 0
    # telemetry (file sink by default) was drained on shutdown: states, signals, KPIs
    assert "telemetry (file):" in rest
    with gzip.open(tmp_path / "out" / "telemetry.lp.gz", "rt") as fh:
        measurements = {line.split(",", 1)[0] for line in fh}
    assert {"machine_state", "machine_signal", "kpi"} <= measurements
