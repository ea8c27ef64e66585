"""Adapters files refused up front, by ``twin adapters check`` and ``twin run`` alike: exit 2
with one line naming the file, the field and the reason (golden cases: text -> error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.cli import main

MODBUS = '[[adapter]]\nname = "plc"\nkind = "modbus"\nhost = "127.0.0.1"\n'
OPCUA = '[[adapter]]\nname = "plc"\nkind = "opcua"\nurl = "opc.tcp://127.0.0.1:4841"\n'
STATE = '[[adapter.state]]\nmachine = "cnc1"\naddress = 1\n'
UA_STATE = STATE.replace("address = 1", 'node = "ns=2;i=7"')

#: id -> (adapters file, field, start of the reason)
CASES: dict[str, tuple[str, str, str]] = {
    "fault-kind-the-machine-cannot-have": (
        MODBUS + '[[adapter.fault]]\nmachine = "robot1"\nkind = "tool_breakage"\n'
        'table = "coil"\naddress = 0\n',
        "adapter[0].fault[0].kind",
        "a tool_breakage happens on a cnc machine only; 'robot1' is of kind robot",
    ),
    "missing-server-certificate": (
        OPCUA + 'server_certificate = "no/such/plc.der"\n' + UA_STATE,
        "adapter[0].server_certificate",
        "'no/such/plc.der': no such file (the PLC's certificate, DER or PEM)",
    ),
    "server-certificate-no-certificate": (
        OPCUA + 'server_certificate = "pyproject.toml"\n' + UA_STATE,
        "adapter[0].server_certificate",
        "'pyproject.toml': not a certificate (neither PEM nor a DER certificate; the PLC's"
        " certificate, DER or PEM)",
    ),
    **{
        f"strict-{field.rsplit('.', 1)[-1]}-{tag}": (MODBUS + extra + STATE, field, reason)
        for tag, extra, field, reason in [
            ("bool", "port = true\n", "adapter[0].port", "expected an integer, got True"),
            (
                "string",
                'port = "502"\n',
                "adapter[0].port",
                "expected an integer, got the string '502': write the number without quotes",
            ),
            (
                "string",
                'period_s = "0.5"\n',
                "adapter[0].period_s",
                "expected a number, got the string '0.5': write the number without quotes",
            ),
            ("tiny", "period_s = 0.0001\n", "adapter[0].period_s", "Input should be greater"),
            (
                "string",
                'enabled = "no"\n',
                "adapter[0].enabled",
                "expected true or false, got the string 'no'",
            ),
        ]
    },
    "modbus-read-what-is-written": (
        MODBUS
        + STATE
        + '[[adapter.read]]\nsignal = "cnc1.coolant_temp"\ntable = "holding"\naddress = 1\n',
        "adapter[0].read[0].address",
        "holding 1 is written by state[0]: the twin would read back what it writes",
    ),
    "opcua-read-what-is-written": (
        OPCUA
        + "trust_on_first_use = true\n"
        + STATE.replace("address = 1", 'node = "ns=2;s=X"')
        + '[[adapter.read]]\nsignal = "cnc1.coolant_temp"\nnode = "ns=2;s=X"\n',
        "adapter[0].read[0].node",
        "'ns=2;s=X' is written by state[0]: the twin would read back what it writes",
    ),
    "opcua-shared-pki-dir": (
        OPCUA
        + "trust_on_first_use = true\npki_dir = 'var/pki'\n"
        + UA_STATE
        + "[[adapter]]\nname = 'plc2'\nkind = 'modbus'\nhost = 'h'\n"
        + STATE
        + OPCUA.replace('"plc"', '"plc3"')
        + "trust_on_first_use = true\npki_dir = 'var/pki'\n"
        + UA_STATE.replace("i=7", "i=8"),
        "adapter[2].pki_dir",
        "'var/pki' is also the pki_dir of adapter[0] (plc): each adapter needs its own (the"
        " client certificate made there names its adapter, and the PLC's certificate is pinned"
        " there)",
    ),
    "opcua-pki-dir-another-adapters-default": (
        OPCUA
        + "trust_on_first_use = true\n"
        + UA_STATE
        + OPCUA.replace('"plc"', '"plc2"')
        + "trust_on_first_use = true\npki_dir = 'var/adapters/plc/pki'\n"
        + UA_STATE.replace("i=7", "i=8"),
        "adapter[1].pki_dir",
        "'var/adapters/plc/pki' is also the default pki_dir of adapter[0] (plc): each",
    ),
    "modbus-two-adapters-write-one-register": (
        MODBUS
        + STATE
        + MODBUS.replace('"plc"', '"plc2"')
        + '[[adapter.write]]\nsignal = "cnc1.power"\ntable = "holding"\naddress = 0\n'
        + 'type = "float32"\n',
        "adapter[1].write[0].address",
        "holding 1 of 127.0.0.1:502 unit 1 is also written by state[0] of adapter[0] (plc)",
    ),
    "modbus-one-adapter-reads-what-another-writes": (
        MODBUS
        + STATE
        + MODBUS.replace('"plc"', '"plc2"').replace('"127.0.0.1"\n', '"127.0.0.1"\nunit = 1\n')
        + '[[adapter.read]]\nsignal = "cnc1.power"\ntable = "holding"\naddress = 1\n',
        "adapter[1].read[0].address",
        "holding 1 of 127.0.0.1:502 unit 1 is written by state[0] of adapter[0] (plc): the twin"
        " would read back what it writes",
    ),
    "opcua-two-adapters-write-one-node": (
        OPCUA
        + "trust_on_first_use = true\n"
        + UA_STATE
        + OPCUA.replace('"plc"', '"plc2"').replace("4841", "4841/")
        + "trust_on_first_use = true\npki_dir = 'var/pki2'\n"
        + UA_STATE.replace("cnc1", "printer1"),
        "adapter[1].state[0].node",
        "'ns=2;i=7' is also written by state[0] of adapter[0] (plc)",
    ),
    "backoff-max-below-backoff": (
        MODBUS + "backoff_s = 2\nbackoff_max_s = 1\n" + STATE,
        "adapter[0].backoff_max_s",
        "must be at least backoff_s (2 s)",
    ),
    "typo-in-a-section": (
        MODBUS + STATE + '[[adapter.reads]]\nsignal = "cnc1.power"\ntable = "input"\n',
        "adapter[0].reads",
        "unknown field (did you mean 'read'?)",
    ),
    "typo-in-a-mapping": (
        MODBUS
        + '[[adapter.write]]\nsignal = "cnc1.power"\ntable = "holding"\naddress = 3\n'
        + "scal = 0.1\n",
        "adapter[0].write[0].scal",
        "unknown field (did you mean 'scale'?)",
    ),
    "strict-address-bool": (
        MODBUS + STATE.replace("address = 1", "address = true"),
        "adapter[0].state[0].address",
        "expected an integer, got True",
    ),
    "strict-address-string": (
        MODBUS + STATE.replace("address = 1", 'address = "30001"'),
        "adapter[0].state[0].address",
        "expected an integer, got the string '30001'",
    ),
    # a value outside a field's options or range is echoed as in a scenario file
    "modbus-table-misspelt": (
        MODBUS + '[[adapter.read]]\nsignal = "cnc1.power"\ntable = "discret"\naddress = 3\n',
        "adapter[0].read[0].table",
        "Input should be 'holding', 'input', 'coil' or 'discrete', got 'discret' (did you mean"
        " 'discrete'?)\n",
    ),
    "modbus-state-in-a-coil": (
        MODBUS + STATE + 'table = "coil"\n',
        "adapter[0].state[0].table",
        "Input should be 'holding', got 'coil'\n",
    ),
    "modbus-type-misspelt": (
        MODBUS + STATE + 'type = "float31"\n',
        "adapter[0].state[0].type",
        "Input should be 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32' or"
        " 'float64', got 'float31' (did you mean 'float32'?)\n",
    ),
    "modbus-word-order-misspelt": (
        MODBUS + 'word_order = "bigg"\n' + STATE,
        "adapter[0].word_order",
        "Input should be 'big' or 'little', got 'bigg' (did you mean 'big'?)\n",
    ),
    "fault-kind-misspelt": (
        MODBUS + '[[adapter.fault]]\nmachine = "cnc1"\nkind = "brekdown"\n'
        'table = "coil"\naddress = 0\n',
        "adapter[0].fault[0].kind",
        "Input should be 'breakdown', 'tool_breakage', 'emergency_stop', 'print_failure' or"
        " 'maintenance', got 'brekdown' (did you mean 'breakdown'?)\n",
    ),
    "opcua-security-mode-misspelt": (
        OPCUA + 'security_mode = "sign"\n' + UA_STATE,
        "adapter[0].security_mode",
        "Input should be 'None', 'Sign' or 'SignAndEncrypt', got 'sign' (did you mean 'Sign'?)\n",
    ),
    "modbus-address-beyond": (
        MODBUS + STATE.replace("address = 1", "address = 70000"),
        "adapter[0].state[0].address",
        "Input should be less than or equal to 65535, got 70000\n",
    ),
    "strict-scale-bool": (
        MODBUS
        + '[[adapter.write]]\nsignal = "cnc1.power"\ntable = "holding"\naddress = 3\n'
        + "scale = true\n",
        "adapter[0].write[0].scale",
        "expected a number, got the boolean true",
    ),
}


def write(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "plc.toml"
    file.write_text(text, encoding="utf-8")
    return file


@pytest.mark.parametrize(("text", "field", "reason"), CASES.values(), ids=CASES.keys())
def test_adapters_check_refuses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, field: str, reason: str
) -> None:
    file = write(tmp_path, text)
    assert main(["adapters", "check", str(file)]) == 2
    out, err = capsys.readouterr()
    assert "OK" not in out
    assert err.startswith(f"error: {file}: {field}: {reason}"), err
    assert err.count("\n") == 1  # one line, no traceback


@pytest.mark.parametrize(("text", "field", "reason"), CASES.values(), ids=CASES.keys())
def test_twin_run_refuses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, field: str, reason: str
) -> None:
    file = write(tmp_path, text)
    args = ["run", "--adapters", str(file), "--insecure-plc", "--port", "0"]
    args += ["--out", str(tmp_path / "out"), "--pki", str(tmp_path / "pki")]
    args += ["--users", str(tmp_path / "users.toml"), "--telemetry", "none"]
    assert main(args) == 2
    assert f"{file}: {field}: {reason}" in capsys.readouterr().err


def test_adapters_check_warns_of_an_output_its_type_cannot_hold(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """spindle_speed (0 to 18,000 rpm) as an int16 at scale 0.1 is 0 to 180,000 raw."""
    write = '[[adapter.write]]\nsignal = "cnc1.spindle_speed"\ntable = "holding"\naddress = 0\n'
    fits = write.replace("address = 0", 'address = 2\ntype = "float32"\nscale = 0.1')
    file = tmp_path / "plc.toml"
    file.write_text(
        MODBUS + write + 'type = "int16"\nscale = 0.1\n' + fits + STATE, encoding="utf-8"
    )
    assert main(["adapters", "check", str(file)]) == 0
    out, err = capsys.readouterr()
    assert f"{file}: OK" in out
    assert err == (
        f"warning: {file}: adapter[0].write[0]: cnc1.spindle_speed ranges 0 to 18000 rpm, 0 to"
        " 180000 raw at scale 0.1 and offset 0, but the tag holds -32768 to 32767: values"
        " beyond are written saturated (choose a wider type or scale)\n"
    )


@pytest.mark.parametrize(
    "value", ["[" * 50_000 + "]" * 50_000, "{a = " * 50_000 + "1" + "}" * 50_000]
)
@pytest.mark.parametrize("command", ["check", "run"])
def test_a_file_nested_too_deeply_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str, command: str
) -> None:
    """tomllib recurses per level: a file nested 50,000 deep is refused in one line naming
    it (exit 2), not with a RecursionError's traceback."""
    file = write(tmp_path, MODBUS + f"x = {value}\n" + STATE)
    if command == "check":
        args = ["adapters", "check", str(file)]
    else:
        args = ["run", "--adapters", str(file), "--port", "0", "--telemetry", "none"]
        args += ["--out", str(tmp_path / "out"), "--pki", str(tmp_path / "pki")]
        args += ["--users", str(tmp_path / "users.toml")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {file}: nested too deeply (arrays or tables")
    assert err.count("\n") == 1  # one line, no traceback


def test_adapters_check_warns_of_inputs_reading_one_register(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A float32 at input 0 takes registers 0 and 1: a uint16 at input 1 reads half of it.
    Perhaps meant, so a warning; the same registers of another device are no concern."""
    read = '[[adapter.read]]\nsignal = "{}"\ntable = "input"\naddress = {}\n'
    text = (
        MODBUS
        + read.format("cnc1.power", 0)
        + 'type = "float32"\n'
        + read.format("cnc1.coolant_temp", 1)
        + MODBUS.replace('"plc"', '"plc2"').replace("127.0.0.1", "127.0.0.2")
        + read.format("printer1.bed_temp", 1)
    )
    file = write(tmp_path, text)
    assert main(["adapters", "check", str(file)]) == 0
    out, err = capsys.readouterr()
    assert f"{file}: OK" in out
    assert err == (
        f"warning: {file}: adapter[0].read[1].address: input 1 is also read by read[0] (input"
        " 0..1, float32): one register read as two values; check the addresses and types\n"
    )
