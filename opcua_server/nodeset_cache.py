"""What importing the companion-spec NodeSet2 files adds to an address space, kept for the
next server start.

asyncua's importer takes 0.45-0.5 s for the seven files (of a 1.6 s start): it adds ~2,200
nodes one by one, browsing and checking as it goes. What it adds depends only on the files,
on asyncua and on the address space before it, so ``Capture`` records it and the next start
with the same inputs ``replay``s it (0.1 s, most of it unpickling the nodes). Recording costs
the start that does it 0.4 s more than the import.

**What is recorded.** The nodes the import added, in the order added; the references it
appended to nodes that were there before; the namespaces it registered. An import that
changed anything else (another attribute of a node that was there, a reference it removed or
replaced, a node it replaced or deleted, a callback, a node id it generated, any other state
of the address space) is not recorded: it runs again at each start. Neither is one that
logged an error, so that the error shows at each start.

**Replaying** registers the namespaces (to the same indexes: the namespace array before the
import is part of the key), adds the nodes in their order and appends the references. Values
the import stamped get the replay's time instead. The importer shares ~130 name objects
(QualifiedName, LocalizedText, NodeId) between what it adds and the nodes before it; the
replay's are equal copies (asyncua replaces such values, it never changes one). A recording
that does not fit the address space (a namespace or node it adds is there already, a node it
appends references to is not) changes nothing: it is reported, the files are imported and it
is written again.

**The key** (``cache_key``) covers the Python and asyncua versions, the size and time of each
asyncua module, the source of the modules here that shape an import (this one, ``nodesets``,
``lookups``), the name and content of each file in order, and the namespace array and node
count before the import: a file changed in any way is imported again.

**Files** (``NodesetCache``): ``nodesets-<key>.pickle`` in ``$TWIN_CACHE_DIR`` (set but
empty: no cache), else ``$XDG_CACHE_HOME/cell-twin``, else ``~/.cache/cell-twin``; never the
repository. The folder is made 0700 and files 0600. Files are pickles, read only when no
other user could have written them. A folder that is not this user's alone (another user's,
or one its group or other users may write to) is not used at all: one warning, and the files
are imported. A file that is not this user's alone, or is a symbolic link, is not read (a
warning); one that cannot be read is reported and replaced; others neither read nor written
in 30 days are removed when one is written. Deleting the folder is always safe.
"""

from __future__ import annotations

import contextlib
import copyreg
import errno
import hashlib
import io
import logging
import os
import pickle
import stat
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncua
from asyncua import Server, ua
from asyncua.server.address_space import AddressSpace, AttributeValue, NodeData

from opcua_server import lookups
from twin.files import write_durably

__all__ = ["Capture", "Delta", "NodesetCache", "cache_key", "replay"]

_FORMAT = b"cell-twin nodeset delta 1"
# a file neither read nor written for this long is removed (a load sets its time: a start
# that reads it keeps it)
_UNUSED_S = 30 * 24 * 3600.0
_NAMESPACE_ARRAY = ua.NodeId(ua.ObjectIds.Server_NamespaceArray)
# an address space's state besides its nodes (compared one by one) and logger; attributes
# named _twin_* are this package's caches (``lookups``)
_NOT_STATE = {"_nodes", "logger"}

_log = logging.getLogger(__name__)


class _Refused(Exception):
    """A cache file not read (the warning given)."""


def _not_alone(st: os.stat_result) -> str:
    """Why the file or folder ``st`` describes may hold what another user wrote, or "": it
    is not this user's, or its group or other users may write to it."""
    uid, mode = os.geteuid(), stat.S_IMODE(st.st_mode)
    if st.st_uid != uid:
        return f"owned by uid {st.st_uid}, this is uid {uid}"
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"mode {mode:04o}: {'other users' if mode & stat.S_IWOTH else 'its group'} may write"
    return ""


@dataclass
class Delta:
    """What an import added: ``namespaces`` registered, in order; ``nodes`` added, in order;
    ``references`` appended to nodes that were there before, per node."""

    namespaces: list[str]
    nodes: dict[ua.NodeId, NodeData]
    references: list[tuple[ua.NodeId, list[ua.ReferenceDescription]]]


# -- capture ---------------------------------------------------------------------------------
class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.seen += 1


