"""A long signal is drawn from the first, lowest, highest and last sample of each time slice
(``envelope``): a spike stays where keeping every n-th sample drops it, a gap stays a gap,
and every sample that is not Good is still marked."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from tests.conftest import assert_public_surface_is_all
from twin.report.envelope import envelope
from twin.report.plots import SIGNAL_SLICES, signal_figure
from twin.report.telemetry_file import Series

T0 = 1_767_592_800_000_000_000
N = 100_000


def _times(n: int = N) -> np.ndarray:
    return T0 + np.arange(n, dtype=np.int64) * 10**10  # every 10 s


def _wave(n: int = N) -> np.ndarray:
    return np.sin(np.arange(n) / 500.0)


def test_a_spike_stays_where_every_nth_sample_drops_it() -> None:
    values = _wave()
    values[12_345] = 50.0  # one sample
    kept = envelope(_times(), values, 1000)
    assert len(kept) <= 4 * 1000
    assert 12_345 in kept
    step = N // len(kept)
    assert values[::step].max() < 2  # decimation to as many points loses it


def test_each_slice_keeps_its_first_lowest_highest_and_last_sample() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(size=N).cumsum()
    times = _times()
    kept = envelope(times, values, 100)
    assert np.all(np.diff(kept) > 0)  # in order, each once
    # 100 equal slices from the first time to the last, the last time in the last one
    where = np.minimum(((times - T0) / (times[-1] - T0) * 100).astype(int), 99)
    for s in range(100):
        idx = np.flatnonzero(where == s)
        want = {idx[0], idx[-1], idx[np.argmin(values[idx])], idx[np.argmax(values[idx])]}
        assert want <= set(kept[np.isin(kept, idx)].tolist())


def test_a_gap_stays_a_gap() -> None:
    values = _wave()
    values[40_000:40_003] = np.nan  # three samples without a value
    kept = envelope(_times(), values, 1000).tolist()
    assert {39_999, 40_000, 40_002, 40_003} <= set(kept)  # the line stops and goes on


@pytest.mark.parametrize(
    ("gaps", "nans"),
    [
        ([slice(40_000, 40_003)], [40_000, 40_002]),  # its first and last NaN
        ([slice(40_000, 40_001)], [40_000]),  # one sample: that one
        ([slice(0, 3), slice(N - 3, N)], [0, 2, N - 3]),  # one ending the series: its first
    ],
)
def test_a_gap_keeps_its_first_and_last_nan(gaps: list[slice], nans: list[int]) -> None:
    values = _wave()
    for gap in gaps:
        values[gap] = np.nan
    kept = envelope(_times(), values, 1000)
    assert kept[np.isnan(values[kept])].tolist() == nans


def test_a_short_series_is_drawn_whole() -> None:
    assert envelope(_times(400), _wave(400), 100).tolist() == list(range(400))


@pytest.fixture
def figure() -> Iterator[list[Figure]]:
    made: list[Figure] = []
    yield made
    for fig in made:
        plt.close(fig)


def test_a_reduced_plot_keeps_the_peaks_and_marks_every_sample_not_good(
    figure: list[Figure],
) -> None:
    n = 8 * SIGNAL_SLICES
    series = Series(_times(n))
    series.fields["speed"] = _wave(n)
    series.fields["speed"][777] = 9.0
    marked = [5, 777, 30_001, n - 1]
    status = np.full(n, np.nan)  # a sample without it: Good
    status[marked] = 0x40900000  # Uncertain_LastUsableValue: the PLC's link was lost
    status[[6, 30_002]] = 0.0  # Good again
    series.fields["speed_quality"] = status
    fig = signal_figure("cnc1", series)
    figure.append(fig)
    [ax] = fig.axes
    line, marks = (np.asarray(drawn.get_ydata()) for drawn in ax.get_lines())
    assert len(line) < n / 2
    assert line.max() == 9.0
    assert line.min() == series.fields["speed"].min()
    assert marks.tolist() == series.fields["speed"][marked].tolist()
    assert f"{n:,} samples per signal" in ax.get_xlabel()


def test_a_short_plot_draws_every_sample(figure: list[Figure]) -> None:
    series = Series(_times(1000))
    series.fields["speed"] = _wave(1000)
    fig = signal_figure("cnc1", series)
    figure.append(fig)
    [line] = fig.axes[0].get_lines()
    assert len(np.asarray(line.get_xdata())) == 1000
    assert fig.axes[0].get_xlabel() == "time (UTC)"


@pytest.mark.parametrize(
    "module", ["twin.report.envelope", "twin.report.lp_chunks", "twin.report.plots"]
)
def test_public_surface_is_all(module: str) -> None:
    assert_public_surface_is_all(module)
