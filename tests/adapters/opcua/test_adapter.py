"""The ``opcua`` adapter against a real asyncua server standing in for the PLC.

One plain PLC serves the module (a server takes about a second to build); the reconnect and
security tests start their own. Tests wait on the adapter's status, never on the clock.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua

from adapters.base import Adapter
from adapters.loader import build_adapters, load_adapters
from adapters.opcua import OpcUaConfig
from opcua_server.security import ensure_certificate
from tests.adapters.conftest import Twin
from tests.adapters.opcua.conftest import KINDS, after, build, entry, running
from tests.adapters.opcua.plc import URI, USERS, VT, Plc, Relay
from tests.conftest import ROOT, free_port
from twin.errors import ConfigError
from twin.events import STATE_CODES
from twin.signals import STALE

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_example_file_maps_the_default_cell(twin: Twin) -> None:
    file = load_adapters(ROOT / "adapters" / "opcua" / "example.toml", KINDS)
    (adapter,) = build_adapters(file, twin.engine, twin.api, KINDS)
    assert isinstance(adapter.cfg, OpcUaConfig)
    assert adapter.cfg.security_policy == "Basic256Sha256"
    assert adapter.cfg.pki_path == Path("var/adapters/cell-plc/pki")
    assert len(adapter.cfg.inputs) == 2
    assert len(adapter.cfg.outputs) == 5


async def test_outputs_are_written_with_the_server_types_and_only_when_changed(
    plc: Plc, twin: Twin
) -> None:
    twin.step(100.0)
    store, cnc = twin.engine.store, twin.engine.machines["cnc1"]
    assert cnc.state == "Executing"
    (adapter,) = build(
        twin,
        entry(
            plc.url,
            refresh_s=0,  # changes only
            write=[{"signal": "cnc1.spindle_speed", "node": f"nsu={URI};s=Speed", "scale": 10}],
            state=[{"machine": "cnc1", "node": f"ns={plc.ns};s=CncState"}],
        ),
    )
    async with running(adapter):
        await adapter.wait_until(lambda st: st.written >= 2)
        assert await plc.get("Speed") == pytest.approx(store.get("cnc1.spindle_speed") / 10)
        state = await plc.nodes["CncState"].read_data_value()
        assert state.Value.VariantType is VT.Int16  # the server's type, not a Double
        assert state.Value.Value == STATE_CODES["Executing"]
        await adapter.wait_until(after(adapter, 3))
        assert adapter.status.written == 2  # nothing changed: nothing written

        speed = store.get("cnc1.spindle_speed")
        twin.step(1.0)
        assert store.get("cnc1.spindle_speed") != speed
        assert cnc.state == "Executing"
        await adapter.wait_until(lambda st: st.written >= 3)
        await adapter.wait_until(after(adapter, 3))
        assert adapter.status.written == 3  # the speed only
        assert await plc.get("Speed") == pytest.approx(store.get("cnc1.spindle_speed") / 10)
        assert adapter.status.failures == 0


async def test_a_write_the_plc_refuses_is_a_bad_tag_and_the_link_goes_on(
    plc: Plc, twin: Twin
) -> None:
    """A Bad status for one node of a Write (here: made read-only after the connect) fails
    that output only; once the PLC takes it again it is written."""
    twin.step(100.0)
    store, state = twin.engine.store, plc.nodes["CncState"]
    (adapter,) = build(
        twin,
        entry(
            plc.url,
            write=[{"signal": "cnc1.spindle_speed", "node": f"ns={plc.ns};s=Speed"}],
            state=[{"machine": "cnc1", "node": f"ns={plc.ns};s=CncState"}],
        ),
    )
    name = "state[0] (cnc1)"
    try:
        async with running(adapter):
            await adapter.wait_until(lambda st: st.written >= 2)
            await state.set_writable(False)
            twin.api.inject_fault("cnc1")  # the state and the speed change
            twin.engine.sample_signals()
            st = await adapter.wait_until(lambda st: name in st.bad_tags)
            assert st.bad_tags[name].startswith(
                f"write node 'ns={plc.ns};s=CncState': the PLC answers Bad"
            )
            await adapter.wait_until(after(adapter, 2))
            assert await plc.get("Speed") == 0.0  # the other output went on
            assert await plc.get("CncState") == STATE_CODES["Executing"]
            assert (adapter.status.connects, adapter.status.failures) == (1, 0)

            await state.set_writable(True)
            await adapter.wait_until(lambda st: not st.bad_tags)
            assert await plc.get("CncState") == STATE_CODES["OutOfService"]
            assert store.get("cnc1.spindle_speed") == 0.0
    finally:
        await state.set_writable(True)


@pytest.mark.parametrize("subscription", [True, False], ids=["subscription", "polling"])
async def test_input_pins_the_signal_to_the_plc_value(
    plc: Plc, twin: Twin, subscription: bool
) -> None:
    store = twin.engine.store
    (adapter,) = build(
        twin,
        entry(
            plc.url,
            use_subscription=subscription,
            read=[{"signal": "printer1.bed_temp", "node": f"ns={plc.ns};s=BedTemp", "scale": 0.1}],
        ),
    )
    async with running(adapter):
        await adapter.wait_until(lambda st: st.connected)
        await plc.set("BedTemp", 603)  # tenths of a degree
        await adapter.wait_until(lambda st: store.get("printer1.bed_temp") == pytest.approx(60.3))
        twin.step(600.0)  # the model no longer writes it:
        assert store.get("printer1.bed_temp") == pytest.approx(60.3)

        await plc.set("BedTemp", 999, ua.StatusCodes.BadSensorFailure)
        bed = store.index("printer1.bed_temp")
        await adapter.wait_until(lambda st: store.quality[bed] == STALE)  # the bad value came
        assert store.get("printer1.bed_temp") == pytest.approx(60.3)  # and was not taken
        st = await adapter.wait_until(lambda st: bool(st.bad_tags))  # and is a bad tag
        assert st.bad_tags == {
            "read[0] (printer1.bed_temp)": f"read node 'ns={plc.ns};s=BedTemp': the PLC "
            "answers BadSensorFailure"
        }
        await plc.set("BedTemp", 615)
        await adapter.wait_until(lambda st: store.get("printer1.bed_temp") == pytest.approx(61.5))
        await adapter.wait_until(lambda st: not st.bad_tags)
        assert adapter.status.failures == 0


async def test_fault_input_puts_the_machine_out_of_service_and_back(plc: Plc, twin: Twin) -> None:
    engine = twin.engine
    fault = {"machine": "cnc1", "node": f"ns={plc.ns};s=CncFault"}
    (adapter,) = build(twin, entry(plc.url, fault=[fault]))

    def commands() -> list[tuple[str, dict[str, Any]]]:
        return [(c.command, c.args) for c in engine.journal]

    async with running(adapter):
        await adapter.wait_until(after(adapter, 2))
        assert commands() == []  # false from the start: nothing to do
        await plc.set("CncFault", True)
        await adapter.wait_until(lambda st: len(commands()) == 1)
        command, args = commands()[0]
        assert (command, args["machine"], args["kind"]) == ("inject_fault", "cnc1", "breakdown")
        engine.run_through(engine.now)
        assert engine.machines["cnc1"].state == "OutOfService"

        await plc.set("CncFault", False)
        await adapter.wait_until(lambda st: len(commands()) == 2)
        assert commands()[1][0] == "clear_fault"
        engine.run_through(engine.now)
        assert engine.machines["cnc1"].state != "OutOfService"


async def test_reconnects_to_a_restarted_plc_and_writes_every_output_again(twin: Twin) -> None:
    port = free_port()
    plc = await Plc.start(port)
    twin.step(100.0)
    (adapter,) = build(
        twin,
        entry(
            plc.url,
            write=[{"signal": "cnc1.spindle_speed", "node": f"nsu={URI};s=Speed"}],
            state=[{"machine": "cnc1", "node": f"nsu={URI};s=CncState"}],
        ),
    )
    try:
        async with running(adapter):
            await adapter.wait_until(lambda st: st.written == 2)
            await plc.stop()
            status = await adapter.wait_until(lambda st: not st.connected)
            assert status.failures > 0
            assert status.last_error is not None

            plc = await Plc.start(port)  # a new PLC: every value is back to its initial one
            assert await plc.get("Speed") == 0.0
            status = await adapter.wait_until(lambda st: st.connects == 2 and st.written == 4)
            assert status.connected
            speed = twin.engine.store.get("cnc1.spindle_speed")
            assert await plc.get("Speed") == pytest.approx(speed)
            assert await plc.get("CncState") == STATE_CODES["Executing"]
    finally:
        await plc.stop()


@pytest.mark.parametrize("inputs", [False, True], ids=["outputs-only", "subscribed-input"])
async def test_a_silent_plc_is_noticed_within_the_timeout(
    plc: Plc, twin: Twin, inputs: bool
) -> None:
    relay = Relay(plc.port)
    port = await relay.start()
    mappings: dict[str, Any] = {"state": [{"machine": "cnc1", "node": f"nsu={URI};s=CncState"}]}
    if inputs:
        mappings["read"] = [{"signal": "printer1.bed_temp", "node": f"nsu={URI};s=BedTemp"}]
    url = f"opc.tcp://127.0.0.1:{port}/plc"
    (adapter,) = build(twin, entry(url, timeout_s=0.5, refresh_s=0, **mappings))
    try:
        async with running(adapter):
            await adapter.wait_until(lambda st: st.written == 1)
            await adapter.wait_until(after(adapter, 2))  # and nothing more to write
            relay.silent = True
            status = await adapter.wait_until(lambda st: not st.connected, within_s=2.0)
            assert status.failures == 1
            assert status.last_error is not None
    finally:
        await relay.stop()


async def test_secure_link_with_a_trusted_certificate_user_and_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, twin: Twin
) -> None:
    plc_pki = tmp_path / "plc-pki"
    plc = await Plc.start(free_port(), pki=plc_pki)
    # some other client is trusted (an empty trust list fails every client: BadInternalError)
    shutil.copy(plc_pki / "own" / "cert.der", plc_pki / "trusted" / "other.der")
    twin.step(100.0)
    own = tmp_path / "pki" / "own"
    secure = {
        "security_policy": "Basic256Sha256",
        "security_mode": "SignAndEncrypt",
        "username": "alice",
    }
    # a node each: two adapters of one PLC writing one node are refused
    speed, bed, cnc, label = (
        {"write": [{"signal": "cnc1.spindle_speed", "node": f"nsu={URI};s={name}"}]}
        for name in ("Speed", "BedTemp", "CncState", "Label")
    )
    # the others use the first one's certificate (and so its application URI)
    theirs = {"certificate": str(own / "cert.der"), "private_key": str(own / "key.pem")}
    plc_cert = str(plc_pki / "own" / "cert.der")
    monkeypatch.setenv("PLC_GOOD", USERS["alice"])
    monkeypatch.setenv("PLC_BAD", "wrong")
    monkeypatch.delenv("PLC_UNSET", raising=False)
    other = ensure_certificate(tmp_path / "other", "urn:other-plc", "127.0.0.1", "other PLC")
    [good] = build(
        twin,
        entry(
            plc.url,
            **secure,
            **speed,
            name="good",
            pki_dir=str(tmp_path / "pki"),
            password_env="PLC_GOOD",
            server_certificate=plc_cert,
        ),
    )

    def others() -> list[Adapter]:
        # read when validated: built once the first one has made its certificate
        return build(
            twin,
            entry(
                plc.url,
                **secure,
                **theirs,
                **bed,
                name="bad",
                password_env="PLC_BAD",
                server_certificate=plc_cert,
            ),
            entry(
                plc.url,
                **secure,
                **theirs,
                **cnc,
                name="unset",
                password_env="PLC_UNSET",
                server_certificate=plc_cert,
            ),
            entry(  # pins another certificate than the PLC's
                plc.url,
                **secure,
                **theirs,
                **label,
                name="impostor",
                password_env="PLC_GOOD",
                server_certificate=str(other.cert),
            ),
        )

    try:
        async with running(good):
            # made on the first connect: the PLC does not trust it yet
            status = await good.wait_until(lambda st: st.failures >= 1)
            assert status.last_error is not None
            assert (
                "(BadCertificateUntrusted): does the PLC trust the certificate" in status.last_error
            )
            assert str(own / "cert.der") in status.last_error
            shutil.copy(own / "cert.der", plc_pki / "trusted" / "twin.der")  # trust it
            await good.wait_until(lambda st: st.written == 1)
            spindle = twin.engine.store.get("cnc1.spindle_speed")
            assert await plc.get("Speed") == pytest.approx(spindle)

            bad, unset, impostor = others()
            async with running(bad, unset, impostor):
                status = await bad.wait_until(lambda st: st.failures >= 2)
                assert not status.connected
                assert status.last_error is not None
                assert "user 'alice' refused (BadUserAccessDenied)" in status.last_error
                assert "password ($PLC_BAD)" in status.last_error

                status = await unset.wait_until(lambda st: st.failures >= 1)
                # the field and what to do, no class name ("ConfigError: adapter unset: ...")
                assert status.last_error == (
                    "password_env: environment variable PLC_UNSET is not set"
                )

                status = await impostor.wait_until(lambda st: st.failures >= 1)
                assert status.connects == 0
                assert status.last_error is not None
                assert "the server's certificate is not server_certificate" in status.last_error
            assert good.status.failures == 1  # connected since it was trusted
    finally:
        await plc.stop()


NO_NODE = "the PLC answers BadNodeIdUnknown: no such node: check the NodeId"


@pytest.mark.parametrize(
    ("group", "mapping", "reason"),
    [
        (
            "write",
            {"signal": "cnc1.power", "node": "ns={ns};s=Label"},
            "data type String (i=12) is not a number or boolean",
        ),
        ("write", {"signal": "cnc1.power", "node": "ns={ns};s=Locked"}, "not writable"),
        ("read", {"signal": "cnc1.power", "node": "ns={ns};s=Nope"}, NO_NODE),
        ("read", {"signal": "cnc1.power", "node": "nsu=urn:x;s=Speed"}, "no namespace 'urn:x'"),
        (  # the Objects folder
            "fault",
            {"machine": "printer1", "node": "i=85"},
            "the PLC answers BadAttributeIdInvalid: not a variable: check the NodeId",
        ),
    ],
    ids=["text-node", "read-only", "unknown-node", "unknown-namespace", "not-a-variable"],
)
async def test_an_unusable_node_is_a_bad_tag_and_the_others_go_on(
    plc: Plc,
    twin: Twin,
    caplog: pytest.LogCaptureFixture,
    group: str,
    mapping: dict[str, str],
    reason: str,
) -> None:
    """A node that is unknown, of another type or read-only at connect fails its own
    mapping, named with the node and why, logged once; the link is up and the other
    mappings are served."""
    twin.step(100.0)
    node = mapping["node"].format(ns=plc.ns)
    good: dict[str, list[dict[str, str]]] = {
        "read": [{"signal": "printer1.bed_temp", "node": f"ns={plc.ns};s=BedTemp"}],
        "state": [{"machine": "cnc1", "node": f"nsu={URI};s=CncState"}],
    }
    maps = {**good, group: [*good.get(group, []), {**mapping, "node": node}]}
    (adapter,) = build(twin, entry(plc.url, **maps))
    name = f"{group}[{len(maps[group]) - 1}] ({mapping.get('signal') or mapping['machine']})"
    caplog.set_level(logging.INFO, logger="adapters.plc1")
    store = twin.engine.store
    async with running(adapter):
        await plc.set("BedTemp", 63)
        await adapter.wait_until(lambda st: st.written >= 1 and st.cycles >= 1)
        await adapter.wait_until(lambda st: store.get("printer1.bed_temp") == 63)
        st = await adapter.wait_until(after(adapter, 3))
        assert st.bad_tags.keys() == {name}
        assert st.bad_tags[name].startswith(f"node {node!r}: ")
        assert reason in st.bad_tags[name]
        assert (st.connected, st.connects, st.failures) == (True, 1, 0)
        assert await plc.get("CncState") == STATE_CODES[twin.engine.machines["cnc1"].state]
        assert adapter.bridge.links.get("plc1").bad_tags == (f"{name}: {st.bad_tags[name]}",)
        assert st.last_error == f"{name}: {st.bad_tags[name]}"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"adapter plc1: {name}: {st.bad_tags[name]}"]  # checked each cycle, once


@pytest.mark.parametrize("subscription", [True, False], ids=["subscription", "polling"])
async def test_a_node_fixed_on_the_plc_is_used_without_a_reconnect(
    plc: Plc, twin: Twin, subscription: bool
) -> None:
    """A program download adds the missing input node and makes the read-only output
    writable: both are checked again each cycle and used once they pass."""
    twin.step(100.0)
    store = twin.engine.store
    late, locked = f"ns={plc.ns};s=Late", plc.nodes["Locked"]
    (adapter,) = build(
        twin,
        entry(
            plc.url,
            use_subscription=subscription,
            read=[{"signal": "printer1.bed_temp", "node": late}],
            write=[{"signal": "cnc1.spindle_speed", "node": f"ns={plc.ns};s=Locked"}],
        ),
    )
    added = None
    try:
        async with running(adapter):
            st = await adapter.wait_until(lambda st: len(st.bad_tags) == 2)
            assert st.bad_tags["read[0] (printer1.bed_temp)"] == f"node {late!r}: {NO_NODE}"
            folder = await plc.server.nodes.objects.get_child(f"{plc.ns}:PLC")
            added = await folder.add_variable(
                ua.NodeId("Late", plc.ns), "Late", ua.Variant(61, VT.Int16)
            )
            await locked.set_writable(True)
            st = await adapter.wait_until(lambda st: not st.bad_tags)
            assert store.get("printer1.bed_temp") == 61
            speed = store.get("cnc1.spindle_speed")
            assert await plc.get("Locked") == pytest.approx(speed)
            assert (st.connects, st.failures) == (1, 0)
    finally:
        await locked.set_writable(False)
        await plc.set("Locked", 0.0)
        if added is not None:
            await plc.server.delete_nodes([added])


@pytest.mark.parametrize(
    ("fields", "where", "reason"),
    [
        (
            {"read": [{"signal": "printer1.bed_temp", "node": "ns=2;x=Temp"}]},
            "adapter[0].read[0].node",
            "'ns=2;x=Temp' is not a NodeId",
        ),
        (
            {"write": [{"signal": "cnc1.power", "node": "ns=two;s=Power"}]},
            "adapter[0].write[0].node",
            "'ns=two;s=Power' is not a NodeId",
        ),
        (
            {"security_policy": "None", "security_mode": "SignAndEncrypt"},
            "adapter[0].security_mode",
            "'SignAndEncrypt' does not go with security_policy 'None'",
        ),
        (
            {"security_policy": "Basic256Sha256", "security_mode": "None"},
            "adapter[0].security_mode",
            "'None' does not go with security_policy 'Basic256Sha256'",
        ),
        ({"username": "alice"}, "adapter[0].password_env", "required with username"),
        ({"password": "x"}, "adapter[0].password", "never in the file"),
        ({"url": "http://plc:4840"}, "adapter[0].url", "must be opc.tcp://HOST:PORT"),
        ({"url": "opc.tcp://plc"}, "adapter[0].url", "must be opc.tcp://HOST:PORT"),
        (
            {"read": [{"signal": "printer1.bed_temperature", "node": "ns=2;s=Temp"}]},
            "adapter[0].read[0].signal",
            "unknown signal 'printer1.bed_temperature'",
        ),
    ],
    ids=[
        "bad-node-key",
        "bad-namespace-index",
        "policy-none-mode-secure",
        "mode-none-policy-secure",
        "user-without-password-env",
        "password-in-file",
        "not-opc-tcp",
        "no-port",
        "unknown-signal",
    ],
)
async def test_config_errors_name_the_field(
    twin: Twin, fields: dict[str, Any], where: str, reason: str
) -> None:
    table = {**entry("opc.tcp://127.0.0.1:4840"), **fields}
    if not {"read", "write"} & set(fields):
        table["state"] = [{"machine": "cnc1", "node": "ns=2;s=State"}]
    with pytest.raises(ConfigError) as caught:
        build(twin, table)
    assert caught.value.source == "test.toml"
    assert caught.value.field == where
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    "node",
    [
        "ns=2;s=Temp",
        "nsu=urn:plc:vars;s=Temp",
        "ns=3;i=1001",
        "i=2258",
        "ns=1;g=09087e75-8e5e-499b-954f-f2a9603db28a",
        "ns=4;s=DB1.a;b=c",  # a string identifier may hold ; and =
    ],
)
async def test_node_id_forms(node: str) -> None:
    table = entry("opc.tcp://plc:4840", write=[{"signal": "cnc1.power", "node": node}])
    assert OpcUaConfig.model_validate(table).write[0].node == node
