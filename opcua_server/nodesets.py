"""Companion-spec NodeSet2 files: where they are, and importing them into an asyncua server.

The files come from the npm package ``node-opcua-nodesets`` (``scripts/fetch-nodesets.sh``
puts them into ``.cache/nodesets``) or from the directory named by ``TWIN_NODESETS_DIR``.
``TwinServer`` replays their import from the user's cache when it was recorded there
(``nodeset_cache``): the importer takes 0.5 s, a replay 0.1 s.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from asyncua import Server

from opcua_server.nodeset_cache import Capture, NodesetCache, cache_key, replay
from twin.errors import ConfigError

__all__ = ["NODESET_FILES", "NS", "find_nodesets", "import_nodesets"]

_log = logging.getLogger(__name__)

# import order follows the dependencies (RequiredModel) of each file
NODESET_FILES: tuple[str, ...] = (
    "Opc.Ua.Di.NodeSet2.xml",
    "Opc.Ua.IA.NodeSet2.xml",
    "Opc.Ua.Machinery.NodeSet2.xml",
    "opc.ua.isa95-jobcontrol.nodeset2.xml",
    "Opc.Ua.Machinery.Jobs.Nodeset2.xml",
    "Opc.Ua.MachineTool.NodeSet2.xml",
    "Opc.Ua.Robotics.NodeSet2.xml",
)


class NS:
    """Namespace URIs of the companion specifications."""

    DI = "http://opcfoundation.org/UA/DI/"
    IA = "http://opcfoundation.org/UA/IA/"
    MACHINERY = "http://opcfoundation.org/UA/Machinery/"
    ISA95_JOBCONTROL = "http://opcfoundation.org/UA/ISA95-JOBCONTROL_V2/"
    MACHINERY_JOBS = "http://opcfoundation.org/UA/Machinery/Jobs/"
    MACHINE_TOOL = "http://opcfoundation.org/UA/MachineTool/"
    ROBOTICS = "http://opcfoundation.org/UA/Robotics/"
    TWIN = "urn:cell-twin:types"


_HOW = (
    "run `bash scripts/fetch-nodesets.sh` (or `make nodesets`) to fetch them, or set "
    "TWIN_NODESETS_DIR to a directory holding them (e.g. a copy of the OPC Foundation's UA-Nodeset)"
)
_DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "nodesets"


def find_nodesets(directory: Path | None = None) -> list[Path]:
    """Paths of ``NODESET_FILES`` in import order.

    Looks in ``directory``, else ``$TWIN_NODESETS_DIR``, else ``.cache/nodesets``; searches
    subfolders case-insensitively (the UA-Nodeset layout). Raises ConfigError naming the
    missing files and how to get them.
    """
    env = os.environ.get("TWIN_NODESETS_DIR")
    root = directory or (Path(env) if env else _DEFAULT_CACHE)
    found: dict[str, Path] = {}
    if root.is_dir():
        for p in sorted(root.rglob("*")):
            # skip outdated copies kept beside the current files (e.g. DI 1.02)
            if p.is_file() and "1.02" not in p.parts and p.name.lower() not in found:
                found[p.name.lower()] = p
    missing = [f for f in NODESET_FILES if f.lower() not in found]
    if missing:
        raise ConfigError(
            str(root), None, f"companion-spec NodeSet2 files missing: {', '.join(missing)}; {_HOW}"
        )
    return [found[f.lower()] for f in NODESET_FILES]


_DESIGN_ONLY = re.compile(
    r'<(UA\w+) NodeId="([^"]+)"[^>]*DesignToolOnly="true"[^>]*>.*?</\1>\s*', re.S
)


def _strip_design_tool_only(text: str) -> str:
    # DesignToolOnly nodes (e.g. the DI "Configuration"/"Tuning" group instances) are meant for
    # modelling tools, have no parent, and make asyncua's importer fail: drop them and their
    # references
    ids = [m.group(2) for m in _DESIGN_ONLY.finditer(text)]
    if not ids:
        return text
    text = _DESIGN_ONLY.sub("", text)
    alternatives = "|".join(re.escape(i) for i in ids)
    return re.sub(rf"\s*<Reference [^>]*>(?:{alternatives})</Reference>", "", text)


async def import_nodesets(
    server: Server, files: list[Path], cache: NodesetCache | None = None
) -> None:
    """Import ``files`` in order, then load their data type definitions once.

    ``auto_load_definitions=False`` on each import and one ``load_data_type_definitions()``
    at the end: the Machinery Jobs file only imports that way with asyncua. With ``cache``,
    an import recorded there for the same files, asyncua and address space is replayed
    instead, and one that was not is recorded (``nodeset_cache``). Raises ConfigError
    naming a file that cannot be read.
    """
    texts = [(path.name, _read(path)) for path in files]
    # the importer warns about harmless quirks of the published files (parent fix-ups,
    # browse-name collisions between namespaces); keep the console for real problems
    quiet = [logging.getLogger(n) for n in ("asyncua.common.xmlimporter", "asyncua.ua.uatypes")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    try:
        if cache is None:
            await _import(server, texts)
        else:
            await _import_cached(server, texts, cache)
        await server.load_data_type_definitions()
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read NodeSet2 file: {exc}") from exc


async def _import(server: Server, texts: list[tuple[str, str]]) -> None:
    for _name, text in texts:
        await server.import_xml(
            xmlstring=_strip_design_tool_only(text), auto_load_definitions=False
        )


async def _import_cached(server: Server, texts: list[tuple[str, str]], cache: NodesetCache) -> None:
    if not cache.trusted():  # another user could have put a file there: not used at all
        await _import(server, texts)
        return
    namespaces = list(await server.get_namespace_array())
    key = cache_key(texts, namespaces, len(server.iserver.aspace.keys()))
    delta = cache.load(key)
    if delta is not None:
        misfit = await replay(server, delta)
        if not misfit:
            return
        _log.warning(
            "%s: does not fit the address space (%s); importing the NodeSet2 files and"
            " writing it again",
            cache.path(key),
            misfit,
        )
    if not cache.writable():
        await _import(server, texts)
        return
    async with Capture(server, namespaces) as capture:
        await _import(server, texts)
    if capture.delta is not None:
        cache.save(key, capture.delta)
    else:
        _log.info("NodeSet2 import not cached: %s", capture.refused)
