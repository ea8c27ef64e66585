"""Interop with an independent stack: node-opcua-client over SignAndEncrypt with a user."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from opcua_server.nodesets import NS
from tests.conftest import ROOT, missing_service
from tests.opcua.conftest import USERS, Twin, make_client_cert

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCRIPT = ROOT / "tests" / "opcua" / "interop" / "client.js"
NODE_MODULES = ROOT / "node" / "node_modules"
NODE_URI = "urn:cell-twin:node-interop"


async def _line(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    assert proc.stdout is not None
    raw = await asyncio.wait_for(proc.stdout.readline(), 60)
    if not raw:
        stderr = await proc.stderr.read() if proc.stderr else b""
        pytest.fail(f"node client ended early: {stderr.decode(errors='replace')[-2000:]}")
    data: dict[str, Any] = json.loads(raw)
    if data.get("step") == "error":
        pytest.fail(f"node client failed: {data['message']}")
    return data


async def test_node_opcua_client(twin: Twin) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "node-opcua-client").is_dir():
        missing_service("node and node/node_modules (run `make deps` or `npm ci` in node/)")
    work = twin.root / "node-interop"
    cert = make_client_cert(work / "own", NODE_URI)
    (twin.root / "pki" / "trusted" / "node-interop.der").write_bytes(cert.cert.read_bytes())
    signal = twin.server.signal_nodes[twin.engine.store.index("cnc1.power")]
    cell = twin.server.ctx.machine_nodes if twin.server.ctx else {}
    assert cell
    twin_ns = twin.ns(NS.TWIN)
    config = {
        "endpoint": twin.url,
        "pkiRoot": str(work / "pki"),
        "serverCert": str(twin.root / "pki" / "own" / "cert.der"),
        "cert": str(cert.cert.with_name("client-cert.pem")),
        "key": str(cert.key),
        "applicationUri": NODE_URI,
        "user": "erin",
        "password": USERS["erin"][1],
        "machinesNodeId": f"ns={twin.ns(NS.MACHINERY)};i=1001",
        "signalNodeId": signal.to_string(),
        "cellNodeId": f"ns={twin_ns};s=Cell",
        "setSpeedNodeId": f"ns={twin_ns};s=Cell.SetSpeed",
        "injectFaultNodeId": f"ns={twin_ns};s=Cell.InjectFault",
    }
    # node-opcua reads PEM certificates
    der = x509.load_der_x509_certificate(cert.cert.read_bytes())
    cert.cert.with_name("client-cert.pem").write_bytes(der.public_bytes(serialization.Encoding.PEM))
    key = serialization.load_pem_private_key(cert.key.read_bytes(), password=None)
    cert.key.write_bytes(  # node-opcua reads RSA keys in the traditional (PKCS#1) form
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    (work / "config.json").write_text(json.dumps(config))
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    proc = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        str(work / "config.json"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        first = await _line(proc)
        assert first["step"] == "subscribed"
        # make the monitored value change: the CNC goes out of service (standby power)
        twin.api.inject_fault("cnc1", "breakdown", None)
        await twin.step(1.0)
        result = await _line(proc)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if twin.engine.machines["cnc1"].faults:
            twin.api.clear_fault("cnc1")
            await twin.step(1.0)
    assert result["browseStatus"] == "Good"
    assert result["machines"] == ["cnc1", "printer1", "robot1", "vision1"]
    assert result["readStatus"] == "Good"
    assert isinstance(result["readValue"], float)
    assert result["notifications"][-1] == pytest.approx(0.4)
    assert result["setSpeedStatus"] == "Good"
    assert twin.driver.speed == 90.0
    assert result["injectFaultStatus"] == "BadInvalidArgument"
    assert result["injectFaultArgStatus"][0] == "BadInvalidArgument"
    twin.api.set_speed(60.0)
