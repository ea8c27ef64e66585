"""OPC UA test fixtures: a twin served on a free loopback port, driven by a manual clock.

Time only moves when a test calls ``Twin.step``; every address-space update that step causes
is applied before ``step`` returns (no sleeping).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asyncua import Client, Node, ua
from asyncua.crypto import security_policies
from asyncua.crypto.cert_gen import dump_private_key_as_pem, generate_private_key
from asyncua.crypto.cert_gen import generate_self_signed_app_certificate as self_signed
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from opcua_server import Role, ServerSettings, TwinServer, add_user
from opcua_server.app import preflight
from opcua_server.nodes.job_records import JobRecords
from opcua_server.nodesets import NS, find_nodesets
from tests.conftest import ROOT, SCENARIOS, missing_service
from twin.api import TwinAPI
from twin.clock import ManualClock
from twin.engine.cell import Engine
from twin.errors import ConfigError
from twin.links import LinkRegistry
from twin.model import load_scenario
from twin.runtime import RealtimeDriver

CLIENT_URI = "urn:cell-twin:test-client"
#: scrypt cost of the suite's users: that of older hashes (logins are checked with each hash's own)
TEST_COST = 2**14

USERS = {
    "vera": (Role.VIEWER, "vera-pass"),
    "otto": (Role.OPERATOR, "otto-pass"),
    "erin": (Role.ENGINEER, "erin-pass"),
}
POLICY = security_policies.SecurityPolicyBasic256Sha256
SIGN_ENCRYPT = ua.MessageSecurityMode.SignAndEncrypt


def require_nodesets() -> None:
    try:
        find_nodesets()
    except ConfigError as exc:
        missing_service(str(exc))


@dataclass
class ClientCert:
    cert: Path
    key: Path
    uri: str


def make_client_cert(directory: Path, uri: str = CLIENT_URI) -> ClientCert:
    directory.mkdir(parents=True, exist_ok=True)
    key = generate_private_key()
    cert = self_signed(
        key,
        "cell-twin test client",
        {},
        [
            x509.UniformResourceIdentifier(uri),
            x509.DNSName("localhost"),
            x509.DNSName(socket.gethostname()),
        ],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH],
        days=30,
    )
    cert_path, key_path = directory / "client.der", directory / "client.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(dump_private_key_as_pem(key))
    return ClientCert(cert_path, key_path, uri)


async def raw_call(
    client: Client, obj: Node, method: str, *args: ua.Variant
) -> ua.CallMethodResult:
    """Call ``obj``'s method ``method`` ("ns:Name") with a raw Call service request: the
    high-level ``call_method`` raises on a Bad status and drops the diagnostics."""
    request = ua.CallMethodRequest()
    request.ObjectId = obj.nodeid
    request.MethodId = (await obj.get_child(method)).nodeid
    request.InputArguments = list(args)
    (result,) = await client.uaclient.call([request])
    return result


async def cell_call(
    client: Client, twin: Twin, method: str, *args: ua.Variant
) -> ua.CallMethodResult:
    """``raw_call`` of the Cell's method ``method`` (its name in the twin's namespace)."""
    cell = await client.nodes.objects.get_child(f"{twin.ns(NS.TWIN)}:Cell")
    return await raw_call(client, cell, f"{twin.ns(NS.TWIN)}:{method}", *args)


async def last_result(client: Client, twin: Twin) -> str:
    """Cell/LastCommandResult as ``client`` reads it once the writes queued so far are
    applied (it is written through the outbox, as every value)."""
    await twin.server.settle()
    node = client.get_node(ua.NodeId("Cell.LastCommandResult", twin.ns(NS.TWIN)))
    return str(await node.read_value())


def job_order(twin: Twin | None, job_id: str, **product: Any) -> Any:
    """An ISA-95 job order due 8 h after the twin's current time (its simulated clock runs
    ahead of the wall clock; None: a ``twin run`` subprocess, 8 h after the wall clock), the
    product's fields as its parameters (a client must have loaded the server's data type
    definitions)."""
    order = ua.ISA95JobOrderDataType()
    order.JobOrderID = job_id
    now = dt.datetime.now(dt.UTC) if twin is None else twin.driver.wall_time(twin.engine.now)
    order.EndTime = now + dt.timedelta(hours=8)
    order.JobOrderParameters = [
        ua.ISA95ParameterDataType(ID=key, Value=ua.Variant(value)) for key, value in product.items()
    ]
    return order


def mes_comment() -> ua.Variant:
    """The Comment argument of the JobOrderControl methods."""
    return ua.Variant([ua.LocalizedText("from the MES")], ua.VariantType.LocalizedText)


@dataclass
class CliTwin:
    """``twin run`` as a subprocess; ``banner`` is what it printed until it served."""

    proc: asyncio.subprocess.Process
    banner: str

    @property
    def url(self) -> str:
        found = re.search(r"opc\.tcp://[\w.]+:\d+/cell-twin", self.banner)
        assert found is not None, self.banner
        return found.group(0)

    async def stop(self, code: int = 0) -> str:
        """Ctrl-C; returns what it printed after the banner (it must exit with ``code``)."""
        assert self.proc.stdout is not None
        self.proc.send_signal(signal.SIGINT)
        rest = (await asyncio.wait_for(self.proc.stdout.read(), 60)).decode()
        assert await asyncio.wait_for(self.proc.wait(), 30) == code, rest
        return rest

    async def kill(self) -> None:
        """SIGKILL: no clean shutdown at all."""
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def start_cli(*args: str, columns: int | None = 200) -> CliTwin:
    """Start ``twin run ARGS`` (from the repository root) and wait until it serves; its
    output is a pipe, ``columns`` wide (None: no COLUMNS, rich's default of 80 columns)."""
    require_nodesets()
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "twin"),
        "run",
        *args,
        cwd=ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    twin = CliTwin(proc, "")
    assert proc.stdout is not None
    try:
        while "press Ctrl-C" not in twin.banner:
            raw = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert raw, "twin run ended early:\n" + twin.banner
            twin.banner += raw.decode()
    except BaseException:
        await twin.kill()
        raise
    return twin


