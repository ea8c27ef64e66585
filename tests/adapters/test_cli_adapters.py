"""``twin run --adapters``: a real pymodbus PLC linked to the running twin, end to end, and
``twin adapters check``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.adapters.conftest import UNCERTAIN, link_values
from tests.adapters.linked import (
    BED_TEMP,
    BED_TEMP_NODE,
    CONNECTED_NODE,
    PLC_LINK,
    linked_twin,
    watching,
)
from tests.conftest import ROOT, SCENARIOS
from twin.cli import main
from twin.events import STATE_CODES

MODBUS_EXAMPLE = ROOT / "adapters" / "modbus" / "example.toml"

ADAPTERS = (
    PLC_LINK
    + """
[[adapter.state]]
machine = "cnc1"
address = 10

[[adapter.fault]]
machine = "cnc1"
table = "coil"
address = 0
"""
)


async def test_twin_run_links_a_plc_that_sees_states_and_faults_the_cnc(tmp_path: Path) -> None:
    async with linked_twin(tmp_path, ADAPTERS) as (twin, plc):
        assert f"adapter cell-plc: modbus link to modbus://127.0.0.1:{plc.port}/1" in (twin.banner)
        # named as unencrypted, as an OPC UA link with security None is
        unencrypted = (
            f"WITHOUT ENCRYPTION: cell-plc (modbus://127.0.0.1:{plc.port}/1: Modbus TCP has"
            " no encryption)"
        )
        assert unencrypted in " ".join(twin.banner.replace("│", " ").split())
        up = (STATE_CODES["NotExecuting"], STATE_CODES["Executing"])
        await plc.wait_holding(10, lambda v: v in up)  # the twin tells the PLC
        await plc.set_coil(0, True)  # the cnc's fault relay: the twin takes it down
        await plc.wait_holding(10, lambda v: v == STATE_CODES["OutOfService"])
        rest = await twin.stop()
    assert "adapter cell-plc: " in rest
    assert "1 connect, 0 failures" in rest
    commands = [
        json.loads(line)
        for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()
        if '"command"' in line
    ]
    faults = [c for c in commands if c.get("command") == "inject_fault"]
    assert [f["args"]["machine"] for f in faults] == ["cnc1"]  # journaled, replayable


def test_adapters_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["adapters", "check", str(MODBUS_EXAMPLE), str(SCENARIOS / "default.toml")]) == 0
    assert "cell-plc: modbus, 7 mappings" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(MODBUS_EXAMPLE.read_text().replace('"printer1.bed_temp"', '"printer1.bed"'))
    assert main(["adapters", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: adapter[0].read[0].signal: unknown signal 'printer1.bed'" in err


ECHO = """
[[adapter.write]]
signal = "printer1.bed_temp"
table = "holding"
address = 20
"""


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("", "adapter", "no adapters: give at least one [[adapter]] table"),
        ("# [[adapter]]\n# kind = 'modbus'\n", "adapter", "no adapters"),
        (
            MODBUS_EXAMPLE.read_text() + ECHO,
            "adapter[0].write[3].signal",
            "'printer1.bed_temp' is read from this PLC (read[0]): writing it back would only "
            "echo the PLC's own value a cycle late",
        ),
    ],
    ids=["empty", "all-commented-out", "read-and-written"],
)
def test_adapters_check_refuses_a_file_that_links_nothing_or_echoes_a_signal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, field: str, reason: str
) -> None:
    file = tmp_path / "plc.toml"
    file.write_text(text, encoding="utf-8")
    assert main(["adapters", "check", str(file)]) == 2
    out, err = capsys.readouterr()
    assert "OK" not in out
    assert err.startswith(f"error: {file}: {field}: {reason}")
    assert err.count("\n") == 1  # one line, no traceback


def test_a_signal_read_from_one_plc_may_be_written_to_another(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The twin passes a value one PLC measures on to another PLC."""
    file = tmp_path / "plcs.toml"
    line_plc = '[[adapter]]\nname = "line-plc"\nkind = "modbus"\nhost = "127.0.0.1"\n' + ECHO
    file.write_text(MODBUS_EXAMPLE.read_text() + line_plc, encoding="utf-8")
    assert main(["adapters", "check", str(file)]) == 0
    assert f"{file}: OK" in capsys.readouterr().out


def test_twin_run_refuses_an_unencrypted_opcua_plc_without_insecure_dev(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    file = tmp_path / "plc.toml"
    file.write_text(
        '[[adapter]]\nname = "plc"\nkind = "opcua"\nurl = "opc.tcp://127.0.0.1:4841"\n'
        'security_policy = "None"\nsecurity_mode = "None"\n'
        '[[adapter.state]]\nmachine = "cnc1"\nnode = "ns=2;i=7"\n',
        encoding="utf-8",
    )
    assert main(["run", "--adapters", str(file), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{file}: adapter[0].security_policy: None (no encryption) needs --insecure-dev" in err
    assert not (tmp_path / "out").exists()  # refused before anything was made


async def test_twin_run_shows_a_lost_plc_to_opcua_clients(tmp_path: Path) -> None:
    async with linked_twin(tmp_path, ADAPTERS + BED_TEMP, "--insecure-dev") as (twin, plc):
        async with watching(twin, BED_TEMP_NODE, CONNECTED_NODE) as w:
            watch, (bed, connected) = w.watch, w.nodes
            good = await watch.until(bed, lambda dv: dv.StatusCode.is_good())
            assert good.Value is not None
            assert good.Value.Value == pytest.approx(65.5)  # the PLC's, not the model's
            await watch.until(connected, lambda dv: dv.Value.Value is True)

            await plc.stop()  # the PLC goes away
            lost = await watch.until(bed, lambda dv: dv.StatusCode == UNCERTAIN)
            assert lost.Value is not None
            assert lost.Value.Value == pytest.approx(65.5)
            await watch.until(connected, lambda dv: dv.Value.Value is False)
            link = await link_values(w.client, w.ns, "cell-plc")
            assert link["ConsecutiveFailures"] >= 1
            assert link["LastError"]

            await plc.start()
            await watch.until(bed, lambda dv: dv.StatusCode.is_good())
            await watch.until(connected, lambda dv: dv.Value.Value is True)
        rest = await twin.stop()
    assert "2 connects" in rest


def test_adapters_check_says_a_certificate_will_be_pinned_on_first_use(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    example = ROOT / "adapters" / "opcua" / "example.toml"
    text = example.read_text()
    assert "trust_on_first_use = true" in text
    pki = tmp_path / "pki"
    own = tmp_path / "example.toml"
    own.write_text(text.replace("[[adapter]]", f'[[adapter]]\npki_dir = "{pki}"', 1))
    assert main(["adapters", "check", str(own), str(SCENARIOS / "default.toml")]) == 0
    out = capsys.readouterr().out
    # not "the PLC's certificate is not verified": it will be, from the first connect on
    assert "not verified" not in out
    pinned = pki / "trusted" / "plc.der"
    first = "the certificate the PLC presents at the first connect"
    assert f"(trust_on_first_use: {first} is pinned in {pinned})" in out
    pinned.parent.mkdir(parents=True)
    pinned.write_bytes(b"pinned")  # once pinned: verified, nothing to say
    assert main(["adapters", "check", str(own), str(SCENARIOS / "default.toml")]) == 0
    assert "trust_on_first_use" not in capsys.readouterr().out
