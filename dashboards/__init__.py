"""Grafana dashboards of cell-twin, as code.

The builders (``dashboards.generate``, needs the dev dependency grafana-foundation-sdk) write
the dashboard JSON committed under ``json/``; Grafana provisioning files are under
``provisioning/``. This module only locates and loads the committed files, so ``twin dashboards
push`` works without the SDK.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["JSON_DIR", "PROVISIONING_DIR", "load_dashboards"]

JSON_DIR = Path(__file__).resolve().parent / "json"
PROVISIONING_DIR = Path(__file__).resolve().parent / "provisioning"


def load_dashboards(directory: Path = JSON_DIR) -> dict[str, dict[str, Any]]:
    """The dashboards in ``directory``, keyed by file stem, sorted by name.

    Raises FileNotFoundError when the directory holds no ``*.json`` file.
    """
    files = sorted(directory.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no dashboard JSON files in {directory}")
    return {f.stem: json.loads(f.read_text(encoding="utf-8")) for f in files}
