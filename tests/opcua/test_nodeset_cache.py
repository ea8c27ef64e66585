"""The NodeSet2 import cache: a replayed import builds the address space the importer builds
(the same nodes in the same order, the same attributes, the same references in the same
order; only the values' timestamps are the replay's); a changed file is imported again; a
cache file that cannot be read, or that is not this user's alone, is reported and not used;
an import that logged an error is not recorded; the folder and files are private."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from asyncua import Server, ua
from asyncua.server.address_space import NodeData

from opcua_server import lookups
from opcua_server.app import _collections_paused
from opcua_server.nodeset_cache import Delta, NodesetCache
from opcua_server.nodesets import find_nodesets, import_nodesets
from tests.opcua.conftest import require_nodesets

# values that are times of the server's init (its start and build times), not the import's
_INIT_TIMES = {
    ua.NodeId(ua.ObjectIds.Server_ServerStatus),
    ua.NodeId(ua.ObjectIds.Server_ServerStatus_BuildInfo),
    ua.NodeId(ua.ObjectIds.Server_ServerStatus_BuildInfo_BuildDate),
}


async def _server() -> Server:
    lookups.install()  # as TwinServer does before it imports
    server = Server()
    with _collections_paused():  # as TwinServer does (with collections: several times as long)
        await server.init()
    return server


async def _import(server: Server, files: list[Path], cache: NodesetCache | None) -> list[int]:
    """Imports ``files`` into ``server`` with ``cache``; returns a list with an item per
    file the importer imported."""
    calls = _counted(server)
    with _collections_paused():
        await import_nodesets(server, files, cache)
    return calls


def _counted(server: Server, before: Callable[[], None] = lambda: None) -> list[int]:
    """Counts the server's ``import_xml`` calls (``before`` runs ahead of each)."""
    calls: list[int] = []
    real: Callable[..., Awaitable[Any]] = server.import_xml

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        before()
        return await real(*args, **kwargs)

    server.import_xml = counting
    return calls


def _untimed(dv: ua.DataValue | None) -> ua.DataValue | None:
    return (
        None if dv is None else dataclasses.replace(dv, SourceTimestamp=None, ServerTimestamp=None)
    )


def _space(server: Server) -> list[tuple[Any, ...]]:
    """The address space, node by node in its order, times left out."""
    return [
        (
            nodeid,
            {
                attr: _untimed(av.value)
                for attr, av in node.attributes.items()
                if not (nodeid in _INIT_TIMES and attr == ua.AttributeIds.Value)
            },
            list(node.references),
            node.call,
        )
        for nodeid, node in server.iserver.aspace._nodes.items()
    ]


async def test_a_replay_builds_what_the_import_builds(tmp_path: Path) -> None:
    require_nodesets()
    files = find_nodesets()
    cache = NodesetCache(tmp_path / "cache")
    imported = await _server()
    assert len(await _import(imported, files, cache)) == len(files)
    started = datetime.now(UTC)
    replayed = await _server()
    assert await _import(replayed, files, cache) == []  # not the importer
    assert await replayed.get_namespace_array() == await imported.get_namespace_array()
    assert _space(replayed) == _space(imported)
    # what the import stamped has the replay's time
    stamps = [
        av.value.SourceTimestamp
        for node in replayed.iserver.aspace._nodes.values()
        for av in node.attributes.values()
        if av.value is not None
        and av.value.SourceTimestamp is not None
        and node.nodeid.NamespaceIndex > 1
    ]
    assert stamps
    assert min(stamps) >= started


# a NodeSet2 file of one object under Objects: imported in milliseconds
TINY = """<?xml version="1.0" encoding="utf-8"?>
<UANodeSet xmlns="http://opcfoundation.org/UA/2011/03/UANodeSet.xsd">
  <NamespaceUris><Uri>urn:cell-twin:test:tiny</Uri></NamespaceUris>
  <Aliases>
    <Alias Alias="HasTypeDefinition">i=40</Alias>
    <Alias Alias="Organizes">i=35</Alias>
  </Aliases>
  <UAObject NodeId="ns=1;i=1" BrowseName="1:Tiny">
    <DisplayName>Tiny</DisplayName>
    <References>
      <Reference ReferenceType="HasTypeDefinition">i=58</Reference>
      <Reference ReferenceType="Organizes" IsForward="false">i=85</Reference>
    </References>
  </UAObject>
</UANodeSet>
"""


@pytest.fixture
def tiny(tmp_path: Path) -> list[Path]:
    path = tmp_path / "Tiny.NodeSet2.xml"
    path.write_text(TINY, encoding="utf-8")
    return [path]


