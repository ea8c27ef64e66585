"""``twin run --insecure-plc``: unencrypted links to legacy PLCs (OPC UA security None)
without opening the twin's own server to security None and anonymous sessions, as
``--insecure-dev`` does."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from asyncua import Client, ua
from rich.console import Console

from adapters import KINDS, Adapter, build_adapters, load_adapters
from tests.adapters.opcua.plc import URI, Plc
from tests.conftest import SCENARIOS, free_port
from tests.opcua.conftest import run_args, start_cli
from twin.api import TwinAPI
from twin.cli import main
from twin.cli.adapters import warn_insecure
from twin.engine.cell import Engine
from twin.events import STATE_CODES
from twin.model import load_scenario

ADAPTER = """
[[adapter]]
name = "legacy-plc"
kind = "opcua"
url = "{url}"
security_policy = "None"
security_mode = "None"
period_s = 0.05

[[adapter.state]]
machine = "cnc1"
node = "nsu={uri};s=CncState"
"""


class _Told:
    """Subscription handler: ``event`` is set once the variable holds one of ``values``."""

    def __init__(self, values: tuple[int, ...]) -> None:
        self.values = values
        self.event = asyncio.Event()

    def datachange_notification(self, node: object, val: object, data: object) -> None:
        if val in self.values:
            self.event.set()


def _adapters(tmp_path: Path, url: str = "opc.tcp://127.0.0.1:4841/plc") -> Path:
    file = tmp_path / "plc.toml"
    file.write_text(ADAPTER.format(url=url, uri=URI), encoding="utf-8")
    return file


async def test_insecure_plc_links_a_plc_without_encryption_the_server_kept_secure(
    tmp_path: Path,
) -> None:
    plc = await Plc.start(free_port())  # security None, anonymous
    try:
        twin = await start_cli(
            str(SCENARIOS / "default.toml"),
            *("--speed", "60", "--insecure-plc"),
            *("--adapters", str(_adapters(tmp_path, plc.url))),
            *run_args(tmp_path, history=tmp_path / "h.sqlite"),
        )
        try:
            policies = next(x for x in twin.banner.splitlines() if x.startswith("security pol"))
            assert "None" not in policies
            assert "--insecure-dev" not in twin.banner
            unencrypted = f'WITHOUT ENCRYPTION: legacy-plc ({plc.url}: security_policy "None")'
            assert unencrypted in twin.banner
            with pytest.raises(ua.UaError):  # no anonymous session, no channel without security
                async with Client(twin.url, timeout=10):
                    pass
            told = _Told((STATE_CODES["NotExecuting"], STATE_CODES["Executing"]))
            sub = await plc.server.create_subscription(50, told)
            await sub.subscribe_data_change(plc.nodes["CncState"])
            await asyncio.wait_for(told.event.wait(), 30)  # the twin tells the PLC the state
            rest = await twin.stop()
        finally:
            await twin.kill()
    finally:
        await plc.stop()
    assert "adapter legacy-plc: " in rest


def test_an_unencrypted_plc_without_either_switch_names_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = _adapters(tmp_path)
    assert main(["run", "--adapters", str(file), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"error: {file}: adapter[0].security_policy: None (no encryption) needs --insecure-dev"
        " or --insecure-plc (unencrypted PLC links only; the server keeps its security)\n"
    )
    assert main(["adapters", "check", str(file)]) == 0
    assert (
        "legacy-plc: opcua, 1 mapping (security_policy None: needs --insecure-plc or"
        " --insecure-dev)\n"
    ) in capsys.readouterr().out


def test_the_help_of_twin_run_says_what_each_switch_opens(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())  # out of its box
    assert "--insecure-plc allow adapters linked without encryption" in text
    assert "(and allow unencrypted adapters, as --insecure-plc)" in text


def _bound(tmp_path: Path, text: str) -> list[Adapter]:
    file = tmp_path / "plcs.toml"
    file.write_text(text, encoding="utf-8")
    twin = Engine(load_scenario(SCENARIOS / "default.toml"), signals=True)
    return build_adapters(load_adapters(file, KINDS), twin, TwinAPI(twin), KINDS)


def _trusted_on_first_use(tmp_path: Path) -> str:
    """``ADAPTER`` encrypted, trusting the PLC's certificate on first use: none pinned yet."""
    secure = ADAPTER.replace('security_policy = "None"\nsecurity_mode = "None"\n', "")
    pki = tmp_path / "pki"
    return secure.replace("period_s", f"trust_on_first_use = true\npki_dir = '{pki}'\nperiod_s")


def test_security_warnings_in_a_file_are_whole_lines(tmp_path: Path) -> None:
    """stderr to a file: no 80-column box cutting a long URL; the unencrypted links are
    named with why (a Modbus link too: Modbus TCP has no encryption); an encrypted link
    whose PLC certificate is not pinned yet (trusted on first use) is named, with how to pin
    it."""
    long_url = "opc.tcp://north-hall-line-3-controller.plant.example.com:4840/a/long/path"
    secure = _trusted_on_first_use(tmp_path)
    text = ADAPTER.format(url=long_url, uri=URI) + secure.format(url=long_url, uri=URI).replace(
        "legacy-plc", "new-plc"
    ).replace("s=CncState", "s=Speed")  # one node written by two adapters is refused
    text += '[[adapter]]\nname = "mb"\nkind = "modbus"\nhost = "10.0.0.5"\n'
    text += '[[adapter.state]]\nmachine = "cnc1"\naddress = 0\n'
    out = io.StringIO()
    warn_insecure(_bound(tmp_path, text), Console(file=out, width=80, soft_wrap=True))
    lines = out.getvalue().splitlines()
    assert lines == [
        f"warning: Adapters linked WITHOUT ENCRYPTION: legacy-plc ({long_url}: security_policy"
        ' "None"), mb (modbus://10.0.0.5:502/1: Modbus TCP has no encryption). Anyone on their'
        " network can read and change what the twin and the PLC exchange. Keep the PLCs on a"
        " segregated control network.",
        f"warning: adapter new-plc: the PLC's certificate will be trusted on first use: check"
        f" the SHA-256 fingerprint logged at the first connect to {long_url}; it is then"
        f" pinned in {tmp_path / 'pki' / 'trusted' / 'plc.der'}",
    ]


def test_adapters_check_names_an_unpinned_plc_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "plc.toml"
    secure = _trusted_on_first_use(tmp_path)
    file.write_text(secure.format(url="opc.tcp://127.0.0.1:4841", uri=URI), encoding="utf-8")
    assert main(["adapters", "check", str(file)]) == 0
    pinned = tmp_path / "pki" / "trusted" / "plc.der"
    assert (
        "legacy-plc: opcua, 1 mapping (trust_on_first_use: the certificate the PLC presents at"
        f" the first connect is pinned in {pinned})\n"
    ) in capsys.readouterr().out