def run_args(tmp_path: Path, out: Path | None = None, **files: Path | str) -> list[str]:
    """The options that keep a ``twin run`` in ``tmp_path`` and off the default port: its
    users file, PKI folder and history database there (``files`` by option name replaces
    them, or adds others: ``history=tmp_path / "h.sqlite"``, ``host="..."``), its output
    folder ``out`` (default ``tmp_path / "out"``) and a free port (``port="4999"`` instead)."""
    options: dict[str, Path | str] = {
        "users": tmp_path / "users.toml",
        "pki": tmp_path / "pki",
        "history": tmp_path / "history.sqlite",
        "out": tmp_path / "out" if out is None else out,
        "port": "0",
    }
    options |= files
    return [x for name, value in options.items() for x in (f"--{name}", str(value))]


@dataclass
class Twin:
    server: TwinServer
    engine: Engine
    driver: RealtimeDriver
    clock: ManualClock
    api: TwinAPI
    root: Path
    cert: ClientCert

    @property
    def url(self) -> str:
        return self.server.endpoint

    async def step(self, seconds: float) -> None:
        """Advance wall time (x speed in simulated time) and apply every resulting update."""
        self.clock.advance(seconds)
        self.driver.advance()
        await self.server.settle()

    async def refresh_cell(self) -> None:
        """Refresh the Cell values now instead of on their wall-clock period, and apply the
        writes (the order and job counters, Backlog, WorkInProgress, Stored, ..., follow every
        change anyway)."""
        from opcua_server.nodes.cell import CellFamily

        next(f for f in self.server.families if isinstance(f, CellFamily)).refresh()
        await self.server.settle()

    def ns(self, uri: str) -> int:
        assert self.server.ctx is not None
        return self.server.ctx.ns[uri]

    async def client(
        self,
        user: str | None = "vera",
        *,
        policy: type | None = POLICY,
        mode: ua.MessageSecurityMode = SIGN_ENCRYPT,
        cert: ClientCert | None = None,
        password: str | None = None,
    ) -> Client:
        """A connected client (disconnect it when done)."""
        client = Client(self.url, timeout=10)
        cert = cert or self.cert
        client.application_uri = cert.uri
        if policy is not None:
            await client.set_security(
                policy, certificate=str(cert.cert), private_key=str(cert.key), mode=mode
            )
        if user is not None:
            client.set_user(user)
            client.set_password(password if password is not None else USERS[user][1])
        await client.connect()
        return client

    @contextlib.asynccontextmanager
    async def session(self, user: str | None = "vera", **options: Any) -> AsyncIterator[Client]:
        """``client(user, **options)``, disconnected when the block ends."""
        client = await self.client(user, **options)
        try:
            yield client
        finally:
            await client.disconnect()


async def start_twin(
    root: Path,
    *,
    insecure: bool = False,
    preflighted: bool = False,
    bind: Callable[[Engine, TwinAPI], LinkRegistry] | None = None,
    job_records: JobRecords | None = None,
    **settings: object,
) -> Twin:
    """A twin served on a free port; ``preflighted``: as ``twin run`` does it, the checks run
    first and the server gets the NodeSet2 files they found; ``bind``: binds adapters to the
    twin before it serves (as ``twin run --adapters`` does) and returns their link registry;
    ``job_records``: the job management's records, fed by the caller (``twin run --resume``)."""
    require_nodesets()
    pki = root / "pki"
    users = root / "users.toml"
    if not users.exists():
        for name, (role, password) in USERS.items():
            # the cost of older hashes: every session of the suite logs in (2^17 is ~0.3 s
            # a check; test_password_checks tests the default cost)
            add_user(users, name, role, password, cost=TEST_COST)
    cert = make_client_cert(root / "client")
    (pki / "trusted").mkdir(parents=True, exist_ok=True)
    (pki / "trusted" / "client.der").write_bytes(cert.cert.read_bytes())
    scenario = load_scenario(SCENARIOS / "default.toml")
    engine = Engine(scenario, signals=True)
    clock = ManualClock(wall_start=dt.datetime.now(dt.UTC))
    driver = RealtimeDriver(engine, speed=60.0, clock=clock)

    def sample(_t: float) -> None:
        engine.sample_signals()

    driver.on_step.append(sample)
    api = TwinAPI(engine, driver)
    cfg = ServerSettings(
        pki_dir=pki,
        users_file=users,
        history_db=root / "history.sqlite",
        insecure_dev=insecure,
        **{"port": 0, **settings},
    )
    nodesets = None
    if preflighted:
        nodesets, port = preflight(cfg)
        cfg = cfg.model_copy(update={"port": port})
    links = bind(engine, api) if bind is not None else None
    server = TwinServer(
        engine,
        cfg,
        driver=driver,
        api=api,
        nodesets=nodesets,
        links=links,
        job_records=job_records,
    )
    await server.start()
    return Twin(server, engine, driver, clock, api, root, cert)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def twin(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Twin]:
    t = await start_twin(tmp_path_factory.mktemp("opcua"))
    await t.step(1.0)
    try:
        yield t
    finally:
        await t.server.stop()
