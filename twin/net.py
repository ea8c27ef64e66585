"""Network addresses."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is this machine alone: a loopback address
    (127/8, ``::1``), ``localhost`` or a name under ``.localhost``; any other name may resolve
    elsewhere."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost" or host.endswith(".localhost")
