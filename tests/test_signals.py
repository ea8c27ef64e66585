"""SignalStore batching and the machines' signal trajectories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twin.engine.cell import Engine
from twin.errors import InvalidStateError
from twin.model import load_scenario
from twin.signals import GOOD, STALE, SignalSpec, SignalStore


def test_store_batches_only_changes() -> None:
    store = SignalStore(capacity=2)
    block = store.register_block("m", [SignalSpec(f"s{i}", "", 0, 10) for i in range(5)])
    assert block == slice(0, 5)
    v0 = store.version
    assert store.write_block(block, np.array([1.0, 2, 3, 4, 5]), 1.0) == 5
    batch = store.changes_since(v0)
    assert batch.indices.tolist() == [0, 1, 2, 3, 4]
    assert store.write_block(block, np.array([1.0, 2, 9, 4, 5]), 2.0) == 1
    batch2 = store.changes_since(batch.version)
    assert batch2.indices.tolist() == [2]
    assert batch2.values.tolist() == [9.0]
    assert batch2.timestamps.tolist() == [2.0]
    assert len(store.changes_since(batch2.version)) == 0
    with pytest.raises(ValueError, match="registered twice"):
        store.register("m.s0", SignalSpec("s0", "", 0, 1))
    with pytest.raises(KeyError, match=r"unknown signal .m\.nope."):
        store.index("m.nope")


def test_signals_stay_in_range_and_printer_heats_up(default_scenario_path: Path) -> None:
    engine = Engine(load_scenario(default_scenario_path), signals=True)
    store = engine.store
    assert "cnc1.spindle_speed" in store.paths
    assert store.spec(store.index("printer1.nozzle_temp")).unit == "degC"
    lows = np.array([store.spec(i).low for i in range(len(store))])
    highs = np.array([store.spec(i).high for i in range(len(store))])
    nozzle = store.index("printer1.nozzle_temp")
    spindle = store.index("cnc1.spindle_speed")
    peak_nozzle = 0.0
    spindle_seen = False
    t = 0.0
    while t < 2 * 86400:
        t += 30.0
        engine.run(t, stop_when_done=False)
        engine.sample_signals()
        vals = store.values[: len(store)]
        bad = np.flatnonzero((vals < lows - 1e-9) | (vals > highs + 1e-9))
        assert bad.size == 0, [(store.path(int(i)), vals[i]) for i in bad]
        peak_nozzle = max(peak_nozzle, vals[nozzle])
        spindle_seen |= vals[spindle] > 1000
    assert 200.0 < peak_nozzle <= 266.0  # heated to a material's nozzle temperature
    assert spindle_seen


def test_sampling_needs_signals_enabled(default_scenario_path: Path) -> None:
    engine = Engine(load_scenario(default_scenario_path))
    with pytest.raises(InvalidStateError):
        engine.sample_signals()


def test_pinned_signals_keep_their_external_value() -> None:
    store = SignalStore(capacity=2)
    block = store.register_block("m", [SignalSpec(n, "", 0, 10) for n in ("a", "b", "c")])
    store.write_block(block, np.array([1.0, 2.0, 3.0]), 0.0)
    store.pin(store.index("m.b"))  # an adapter feeds m.b from now on
    store.write(np.array([store.index("m.b")]), np.array([7.0]), 1.0)
    v = store.version
    assert store.write_block(block, np.array([4.0, 5.0, 3.0]), 2.0) == 1  # only m.a changed
    assert store.values[block].tolist() == [4.0, 7.0, 3.0]
    batch = store.changes_since(v)
    assert [store.path(i) for i in batch.indices.tolist()] == ["m.a"]
    assert store.pinned(store.index("m.b"))
    assert not store.pinned(store.index("m.a"))


def test_quality_changes_are_versioned_and_keep_the_last_good_timestamp() -> None:
    store = SignalStore(capacity=2)
    block = store.register_block("m", [SignalSpec(n, "", 0, 10) for n in ("a", "b", "c")])
    store.write_block(block, np.array([1.0, 2.0, 3.0]), 5.0)
    v = store.version
    assert store.changes_since(0).quality.tolist() == [GOOD, GOOD, GOOD]
    fed = np.array([store.index("m.b"), store.index("m.c")])
    assert store.set_quality(fed, STALE) == 2  # the source is lost: no new value, a new version
    batch = store.changes_since(v)
    assert [store.path(i) for i in batch.indices.tolist()] == ["m.b", "m.c"]
    assert batch.quality.tolist() == [STALE, STALE]
    assert batch.values.tolist() == [2.0, 3.0]  # the last usable values
    assert batch.timestamps.tolist() == [5.0, 5.0]  # of the last good value
    assert store.set_quality(fed, STALE) == 0  # no change: no version
    assert store.version == batch.version
    assert store.set_quality(fed[:1], GOOD, t=9.0) == 1  # confirmed again: current as of t
    batch = store.changes_since(batch.version)
    assert batch.indices.tolist() == [store.index("m.b")]
    assert batch.quality.tolist() == [GOOD]
    assert batch.timestamps.tolist() == [9.0]
    for name in ("d", "e"):  # the arrays grow (capacity 4 -> 8) with the qualities kept
        store.register(f"m.{name}", SignalSpec(name, "", 0, 1))
    assert store.quality[: len(store)].tolist() == [GOOD, GOOD, STALE, GOOD, GOOD]
