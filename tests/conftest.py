"""Shared fixtures: paths to the repository, scenarios and the shared benchmarks."""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.engine.jobs import Job
from twin.events import Event, EventBus
from twin.kpi import KpiCollector
from twin.model import Scenario, parse_scenario, read_toml

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
SHARED = ROOT.parent / "shared"
JSP_DIR = SHARED / "benchmarks" / "jsp"
HOUSING = {"type": "printed_housing", "volume_cm3": 10}


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_services() -> bool:
    """True when tests must fail (not skip) if a real service is missing (``make test``, CI)."""
    return os.environ.get("TWIN_REQUIRE_SERVICES") == "1"


def missing_service(message: str) -> NoReturn:
    """Fail with ``message`` under TWIN_REQUIRE_SERVICES=1, else skip."""
    if require_services():
        pytest.fail(f"required service missing: {message}")
    pytest.skip(message)


def assert_public_surface_is_all(module: str) -> None:
    """``module.__all__`` has no duplicates, names only what exists, and lists every public
    class and function the module defines."""
    mod = importlib.import_module(module)
    exported = list(mod.__all__)
    assert len(set(exported)) == len(exported), "duplicates in __all__"
    missing = [name for name in exported if not hasattr(mod, name)]
    assert not missing, f"{module}.__all__ names missing {missing}"
    public_defined = {
        n
        for n, v in vars(mod).items()
        if not n.startswith("_")
        and getattr(v, "__module__", None) == module
        and (isinstance(v, type) or callable(v))
    }
    assert public_defined <= set(exported), f"not in __all__: {public_defined - set(exported)}"


@pytest.fixture(scope="session", autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The suite's caches (the NodeSet2 import's: ``opcua_server.nodeset_cache``) in a
    folder of its own, for the servers it starts and its ``twin run``s: never the user's."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TWIN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common umask 022 for the test: what it lets through is readable by every user (a
    file meant to be its owner's alone must ask for it)."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


@pytest.fixture(scope="session")
def six_hour_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``six_hour_run(*options)``: the run directory of ``twin simulate`` of the default cell
    for 6 h with ``options`` (quiet, no plots), simulated once per session for the same
    options. Shared: read it, or copy it to change it."""
    from twin.cli import main

    runs: dict[tuple[str, ...], Path] = {}

    def run(*options: str) -> Path:
        if options not in runs:
            out = tmp_path_factory.mktemp("six_hour_run") / "run"
            args = ["simulate", "scenarios/default.toml", "--until", "6h", *options]
            assert main([*args, "--out", str(out), "-q", "--no-plots"]) == 0
            runs[options] = out
        return runs[options]

    return run


@pytest.fixture
def default_scenario_path() -> Path:
    return SCENARIOS / "default.toml"


@pytest.fixture
def jsp_dir() -> Path:
    if not JSP_DIR.is_dir():
        missing_service(f"shared benchmarks not found at {JSP_DIR} (clone beside ../shared)")
    return JSP_DIR


def step_until(engine: Engine, job_id: str, state: str | Callable[[Job], bool]) -> None:
    """Step the engine until job ``job_id`` is in ``state`` (or ``state(job)`` holds);
    bounded: fails after 100,000 steps."""
    job = engine.jobs[job_id]
    reached = state if callable(state) else (lambda j: j.state == state)
    for _ in range(100_000):
        if reached(job):
            return
        engine.env.step()
    raise AssertionError(f"job {job_id} never reached {state!r} (is {job.state!r})")


def watched(sc: Scenario) -> tuple[Engine, list[Event], KpiCollector]:
    """An engine of ``sc`` with the events it publishes, in order, and its KPIs from time 0."""
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    kpi = KpiCollector.for_cell(sc.cell)
    bus.subscribe(kpi)
    return Engine(sc, bus=bus), seen, kpi


def quiet_cell(default_scenario_path: Path, *, scrapping: bool = False) -> Scenario:
    """The default cell without arrivals, orders, faults or breakdowns: only the orders a test
    gives run; ``scrapping``: without rework either, every printed part is scrapped."""
    data = read_toml(default_scenario_path)
    for key in ("arrivals", "orders", "faults"):
        data.pop(key, None)
    for m in data["cell"]["machines"]:
        m.pop("breakdowns", None)
        if m["kind"] == "printer":
            m.update(failure_rate_per_h=0.0)
            if scrapping:
                m.update(defect_probability=1.0)
        elif m["kind"] == "inspection" and scrapping:
            m.update(detection_probability=1.0, max_rework=0)
    return parse_scenario(data)


@pytest.fixture
def quiet_twin(default_scenario_path: Path) -> tuple[Engine, TwinAPI, list[Event]]:
    """The ``quiet_cell`` run a simulated minute, its API and the events it told."""
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    engine = Engine(quiet_cell(default_scenario_path), bus=bus)
    engine.run(60, stop_when_done=False)
    return engine, TwinAPI(engine), seen


def scrapping_cell(default_scenario_path: Path) -> Scenario:
    """The default cell without arrivals, faults or rework: every printed part is scrapped."""
    return quiet_cell(default_scenario_path, scrapping=True)
