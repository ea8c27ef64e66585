"""``twin users passwd`` and ``twin users remove``: change a password, remove a user.

``twin users add`` and ``list`` are still in ``twin.cli.run`` with the group itself; these
commands join that group (``register``). A running server applies the change from the next
session on, without a restart (sessions already open keep their user).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from twin.errors import ConfigError

__all__ = ["read_password", "register"]

_FILE = Path("var/opcua/users.toml")

_FileOption = Annotated[Path, typer.Option(help="users file")]


def read_password(prompt: str, from_stdin: bool) -> str:
    """A new password: the first line of standard input, or typed twice at the terminal
    (ConfigError when the entries differ, or when there is no terminal to ask on)."""
    from twin.cli.run import _ask_password

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = _ask_password(prompt)
    if _ask_password("repeat: ") != password:
        raise ConfigError("command line", "password", "the two entries differ")
    return password


def _passwd(
    name: Annotated[str, typer.Argument(help="user name")],
    file: _FileOption = _FILE,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Set a user's password (its role kept): at least 8 characters, not all spaces."""
    from opcua_server.users import find_user, set_password

    find_user(file, name)  # an unknown user or a bad file: said before asking for a password
    role = set_password(file, name, read_password(f"new password for {name}: ", password_stdin))
    print(f"new password for {name} ({role.name.lower()}) in {file}")


def _remove(
    name: Annotated[str, typer.Argument(help="user name")],
    file: _FileOption = _FILE,
    force: Annotated[bool, typer.Option("--force", help="also remove the last engineer")] = False,
) -> None:
    """Remove a user; the last engineer only with --force."""
    from opcua_server.users import remove_user

    role = remove_user(file, name, last_engineer=force)
    print(f"removed {name} ({role.name.lower()}) from {file}")


def register(users_app: typer.Typer) -> None:
    """Add the commands to the ``twin users`` group."""
    users_app.command("passwd")(_passwd)
    users_app.command("remove")(_remove)
