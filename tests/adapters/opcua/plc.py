"""A real asyncua server playing a PLC with OPC UA (its own namespace, a few variables), and
a TCP relay that can cut the line silently."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from asyncua import Node, Server, ua
from asyncua.crypto.permission_rules import User, UserRole

from opcua_server.security import ClientCertificateValidator, ensure_certificate

URI = "urn:cell-twin:test-plc"
VT = ua.VariantType
#: the PLC's variables: name -> (type, initial value, writable by clients)
VARIABLES: dict[str, tuple[ua.VariantType, Any, bool]] = {
    "Speed": (VT.Double, 0.0, True),
    "CncState": (VT.Int16, 0, True),
    "BedTemp": (VT.Int16, 0, True),
    "CncFault": (VT.Boolean, False, True),
    "Label": (VT.String, "", True),
    "Locked": (VT.Double, 0.0, False),
}
USERS = {"alice": "s3cret"}


class Users:
    """asyncua user manager: the users of ``USERS`` with their passwords, nobody else;
    ``passwords`` records every password a client gave (what a fake PLC would capture)."""

    def __init__(self) -> None:
        self.passwords: list[str] = []

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        if password is not None:
            self.passwords.append(password)
        if username is not None and USERS.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


class Plc:
    """A PLC's OPC UA server on a loopback port with ``VARIABLES`` in namespace ``URI``."""

    def __init__(
        self, server: Server, port: int, ns: int, nodes: dict[str, Node], users: Users | None
    ) -> None:
        self.server, self.port, self.ns, self.nodes = server, port, ns, nodes
        self.users = users  # with a pki: the passwords clients gave

    @classmethod
    async def start(cls, port: int, pki: Path | None = None) -> Plc:
        """Plain (security None, anonymous), or with ``pki``: Basic256Sha256 SignAndEncrypt
        only, client certificates in ``pki/trusted`` only, users ``USERS``."""
        users = Users() if pki else None
        server = Server(user_manager=users)
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/plc")
        if pki is None:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        else:
            uri = "urn:cell-twin:test-plc-server"
            await server.set_application_uri(uri)
            files = ensure_certificate(pki, uri, "127.0.0.1", "test PLC")
            await server.load_certificate(str(files.cert))
            await server.load_private_key(str(files.key))
            server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
            server.set_certificate_validator(ClientCertificateValidator(pki))
        ns = await server.register_namespace(URI)
        folder = await server.nodes.objects.add_object(ns, "PLC")
        nodes = {}
        for name, (vt, initial, writable) in VARIABLES.items():
            node = await folder.add_variable(ua.NodeId(name, ns), name, ua.Variant(initial, vt))
            if writable:
                await node.set_writable()
            nodes[name] = node
        await server.start()
        return cls(server, port, ns, nodes, users)

    @property
    def url(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/plc"

    async def stop(self) -> None:
        await self.server.stop()

    async def get(self, name: str) -> Any:
        return await self.nodes[name].read_value()

    async def set(self, name: str, value: Any, status: int = ua.StatusCodes.Good) -> None:
        vt = VARIABLES[name][0]
        await self.nodes[name].write_value(
            ua.DataValue(ua.Variant(value, vt), ua.StatusCode(status))
        )

    async def reset(self) -> None:
        for name, (_vt, initial, _w) in VARIABLES.items():
            await self.set(name, initial)


class Relay:
    """A TCP relay to a PLC that can go silent: connections stay open, nothing gets through
    (a cut cable, a hung PLC)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.silent = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._pumps: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self._writers += [writer, up_writer]
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst))
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await src.read(65536):
                if not self.silent:
                    dst.write(data)
                    await dst.drain()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for task in list(self._pumps):
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
