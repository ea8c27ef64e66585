"""OPC UA server of the twin: the cell as a standards-based, secure address space.

Public surface: ``TwinServer`` (build and serve an engine), ``ServerSettings`` and ``Limits``
(configuration), the users file helpers and ``Role``.
"""

from __future__ import annotations

from opcua_server.app import TwinServer
from opcua_server.settings import Limits, ServerSettings
from opcua_server.users import Role, add_user, load_users

__all__ = ["Limits", "Role", "ServerSettings", "TwinServer", "add_user", "load_users"]