def _attributes(node: NodeData) -> tuple[object, ...]:
    """A node's call and attributes, flat, compared with ``==`` (an object is equal to itself
    before its ``__eq__`` is asked: a value replaced by an equal one is the same state)."""
    state: list[object] = [node.call]
    # the namespaces registered change the namespace array's value: replayed as such
    skip = ua.AttributeIds.Value if node.nodeid == _NAMESPACE_ARRAY else None
    for attr, av in node.attributes.items():
        if attr != skip:
            state += (attr, av, av.value, av.value_callback, av.value_setter)
            state.append(len(av.datachange_callbacks))
    return tuple(state)


def _state(aspace: AddressSpace) -> dict[str, object]:
    return {
        k: _copy(v)
        for k, v in vars(aspace).items()
        if k not in _NOT_STATE and not k.startswith("_twin_")
    }


def _copy(value: object) -> object:
    return dict(value) if isinstance(value, dict) else value


class Capture:
    """Records what the import run inside ``async with Capture(server, namespaces) as c:``
    adds to ``server``'s address space (``namespaces``: its namespace array before); after
    the block, ``c.delta`` is it, or None when the import may not be replayed (``c.refused``
    says why). An exception from the block leaves ``delta`` None."""

    def __init__(self, server: Server, namespaces: list[str]) -> None:
        self._aspace = server.iserver.aspace
        self._namespaces = list(namespaces)  # asyncua appends to the list it read
        self._server = server
        self._errors = _Errors()
        self.delta: Delta | None = None
        self.refused = ""
        self._before = {
            nodeid: (node, node.references, tuple(node.references), _attributes(node))
            for nodeid, node in self._aspace._nodes.items()
        }
        self._state = _state(self._aspace)

    async def __aenter__(self) -> Capture:
        logging.getLogger("asyncua").addHandler(self._errors)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        logging.getLogger("asyncua").removeHandler(self._errors)
        if kind is not None:
            return
        after = list(await self._server.get_namespace_array())
        self.refused = self._check(after)
        if not self.refused:
            self.delta = self._delta(after)

    def _check(self, namespaces: list[str]) -> str:
        if self._errors.seen:
            return f"asyncua logged {self._errors.seen} error(s) during the import"
        if namespaces[: len(self._namespaces)] != self._namespaces:
            return "the import changed the namespaces that were there"
        if _state(self._aspace) != self._state:
            return "the import changed the address space's state beyond its nodes"
        nodes = self._aspace._nodes
        for nodeid, (node, refs, old_refs, attributes) in self._before.items():
            if nodes.get(nodeid) is not node or node.references is not refs:
                return f"the import replaced or deleted {nodeid.to_string()}"
            if len(refs) < len(old_refs) or tuple(refs[: len(old_refs)]) != old_refs:
                return f"the import changed references of {nodeid.to_string()}"
            if _attributes(node) != attributes:
                return f"the import changed attributes of {nodeid.to_string()}"
        for nodeid, node in nodes.items():
            if nodeid in self._before:
                continue
            if node.call is not None or any(
                av.value_callback or av.value_setter or av.datachange_callbacks
                for av in node.attributes.values()
            ):
                return f"the import gave {nodeid.to_string()} a callback"
        return ""

    def _delta(self, namespaces: list[str]) -> Delta:
        nodes = self._aspace._nodes
        return Delta(
            namespaces=namespaces[len(self._namespaces) :],
            nodes={k: v for k, v in nodes.items() if k not in self._before},
            references=[
                (nodeid, refs[len(old) :])
                for nodeid, (_, refs, old, _) in self._before.items()
                if len(refs) > len(old)
            ],
        )


# -- replay ----------------------------------------------------------------------------------
def _misfit(server: Server, namespaces: list[str], delta: Delta) -> str:
    """Why ``delta`` cannot be replayed into ``server``'s address space of namespace array
    ``namespaces``, or "": a namespace it registers is there already (it would not get its
    index), a node it adds is there already, or a node it appends references to is not."""
    nodes = server.iserver.aspace._nodes
    there = [uri for uri in delta.namespaces if uri in namespaces]
    if there:
        return f"namespace {there[0]} is there already"
    for nodeid in delta.nodes:
        if nodeid in nodes:
            return f"node {nodeid.to_string()} is there already"
    for nodeid, _ in delta.references:
        if nodeid not in nodes:
            return f"node {nodeid.to_string()} is not there"
    return ""