async def test_a_changed_file_is_imported_again(tiny: list[Path], tmp_path: Path) -> None:
    cache = NodesetCache(tmp_path / "cache")
    assert await _import(await _server(), tiny, cache) == [1]
    tiny[0].write_text(TINY.replace("<DisplayName>Tiny", "<DisplayName>Changed"), "utf-8")
    changed = await _server()
    assert await _import(changed, tiny, cache) == [1]
    assert len(list(cache.directory.glob("nodesets-*.pickle"))) == 2
    (node,) = [n for n in changed.iserver.aspace._nodes.values() if n.nodeid.NamespaceIndex == 2]
    assert node.attributes[ua.AttributeIds.DisplayName].value.Value.Value.Text == "Changed"


def _cache_file(cache: NodesetCache) -> tuple[Path, str]:
    (path,) = cache.directory.glob("nodesets-*.pickle")
    return path, path.name.removeprefix("nodesets-").removesuffix(".pickle")


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "opcua_server.nodeset_cache"]


async def test_an_unreadable_cache_file_is_reported_and_replaced(
    tiny: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = NodesetCache(tmp_path / "cache")
    await _import(await _server(), tiny, cache)
    path, key = _cache_file(cache)
    path.write_bytes(b"not a pickle")
    with caplog.at_level(logging.WARNING, logger="opcua_server.nodeset_cache"):
        assert await _import(await _server(), tiny, cache) == [1]  # imported
    (warning,) = _warnings(caplog)
    assert f"{path}: unreadable (UnpicklingError" in warning
    assert isinstance(cache.load(key), Delta)  # written again


_NOT_THERE = ua.NodeId(999_999)
_OBJECTS = ua.NodeId(ua.ObjectIds.ObjectsFolder)
MISFITS: dict[str, tuple[Callable[[Delta], None], str]] = {
    # appended to last: the namespace and the nodes would be in before the missing node
    "a node it appends to is missing": (
        lambda d: d.references.append((_NOT_THERE, [ua.ReferenceDescription()])),
        "node i=999999 is not there",
    ),
    "a node it adds is there": (
        lambda d: d.nodes.update({_OBJECTS: NodeData(_OBJECTS)}),
        "node i=85 is there already",
    ),
    "a namespace it registers is there": (
        lambda d: d.namespaces.insert(0, "http://opcfoundation.org/UA/"),
        "namespace http://opcfoundation.org/UA/ is there already",
    ),
}


@pytest.mark.parametrize("case", list(MISFITS))
async def test_a_recording_that_does_not_fit_changes_nothing_and_is_imported_again(
    tiny: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    """The key matched but the address space is not the one recorded from: not a failed
    start nor a half-replayed address space, but a warning and the import."""
    change, why = MISFITS[case]
    cache = NodesetCache(tmp_path / "cache")
    await _import(await _server(), tiny, cache)
    path, key = _cache_file(cache)
    delta = cache.load(key)
    assert delta is not None
    change(delta)
    cache.save(key, delta)
    plain = await _server()
    await _import(plain, tiny, None)
    server = await _server()
    with caplog.at_level(logging.WARNING):
        assert await _import(server, tiny, cache) == [1]  # imported
    assert await server.get_namespace_array() == await plain.get_namespace_array()
    assert _space(server) == _space(plain)
    (warning,) = [r.getMessage() for r in caplog.records if r.name.startswith("opcua_server")]
    assert warning == (
        f"{path}: does not fit the address space ({why}); importing the NodeSet2 files and"
        " writing it again"
    )
    again = await _server()  # written again, as recorded: replayed at the next start
    assert await _import(again, tiny, cache) == []
    assert _space(again) == _space(plain)


@pytest.mark.usefixtures("umask_022")
def test_a_cache_file_others_may_write_to_is_not_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = NodesetCache(tmp_path / "cache")
    cache.writable()
    cache.save("k", Delta([], {}, []))
    path, key = _cache_file(cache)
    path.chmod(0o664)
    with caplog.at_level(logging.WARNING, logger="opcua_server.nodeset_cache"):
        assert cache.load(key) is None
    (warning,) = _warnings(caplog)
    assert f"{path}: not read: a cache file must be this user's alone" in warning


def test_a_cache_file_that_is_a_symbolic_link_is_not_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In a folder others may write to, a link planted to a file of this user's would pass
    the check of the file's owner and mode: a link is never followed."""
    cache = NodesetCache(tmp_path / "cache")
    cache.writable()
    cache.save("mine", Delta([], {}, []))
    cache.path("k").symlink_to(cache.path("mine"))
    with caplog.at_level(logging.WARNING, logger="opcua_server.nodeset_cache"):
        assert cache.load("k") is None
    (warning,) = _warnings(caplog)
    assert warning == (
        f"{cache.path('k')}: not read: a cache file must be this user's alone (a symbolic"
        " link); importing the NodeSet2 files"
    )


@pytest.mark.usefixtures("umask_022")
async def test_a_cache_folder_others_may_write_to_is_not_used(
    tiny: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its group or other users could put a file there (a pickle: code run at the next
    start): nothing read from it or written to it, one warning, the start goes on."""
    cache = NodesetCache(tmp_path / "cache")
    await _import(await _server(), tiny, cache)
    path, key = _cache_file(cache)
    written = path.stat().st_mtime_ns
    cache.directory.chmod(0o770)
    warning = (
        f"{cache.directory}: no NodeSet2 import cache: its folder must be this user's alone"
        " (mode 0770: its group may write); importing the NodeSet2 files"
    )
    with caplog.at_level(logging.INFO):
        assert await _import(await _server(), tiny, cache) == [1]  # imported
    said = [r.getMessage() for r in caplog.records if r.name.startswith("opcua_server")]
    assert said == [warning]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="opcua_server.nodeset_cache"):
        assert cache.load(key) is None  # nor when asked directly
    assert _warnings(caplog) == [warning]
    assert [p.name for p in cache.directory.iterdir()] == [path.name]
    assert path.stat().st_mtime_ns == written  # not written again


def test_a_cache_folder_of_another_user_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = NodesetCache(tmp_path / "cache")
    cache.writable()
    cache.save("k", Delta([], {}, []))
    me = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: me + 1)  # as if the folder were another's
    with caplog.at_level(logging.WARNING, logger="opcua_server.nodeset_cache"):
        assert not cache.trusted()
        assert not cache.writable()
    assert (
        _warnings(caplog)
        == [
            f"{cache.directory}: no NodeSet2 import cache: its folder must be this user's alone"
            f" (owned by uid {me}, this is uid {me + 1}); importing the NodeSet2 files"
        ]
        * 2
    )


async def test_an_import_that_logged_an_error_is_not_recorded(
    tiny: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = NodesetCache(tmp_path / "cache")
    server = await _server()
    _counted(server, lambda: logging.getLogger("asyncua.common.xmlimporter").error("broken"))
    with caplog.at_level(logging.INFO, logger="opcua_server.nodesets"):
        await _import(server, tiny, cache)
    assert not list(cache.directory.glob("nodesets-*.pickle"))
    messages = [r.getMessage() for r in caplog.records if r.name == "opcua_server.nodesets"]
    assert messages == ["NodeSet2 import not cached: asyncua logged 1 error(s) during the import"]


@pytest.mark.usefixtures("umask_022")
def test_the_cache_folder_and_files_are_private(tmp_path: Path) -> None:
    cache = NodesetCache(tmp_path / "deep" / "cache")
    assert cache.writable()
    cache.save("k", Delta([], {}, []))
    assert stat.S_IMODE(cache.directory.stat().st_mode) == 0o700
    assert [stat.S_IMODE(p.stat().st_mode) for p in cache.directory.iterdir()] == [0o600]
    assert cache.load("k") == Delta([], {}, [])


def test_files_neither_read_nor_written_for_30_days_go_when_one_is_written(
    tmp_path: Path,
) -> None:
    cache = NodesetCache(tmp_path)
    for key in ("old", "read", "recent"):
        cache.save(key, Delta([], {}, []))
    month = 31 * 24 * 3600
    for key in ("old", "read"):
        stamp = cache.path(key).stat().st_mtime - month
        os.utime(cache.path(key), (stamp, stamp))
    assert cache.load("read") == Delta([], {}, [])  # written a month ago, read at each start
    cache.save("new", Delta([], {}, []))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "nodesets-new.pickle",
        "nodesets-read.pickle",
        "nodesets-recent.pickle",
    ]


def _folder(environ: dict[str, str]) -> Path | None:
    cache = NodesetCache.from_environment(environ)
    return None if cache is None else cache.directory


def test_the_cache_folder_comes_from_the_environment(tmp_path: Path) -> None:
    assert _folder({"TWIN_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert _folder({"TWIN_CACHE_DIR": ""}) is None  # no cache
    assert _folder({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "cell-twin"
    assert _folder({}) == Path.home() / ".cache" / "cell-twin"


def test_the_suite_keeps_its_cache_to_itself() -> None:
    folder = _folder(dict(os.environ))
    assert folder is not None
    assert Path.home() / ".cache" not in folder.parents
