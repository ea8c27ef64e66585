"""Which samples of a long series to draw so that its line looks as drawn from all of them.

A plot a thousand pixels wide cannot show more than a few points per pixel column: a signal
sampled every 10 s for 30 days (259,200 samples) is drawn as well from, per narrow time slice,
its first, lowest, highest and last sample (the M4 reduction of Jugel et al., VLDB 2014): the
line enters and leaves each slice where it did and spans the same range in it, so every spike
stays, where keeping every n-th sample would drop those that fall between. A gap (NaN
samples: no value) stays a gap: the samples on either side of it are kept, with its first and
its last NaN (its first alone when it ends the series). With several slices per pixel column,
each kept sample is drawn within a fraction of a pixel of where it was; the image still
differs a little where a line is dense: fewer antialiased strokes overlap in a column
(``twin.report.plots.SIGNAL_SLICES``: 8 per pixel, under 0.1% of the pixels of a month of
signals every 10 s visibly different).
"""

from __future__ import annotations

import numpy as np

__all__ = ["envelope"]


def envelope(times: np.ndarray, values: np.ndarray, slices: int) -> np.ndarray:
    """The indices, in order, of the samples of ``values`` at ``times`` (sorted, numeric, e.g.
    nanoseconds) to draw: of each of ``slices`` equal time slices from the first to the last
    time, its first, lowest, highest and last sample that is a number, and of each run of NaN
    samples the samples before and after it and its first and last NaN (one when the run is
    one sample; its first alone when it ends the series). Every index when there are no more
    than 4 per slice (nothing to gain)."""
    n = len(values)
    if n <= 4 * slices:
        return np.arange(n)
    t = times.astype(np.float64) - float(times[0])
    span = t[-1] or 1.0
    where = np.minimum((t * (slices / span)).astype(np.int64), slices - 1)
    finite = np.isfinite(values)
    kept = [_m4(np.flatnonzero(finite), where, values)]
    if not finite.all():
        # where a run of NaNs starts or ends: ``edges`` its first NaN and the number after
        # it, ``edges - 1`` the number before it and its last NaN; a run that starts the
        # series has no edge there: the series' first NaN
        edges = np.flatnonzero(np.diff(finite.astype(np.int8))) + 1
        kept += [edges, edges - 1, np.flatnonzero(~finite)[:1]]
    return np.unique(np.concatenate(kept))


def _m4(idx: np.ndarray, where: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The first, lowest, highest and last of the samples ``idx`` (in order) in each slice
    (``where`` each sample's slice); the first of equal lowest (highest) ones."""
    if not idx.size:
        return idx
    slice_of = where[idx]
    v = values[idx]
    start = np.flatnonzero(np.diff(slice_of, prepend=-1))  # where each slice's samples begin
    stop = np.append(start[1:], len(idx)) - 1
    out = [idx[start], idx[stop]]
    count = np.diff(np.append(start, len(idx)))
    for reduce in (np.minimum, np.maximum):
        extreme = np.repeat(reduce.reduceat(v, start), count)
        at = np.flatnonzero(v == extreme)
        out.append(idx[at[np.searchsorted(at, start)]])
    return np.concatenate(out)
