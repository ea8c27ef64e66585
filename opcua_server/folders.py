"""Folders only their owner may change: the pki folders, and those of the users file and the
history database (anyone who can write there could trust a client, replace the users or the
server's key)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from twin.errors import ConfigError

__all__ = ["private_folders"]

_log = logging.getLogger("opcua_server.security")


def private_folders(root: Path, subs: list[Path]) -> None:
    """``root`` and its folders ``subs`` as folders only their owner may change: those missing
    (and the missing parents of ``root``) are created with mode 0700, whatever the umask.

    Raises ConfigError naming an existing one that another user owns or every user may
    write to (they could trust a client, or put their own key in own/; in a folder such as
    /tmp another user may have made it first), or ``root``'s parent when every user may write
    to it without the sticky bit (anyone could put another folder in its place); logs a
    warning for one its group may write to (harmless when the group is the owner's alone).
    """
    missing = [p for p in reversed(root.parents) if not p.exists()]
    for folder in [*missing, root, *subs]:
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            _check_private(folder, sticky_ok=False)
        else:
            folder.chmod(0o700)  # mkdir's mode is masked by the umask
    if root.parent not in missing:
        _check_private(root.parent, sticky_ok=True)


def _check_private(folder: Path, *, sticky_ok: bool) -> None:
    st = folder.stat()
    mode = st.st_mode
    shown = f"mode {stat.S_IMODE(mode):04o}"
    sticky = sticky_ok and mode & stat.S_ISVTX  # /tmp: others cannot replace what is ours
    if not sticky_ok and st.st_uid not in (os.geteuid(), 0):  # root may change all anyway
        raise ConfigError(
            str(folder),
            None,
            f"owned by another user (uid {st.st_uid}, this is uid {os.geteuid()}), who could"
            " trust a client or replace what is in it; use a folder of this user's",
        )
    if mode & stat.S_IWOTH and not sticky:
        raise ConfigError(
            str(folder),
            None,
            f"every user may write to it ({shown}); make it yours alone: chmod 700",
        )
    if mode & stat.S_IWGRP and not sticky:
        _log.warning(
            "%s: its group may write to it (%s); chmod 700 unless that is intended", folder, shown
        )
