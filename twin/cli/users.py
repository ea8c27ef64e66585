"""``twin users``: add, list, passwd and remove the users of the OPC UA server.

A running server applies a change from the next session on, without a restart (sessions
already open keep their user). Nobody is left without an engineer by accident: neither
``remove`` nor ``add`` with another role takes the last one without --force.
"""

from __future__ import annotations

import getpass
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer

from twin.errors import ConfigError

__all__ = ["read_password", "register", "users_app"]

_FILE = Path("var/opcua/users.toml")

_FileOption = Annotated[Path, typer.Option(help="users file")]
_StdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input")
]

users_app = typer.Typer(help="Users of the OPC UA server (roles: viewer, operator, engineer).")


def read_password(prompt: str, from_stdin: bool) -> str:
    """A new password: the first line of standard input, or typed twice at the terminal
    (ConfigError when the entries differ, or when there is no terminal to ask on)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = _ask_password(prompt)
    if _ask_password("repeat: ") != password:
        raise ConfigError("command line", "password", "the two entries differ")
    return password


def _ask_password(prompt: str) -> str:
    """The password typed at the terminal; raises ConfigError when there is none to ask on
    (getpass would read it, echoed, from a pipe or give up at its end)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            return getpass.getpass(prompt)
        except getpass.GetPassWarning as exc:
            raise ConfigError(
                "command line",
                "password",
                "no terminal to ask it on; give it on standard input with --password-stdin",
            ) from exc


def _add(
    name: Annotated[str, typer.Argument(help="user name")],
    role: Annotated[str, typer.Option(help="viewer, operator or engineer")] = "viewer",
    file: _FileOption = _FILE,
    password_stdin: _StdinOption = False,
    force: Annotated[
        bool, typer.Option("--force", help="also give the last engineer another role")
    ] = False,
) -> None:
    """Add a user, or give a user a new role and password (stored scrypt-hashed); the last
    engineer another role only with --force."""
    from opcua_server import Role, add_user, load_users

    parsed = Role.parse(role, "--role")
    users = load_users(file) if file.exists() else {}  # a bad file: said before asking
    old = users.get(name)
    others = [u for u in users.values() if u.role is Role.ENGINEER and u.name != name]
    last = old is not None and old.role is Role.ENGINEER and not others
    if last and parsed is not Role.ENGINEER and not force:
        raise ConfigError(
            str(file),
            f"users.{name}",
            f"is the last engineer; with role {parsed.name.lower()}, nobody could control the"
            " simulation or faults any more (add another engineer first, or give --force)",
        )
    add_user(file, name, parsed, read_password(f"password for {name}: ", password_stdin))
    new = parsed.name.lower()
    if old is None:
        print(f"added {name} ({new}) in {file}")
    elif old.role is parsed:
        print(f"updated {name} ({new}): new password in {file}")
    else:
        print(f"updated {name} ({old.role.name.lower()} -> {new}): new password in {file}")


def _list(file: _FileOption = _FILE) -> None:
    """List the users and their roles (never passwords)."""
    from opcua_server import load_users

    for name, user in sorted(load_users(file).items()):
        print(f"{name}\t{user.role.name.lower()}")


def _passwd(
    name: Annotated[str, typer.Argument(help="user name")],
    file: _FileOption = _FILE,
    password_stdin: _StdinOption = False,
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


def register(app: typer.Typer) -> None:
    """Add the ``twin users`` group and its commands to ``app``."""
    users_app.command("add")(_add)
    users_app.command("list")(_list)
    users_app.command("passwd")(_passwd)
    users_app.command("remove")(_remove)
    app.add_typer(users_app, name="users")
