"""Interop with an independent stack: node-opcua-client over SignAndEncrypt with a user."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from opcua_server.nodesets import NS
from tests.conftest import ROOT, missing_service
from tests.opcua.conftest import USERS, Twin, make_client_cert
from tests.opcua.jobs_client import (
    ABORTED,
    ALLOWED_TO_START,
    COMPLETED,
    ENDED,
    ENDED_EVENTS,
    RUNNING,
    Watch,
    step_until,
)
from twin import events as tev
from twin.model import HousingSpec

pytestmark = pytest.mark.asyncio(loop_scope="module")

INTEROP = ROOT / "tests" / "opcua" / "interop"
NODE_MODULES = ROOT / "node" / "node_modules"
NODE_URI = "urn:cell-twin:node-interop"


async def _line(proc: asyncio.subprocess.Process, step: str) -> dict[str, Any]:
    """The script's next protocol line (a JSON object), which must be ``step``; node-opcua's
    own log lines, which it also writes to stdout (e.g. a warning about the node version), are
    skipped."""
    assert proc.stdout is not None
    raw = b""
    while not raw.startswith(b"{"):
        raw = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not raw:
            stderr = await proc.stderr.read() if proc.stderr else b""
            pytest.fail(f"node client ended early: {stderr.decode(errors='replace')[-2000:]}")
    data: dict[str, Any] = json.loads(raw)
    if data.get("step") == "error":
        pytest.fail(f"node client failed: {data['message']}")
    assert data["step"] == step, data
    return data


def _connection(twin: Twin, name: str, user: str) -> tuple[Path, dict[str, Any]]:
    """A trusted client certificate for node-opcua (PEM, PKCS#1 key) in a fresh folder, and
    the connection part of the script's config."""
    work = twin.root / name
    cert = make_client_cert(work / "own", NODE_URI)
    (twin.root / "pki" / "trusted" / f"{name}.der").write_bytes(cert.cert.read_bytes())
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
    return work, {
        "endpoint": twin.url,
        "pkiRoot": str(work / "pki"),
        "serverCert": str(twin.root / "pki" / "own" / "cert.der"),
        "cert": str(cert.cert.with_name("client-cert.pem")),
        "key": str(cert.key),
        "applicationUri": NODE_URI,
        "user": user,
        "password": USERS[user][1],
    }


async def _spawn(script: str, work: Path, config: dict[str, Any]) -> asyncio.subprocess.Process:
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "node-opcua-client").is_dir():
        missing_service("node and node/node_modules (run `make deps` or `npm ci` in node/)")
    (work / "config.json").write_text(json.dumps(config))
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    return await asyncio.create_subprocess_exec(
        node,
        str(INTEROP / script),
        str(work / "config.json"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def _end(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def test_node_opcua_client(twin: Twin) -> None:
    signal = twin.server.signal_nodes[twin.engine.store.index("cnc1.power")]
    cell = twin.server.ctx.machine_nodes if twin.server.ctx else {}
    assert cell
    twin_ns = twin.ns(NS.TWIN)
    work, config = _connection(twin, "node-interop", "erin")
    config |= {
        "machinesNodeId": f"ns={twin.ns(NS.MACHINERY)};i=1001",
        "signalNodeId": signal.to_string(),
        "cellNodeId": f"ns={twin_ns};s=Cell",
        "setSpeedNodeId": f"ns={twin_ns};s=Cell.SetSpeed",
        "injectFaultNodeId": f"ns={twin_ns};s=Cell.InjectFault",
    }
    proc = await _spawn("client.js", work, config)
    try:
        await _line(proc, "subscribed")
        # make the monitored value change: the CNC goes out of service (standby power)
        twin.api.inject_fault("cnc1", "breakdown", None)
        await twin.step(1.0)
        result = await _line(proc, "result")
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        await _end(proc)
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


def _iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _job_config(
    twin: Twin, name: str, job_id: str, parameters: list[tuple[str, str | float]]
) -> tuple[Path, dict[str, Any], dt.datetime]:
    """The connection (as the operator otto) and job order part of a job script's config: the
    order ``job_id`` of ``parameters``, due 8 h after the twin's simulated now; and that due
    time (in milliseconds, as JavaScript has it)."""
    due = twin.driver.wall_time(twin.engine.now) + dt.timedelta(hours=8)
    due = due.replace(microsecond=due.microsecond // 1000 * 1000)
    work, config = _connection(twin, name, "otto")
    config |= {
        "namespaces": {
            "twin": NS.TWIN,
            "jobs": NS.MACHINERY_JOBS,
            "isa95": NS.ISA95_JOBCONTROL,
        },
        "jobOrderId": job_id,
        "endTime": due.isoformat(timespec="milliseconds"),
        "parameters": parameters,
    }
    return work, config, due


async def _go(proc: asyncio.subprocess.Process, step: str) -> dict[str, Any]:
    """Let the script go on (the twin has been driven to the point it waits for) and return
    its next protocol line, which must be ``step``."""
    assert proc.stdin is not None
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    return await _line(proc, step)


async def test_node_opcua_job_order_to_response(twin: Twin) -> None:
    """node-opcua, as an operator, sends an ISA-95 job order built from the server's data type
    definitions, finds it in JobOrderList and reads its job response once the twin is done."""
    job_id = "NODE-JO-1"
    parameters: list[tuple[str, str | float]] = [
        ("type", "printed_housing"),
        ("material", "petg"),
        ("volume_cm3", 12.0),
    ]
    work, config, due = _job_config(twin, "node-jobs", job_id, parameters)
    with Watch(twin, job_id) as watch:
        proc = await _spawn("jobs.js", work, config)
        try:
            listed = await _line(proc, "listed")
            # time stands still until this test steps the twin: the list shows the state now
            job = twin.engine.jobs[job_id]
            state_now = ALLOWED_TO_START if job.state == "backlog" else RUNNING
            assert twin.server.server is not None
            job_order_list = ua.NodeId(
                "Cell.JobManagement.JobOrderControl.JobOrderList", twin.ns(NS.TWIN)
            )
            n_listed = len(await twin.server.server.get_node(job_order_list).read_value())

            end = await step_until(twin, watch, ENDED_EVENTS)
            result = await _go(proc, "result")
            assert await asyncio.wait_for(proc.wait(), 30) == 0
        finally:
            await _end(proc)
    events = watch.events

    # the job order, encoded by node-opcua from the DataTypeDefinition, reached the twin
    isa95 = twin.ns(NS.ISA95_JOBCONTROL)
    assert listed["store"] == {
        "jobOrderType": f"ns={isa95};i=3008",  # ISA95JobOrderDataType
        "jobOrderClass": "ISA95JobOrderDataType",  # built from its definition
        "status": "Good",
        "returnStatus": 1,  # bit 0: No Error
    }
    assert listed["maxDownloadable"] == {"type": "UInt16", "value": twin.engine.max_stored}
    assert (listed["listStatus"], listed["listLength"]) == ("Good", n_listed)
    assert job.family == "printed_housing"
    assert isinstance(job.spec, HousingSpec)
    assert (job.spec.material, job.spec.volume_cm3) == ("petg", 12.0)  # not the defaults
    assert job.due == pytest.approx((due - twin.driver.wall_time(0.0)).total_seconds(), abs=1e-3)
    entry = listed["listed"]
    assert entry["jobOrderID"] == job_id
    assert entry["parameters"] == {
        "type": "printed_housing",
        "material": "petg",
        "volume_cm3": 12.0,
    }
    assert _iso(entry["endTime"]) == due
    text = {ALLOWED_TO_START: "AllowedToStart", RUNNING: "Running"}[state_now]
    assert entry["states"] == [{"number": state_now, "text": text, "path": ""}]

    assert result["status"] == "Good"
    assert result["returnStatus"] == 1
    response = result["response"]
    assert response["jobOrderID"] == job_id
    assert response["jobResponseID"] == f"{job_id}.Response"
    if isinstance(end, tev.JobCompleted):
        assert response["jobState"] == [
            {"number": ENDED, "text": "Ended", "path": ""},
            {"number": COMPLETED, "text": "Completed", "path": "EndedSubstates"},
        ]
    else:
        assert response["jobState"] == [{"number": ABORTED, "text": "Aborted", "path": ""}]
    released = next(ev for ev in events if isinstance(ev, tev.JobReleased))
    ms = dt.timedelta(milliseconds=2)  # JavaScript dates have millisecond resolution
    assert _iso(response["startTime"]) == pytest.approx(twin.driver.wall_time(released.t), abs=ms)
    assert _iso(response["endTime"]) == pytest.approx(twin.driver.wall_time(end.t), abs=ms)
    data = response["data"]
    assert data["ProductType"] == "printed_housing"
    assert data["Operations"] == len(job.ops)
    done = sum(isinstance(ev, tev.OperationFinished) and not ev.aborted for ev in events)
    assert data["OperationsDone"] == done > 0
    assert data["Reworks"] == job.reworks
    assert data["LeadTime"] == pytest.approx(end.t - job.arrival)
    assert data["Tardiness"] == pytest.approx(max(0.0, end.t - job.due))
    assert data["Scrapped"] is isinstance(end, tev.JobScrapped)
    if isinstance(end, tev.JobCompleted):
        assert data["Good"] is end.good
        assert data["OperationsDone"] == len(job.ops)


async def test_node_opcua_stop(twin: Twin) -> None:
    """node-opcua, as an MES, stops a running job order (ISA-95 Stop): Good with ReturnStatus 1,
    the order Running until its operation under way ends, then Ended/Completed with a response
    saying Stopped; a second Stop is refused by state, a Stop of an unknown order as a bad
    argument, changing nothing."""
    job_id, unknown = "NODE-STOP-1", "NODE-STOP-NONE"
    parameters: list[tuple[str, str | float]] = [("type", "printed_housing"), ("volume_cm3", 20.0)]
    work, config, _ = _job_config(twin, "node-stop", job_id, parameters)
    config["unknownId"] = unknown
    stopped = twin.engine.stopped
    with Watch(twin, job_id) as watch:
        proc = await _spawn("stop.js", work, config)
        try:
            started = await _line(proc, "started")
            begun = await step_until(twin, watch, tev.OperationStarted)
            stopping = await _go(proc, "stopping")
            end = await step_until(twin, watch, tev.JobStopped)
            result = await _go(proc, "result")
            assert await asyncio.wait_for(proc.wait(), 30) == 0
        finally:
            await _end(proc)

    assert (started["store"]["status"], started["store"]["returnStatus"]) == ("Good", 1)
    assert stopping["unknown"] == {
        "status": "BadInvalidArgument",
        "argStatus": "BadInvalidArgument",
        "message": f"Stop: JobOrderID: no job order {unknown!r} in JobOrderList",
    }
    assert stopping["listUnchanged"] is True
    assert unknown not in twin.engine.jobs
    assert unknown not in twin.engine.stored
    assert stopping["stop"] == {"status": "Good", "returnStatus": 1}  # bit 0: No Error
    assert stopping["states"] == [{"number": RUNNING, "text": "Running", "path": ""}]
    assert stopping["again"] == {
        "status": "BadInvalidState",
        "argStatus": "BadInvalidState",
        "message": f"Stop: JobOrderID: job order {job_id!r} is Running until its step under way"
        " ends (Stop); it can no longer be stopped",
    }

    # the operation under way ended, then the job did, with nothing more done
    assert watch.first(tev.OperationFinished).op == begun.op
    assert watch.first(tev.JobCompleted) is None
    assert twin.engine.stopped == stopped + 1
    ended = [
        {"number": ENDED, "text": "Ended", "path": ""},
        {"number": COMPLETED, "text": "Completed", "path": "EndedSubstates"},
    ]
    assert result["states"] == ended
    assert (result["response"]["status"], result["response"]["returnStatus"]) == ("Good", 1)
    response = result["response"]["response"]
    assert response["jobOrderID"] == job_id
    assert response["jobState"] == ended
    assert response["data"]["Stopped"] is True
    assert response["data"]["Good"] is False
    assert response["data"]["OperationsDone"] == end.operations == 1
    assert response["data"]["Operations"] > 1
    assert result["late"]["status"] == "BadInvalidState"
    assert f"{job_id!r} is Ended/Completed" in result["late"]["message"]


async def test_node_opcua_job_status_events(twin: Twin) -> None:
    """node-opcua, as an MES, subscribes on JobOrderResults with OfType the abstract ISA-95
    ISA95JobOrderStatusEventType and hears every change of its order's state, of the twin's
    subtype, with the ISA-95 structures decoded from the server's definitions."""
    job_id = "NODE-EV-1"
    work, config, _ = _job_config(twin, "node-status", job_id, [("type", "printed_housing")])
    assert twin.server.server is not None
    isa95 = twin.server.server.get_node(ua.NodeId(1006, twin.ns(NS.ISA95_JOBCONTROL)))
    ours = await isa95.get_child(f"{twin.ns(NS.TWIN)}:JobOrderStatusEventType")
    with Watch(twin, job_id) as watch:
        proc = await _spawn("status.js", work, config)
        try:
            started = await _line(proc, "started")
            await step_until(twin, watch, tev.JobCompleted)
            result = await _go(proc, "result")
            assert await asyncio.wait_for(proc.wait(), 30) == 0
        finally:
            await _end(proc)

    assert (started["store"]["status"], started["store"]["returnStatus"]) == ("Good", 1)
    events = result["events"]
    told = [[(s["number"], s["path"]) for s in ev["states"]] for ev in events]
    assert told[:2] == [[(ALLOWED_TO_START, "")], [(RUNNING, "")]]
    assert told[-1] == [(ENDED, ""), (COMPLETED, "EndedSubstates")]
    assert all(a != b for a, b in itertools.pairwise(told))  # each change once
    results = ua.NodeId("Cell.JobManagement.JobOrderResults", twin.ns(NS.TWIN))
    for ev in events:
        assert ev["eventType"] == ours.nodeid.to_string() != isa95.nodeid.to_string()
        assert ev["sourceNode"] == results.to_string()
        assert ev["jobOrderID"] == ev["response"]["jobOrderID"] == job_id
        assert ev["response"]["states"] == ev["states"]
