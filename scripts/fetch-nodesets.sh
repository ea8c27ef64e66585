#!/usr/bin/env bash
# Fetch the companion-spec NodeSet2 files the OPC UA server imports into a git-ignored cache.
#
# Source: the npm package node-opcua-nodesets (MIT), pinned to one version and checked against
# the sha512 integrity the registry published for it (`npm view PKG@VERSION dist.integrity`).
# If TWIN_NODESETS_DIR is set, that directory is used instead (e.g. a copy of the OPC
# Foundation's UA-Nodeset repository) and only checked for the needed files.
set -euo pipefail

PKG="node-opcua-nodesets"
VERSION="2.185.0"
INTEGRITY="sha512-7qDwdkYRKIGRBk0gKhY5C3olQ0wRHTCoZj4FbzD1GmXF5xGaZcv/OatvFa73H7yyq3LxWxTKVteELlbbyziyLg=="
# must match opcua_server/nodesets.py (NODESET_FILES)
FILES=(
  Opc.Ua.Di.NodeSet2.xml
  Opc.Ua.IA.NodeSet2.xml
  Opc.Ua.Machinery.NodeSet2.xml
  opc.ua.isa95-jobcontrol.nodeset2.xml
  Opc.Ua.Machinery.Jobs.Nodeset2.xml
  Opc.Ua.MachineTool.NodeSet2.xml
  Opc.Ua.Robotics.NodeSet2.xml
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

find_file() {  # find_file DIR NAME -> path of NAME anywhere below DIR (case-insensitive)
  find "$1" -type f -iname "$2" -not -path "*/1.02/*" 2>/dev/null | head -n 1
}

if [[ -n "${TWIN_NODESETS_DIR:-}" ]]; then
  missing=()
  for f in "${FILES[@]}"; do
    [[ -n "$(find_file "$TWIN_NODESETS_DIR" "$f")" ]] || missing+=("$f")
  done
  if [[ ${#missing[@]} -ne 0 ]]; then
    echo "fetch-nodesets: TWIN_NODESETS_DIR=$TWIN_NODESETS_DIR lacks ${missing[*]}" \
      "(unset it to fetch $PKG@$VERSION with npm instead)" >&2
    exit 1
  fi
  echo "fetch-nodesets: using TWIN_NODESETS_DIR=$TWIN_NODESETS_DIR"
  exit 0
fi

DEST="$ROOT/.cache/nodesets"
STAMP="$DEST/.version"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$PKG@$VERSION" ]]; then
  ok=1
  for f in "${FILES[@]}"; do [[ -f "$DEST/$f" ]] || ok=0; done
  if [[ $ok -eq 1 ]]; then
    echo "fetch-nodesets: $PKG@$VERSION already in .cache/nodesets"
    exit 0
  fi
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-nodesets: npm is needed to fetch $PKG@$VERSION (or set TWIN_NODESETS_DIR to a" \
    "directory holding: ${FILES[*]})" >&2
  exit 1
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack "$PKG@$VERSION" --silent --loglevel=error >/dev/null)
TGZ="$TMP/$PKG-$VERSION.tgz"
if command -v openssl >/dev/null 2>&1; then
  ACTUAL="sha512-$(openssl dgst -sha512 -binary "$TGZ" | openssl base64 -A)"
else  # npm implies node
  ACTUAL="sha512-$(node -e 'const c=require("crypto"),f=require("fs");
process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$TGZ")"
fi
if [[ "$ACTUAL" != "$INTEGRITY" ]]; then
  echo "fetch-nodesets: integrity mismatch for $PKG@$VERSION: expected $INTEGRITY, got $ACTUAL" >&2
  exit 1
fi
mkdir -p "$TMP/x"
tar -xzf "$TGZ" -C "$TMP/x"
mkdir -p "$DEST"
for f in "${FILES[@]}"; do
  src="$TMP/x/package/nodesets/$f"
  if [[ ! -f "$src" ]]; then
    echo "fetch-nodesets: $f missing from $PKG@$VERSION" >&2
    exit 1
  fi
  cp "$src" "$DEST/$f"
done
cp "$TMP/x/package/LICENSE" "$DEST/LICENSE.node-opcua-nodesets" 2>/dev/null || true
echo "$PKG@$VERSION" >"$STAMP"
echo "fetch-nodesets: ${#FILES[@]} NodeSet2 files of $PKG@$VERSION in .cache/nodesets"
