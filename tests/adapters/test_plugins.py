"""Each adapter kind is a complete plugin folder, registered, tested, with a working example."""

from __future__ import annotations

import importlib

import pytest

from adapters import KINDS, build_adapters, load_adapters
from tests.adapters.conftest import Twin
from tests.conftest import ROOT

FOLDERS = sorted(
    p.name for p in (ROOT / "adapters").iterdir() if p.is_dir() and (p / "__init__.py").exists()
)


def test_every_folder_is_a_registered_kind() -> None:
    assert sorted(KINDS) == FOLDERS


@pytest.mark.parametrize("kind", FOLDERS)
def test_plugin_folder_is_complete(kind: str, twin: Twin) -> None:
    folder = ROOT / "adapters" / kind
    for name in ("README.md", "example.toml", "config.py", "adapter.py"):
        assert (folder / name).is_file(), f"adapters/{kind}/{name} missing"
    assert list((ROOT / "tests" / "adapters" / kind).glob("test_*.py")), f"no tests for {kind}"
    cls = KINDS[kind]
    assert cls.__module__ == f"adapters.{kind}.adapter"
    assert cls.config_model.__module__ == f"adapters.{kind}.config"
    assert cls.config_model.model_fields["kind"].annotation.__args__ == (kind,)  # type: ignore[union-attr]
    package = importlib.import_module(f"adapters.{kind}")
    assert cls.__name__ in package.__all__
    # the example maps the default cell
    example = load_adapters(folder / "example.toml", KINDS)
    assert {c.kind for c in example.configs} == {kind}
    assert build_adapters(example, twin.engine, twin.api, KINDS)
