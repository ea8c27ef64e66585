"""Shared fixtures: paths to the repository, scenarios and the shared benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
SHARED = ROOT.parent / "shared"
JSP_DIR = SHARED / "benchmarks" / "jsp"


def require_services() -> bool:
    """True when tests must fail (not skip) if a real service is missing (``make test``, CI)."""
    return os.environ.get("TWIN_REQUIRE_SERVICES") == "1"


def missing_service(message: str) -> None:
    """Fail with ``message`` under TWIN_REQUIRE_SERVICES=1, else skip."""
    if require_services():
        pytest.fail(f"required service missing: {message}")
    pytest.skip(message)


@pytest.fixture
def default_scenario_path() -> Path:
    return SCENARIOS / "default.toml"


@pytest.fixture
def jsp_dir() -> Path:
    if not JSP_DIR.is_dir():
        missing_service(f"shared benchmarks not found at {JSP_DIR} (clone beside ../shared)")
    return JSP_DIR