async def replay(server: Server, delta: Delta) -> str:
    """Make ``server``'s address space what the import ``delta`` was recorded from made it;
    "" when done, else why ``delta`` does not fit it (a namespace it registers or a node it
    adds is there already, a node it appends references to is not), nothing changed.

    ``delta`` must come fresh from ``NodesetCache.load`` (its objects become the server's),
    for a server whose address space is the one the import started from (``cache_key``):
    checked in full before anything changes, so that a file that does not fit (the key
    matched, the address space differs) is an import, not a failed start."""
    problem = _misfit(server, list(await server.get_namespace_array()), delta)
    if problem:
        return problem
    for uri in delta.namespaces:
        await server.register_namespace(uri)
    aspace = server.iserver.aspace
    now = datetime.now(UTC)
    for node in delta.nodes.values():
        for attval in node.attributes.values():
            dv = attval.value
            if dv is not None and dv.SourceTimestamp is not None:
                dv.SourceTimestamp = now
            if dv is not None and dv.ServerTimestamp is not None:
                dv.ServerTimestamp = now
    aspace._nodes.update(delta.nodes)
    for nodeid, refs in delta.references:
        aspace._nodes[nodeid].references.extend(refs)
    lookups.forget(aspace)  # HasSubtype references were added
    return ""


# -- key and files ---------------------------------------------------------------------------
def _asyncua_signature() -> bytes:
    root = Path(asyncua.__file__).parent
    try:
        rows = [metadata.version("asyncua")]
    except metadata.PackageNotFoundError:  # a copy without metadata: its modules still count
        rows = [""]
    for path in sorted(root.rglob("*.py")):
        st = path.stat()
        rows.append(f"{path.relative_to(root)} {st.st_size} {st.st_mtime_ns}")
    return "\n".join(rows).encode()


def _field(h: Any, data: bytes) -> None:
    h.update(b"%d:" % len(data))
    h.update(data)


def cache_key(files: list[tuple[str, str]], namespaces: list[str], node_count: int) -> str:
    """The key of an import of ``files`` ((name, text) in order) into an address space of
    ``node_count`` nodes and namespace array ``namespaces``."""
    h = hashlib.sha256()
    _field(h, _FORMAT)
    _field(h, sys.version.encode())
    _field(h, _asyncua_signature())
    here = Path(__file__).parent
    for module in ("nodeset_cache.py", "nodesets.py", "lookups.py"):
        _field(h, (here / module).read_bytes())
    for name, text in files:
        _field(h, name.encode())
        _field(h, text.encode())
    _field(h, "\n".join(namespaces).encode())
    _field(h, str(node_count).encode())
    return h.hexdigest()


def _node_data(nodeid: ua.NodeId, attributes: dict[Any, Any], references: list[Any]) -> NodeData:
    node = NodeData(nodeid)
    node.attributes = attributes
    node.references = references
    return node


def _reduce_node(node: NodeData) -> tuple[Callable[..., NodeData], tuple[Any, ...]]:
    return _node_data, (node.nodeid, node.attributes, node.references)


def _reduce_attribute(attval: AttributeValue) -> tuple[type[AttributeValue], tuple[Any, ...]]:
    return AttributeValue, (attval.value,)


def _dumps(delta: Delta) -> bytes:
    # NodeData and AttributeValue rebuilt by their constructors, not from a state dict: an
    # object given its __dict__ keeps a dict of its own (80,000 more objects to collect)
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, pickle.HIGHEST_PROTOCOL)
    table = copyreg.dispatch_table.copy()
    table[NodeData] = _reduce_node
    table[AttributeValue] = _reduce_attribute
    pickler.dispatch_table = table  # type: ignore[assignment]
    pickler.dump(delta)
    return buffer.getvalue()


