"""The client address of the OPC UA message being handled, for the audit log and the login
throttle: set by the secure channel processor (``security.ChannelGate``) for each message;
each connection is handled in its own task, so the value is the connection's."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["PEER", "address", "host_of"]

#: "host:port" ("[host]:port" for IPv6) of the connection whose message is being handled
PEER: ContextVar[str | None] = ContextVar("PEER", default=None)


def address(peer: Any) -> str | None:
    """ "host:port" ("[host]:port" for IPv6) of a transport's peer name."""
    if not isinstance(peer, tuple) or len(peer) < 2:
        return None
    host = str(peer[0])
    return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"


def host_of(peer: str) -> str:
    """The host of an ``address``."""
    if peer.startswith("["):
        return peer[1 : peer.index("]")]
    return peer.rpartition(":")[0]