class NodesetCache:
    """Recorded imports in ``directory`` (see the module's docstring), one file per key."""

    def __init__(self, directory: Path, *, logger: logging.Logger | None = None) -> None:
        self.directory = directory
        self._log = logger or _log

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> NodesetCache | None:
        """The cache ``$TWIN_CACHE_DIR`` names (None when it is set but empty), else that in
        ``$XDG_CACHE_HOME`` or ``~/.cache``, folder ``cell-twin`` (None without a home)."""
        env = os.environ if environ is None else environ
        named = env.get("TWIN_CACHE_DIR")
        if named is not None:
            return cls(Path(named)) if named else None
        base = env.get("XDG_CACHE_HOME")
        if not base:
            try:
                base = str(Path.home() / ".cache")
            except RuntimeError:  # no HOME and no user entry: nowhere of this user's
                return None
        return cls(Path(base) / "cell-twin")

    def path(self, key: str) -> Path:
        return self.directory / f"nodesets-{key}.pickle"

    def trusted(self) -> bool:
        """Whether the folder, when it exists, is this user's alone (no other user could have
        put a file in it): when not, one warning, and nothing is to be read from it or written
        to it (the files are imported)."""
        try:
            st = self.directory.stat()
        except OSError:  # none yet (``writable`` makes it), or unreadable (``load`` says so)
            return True
        return self._folder_alone(st)

    def _folder_alone(self, st: os.stat_result) -> bool:
        problem = _not_alone(st)
        if problem:
            self._log.warning(
                "%s: no NodeSet2 import cache: its folder must be this user's alone (%s);"
                " importing the NodeSet2 files",
                self.directory,
                problem,
            )
        return not problem

    def load(self, key: str) -> Delta | None:
        """The import recorded under ``key``; None when there is none, and (with a warning)
        when its file or folder is not this user's alone, its file is a symbolic link, or it
        cannot be read."""
        path = self.path(key)
        try:
            delta = self._unpickled(path)
        except (FileNotFoundError, _Refused):
            return None
        except Exception as exc:  # any unpickling failure: the cache is only a shortcut
            self._log.warning(
                "%s: unreadable (%s: %s); importing the NodeSet2 files and writing it again",
                path,
                type(exc).__name__,
                exc,
            )
            return None
        if not isinstance(delta, Delta):
            self._log.warning("%s: not a recorded import; importing the NodeSet2 files", path)
            return None
        return delta

    def _unpickled(self, path: Path) -> object:
        """What ``path`` (in the folder) holds, unpickled only when the folder and the file
        are this user's alone: the folder opened and checked, the file opened in it without
        following a link and checked as opened (nothing swapped in between). Raises _Refused
        (after a warning), OSError, and what unpickling raises."""
        folder = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if not self._folder_alone(os.fstat(folder)):
                raise _Refused
            try:
                fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                self._not_read(path, "a symbolic link")
                raise _Refused from None
        finally:
            os.close(folder)
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            problem = _not_alone(st) or ("" if stat.S_ISREG(st.st_mode) else "not a file")
            if problem:
                self._not_read(path, problem)
                raise _Refused
            delta = pickle.load(fh)  # noqa: S301 (this user's own file, checked above)
            with contextlib.suppress(OSError):  # a read-only folder: kept as long as it is
                os.utime(fh.fileno())  # used now: not removed as unused (``save``)
        return delta

    def _not_read(self, path: Path, problem: str) -> None:
        self._log.warning(
            "%s: not read: a cache file must be this user's alone (%s); importing the NodeSet2"
            " files",
            path,
            problem,
        )

    def writable(self) -> bool:
        """Whether a recorded import can be written: the folder (made if missing) is this
        user's alone and writable."""
        try:
            if not self.directory.is_dir():
                self.directory.mkdir(mode=0o700, parents=True)
                self.directory.chmod(0o700)  # mkdir's mode is masked by the umask
            st = self.directory.stat()
        except OSError as exc:
            self._log.info("no NodeSet2 import cache: cannot make %s: %s", self.directory, exc)
            return False
        if not self._folder_alone(st):
            return False
        if not os.access(self.directory, os.W_OK | os.X_OK):
            self._log.info("no NodeSet2 import cache: %s is not writable", self.directory)
            return False
        return True

    def save(self, key: str, delta: Delta) -> None:
        """Record ``delta`` under ``key`` (a failure is logged: the next start imports)."""
        path = self.path(key)
        try:
            write_durably(path, _dumps(delta), mode=0o600)
        except OSError as exc:
            self._log.warning("%s: cannot write the NodeSet2 import cache: %s", path, exc)
            return
        cutoff = time.time() - _UNUSED_S
        for old in self.directory.glob("nodesets-*.pickle"):
            try:
                if old != path and old.stat().st_mtime < cutoff:
                    old.unlink()
            except OSError:  # gone already, or another user's: left alone
                pass
