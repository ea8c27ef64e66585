"""Replications: variants (a scenario and a dispatching rule: two rules, or a cell with and
without a second printer) run over the same seeds, the KPIs as mean and 95 % confidence
interval, and each variant against the first one as a paired difference.

Runs with the same seed draw the same orders (arrivals and product configurations) whatever
the rule or the machines added, as long as the catalogue and arrival process stay the same
(the random streams are per purpose and machine, see ``twin.engine``; a machine added after
the others leaves theirs as they were, though breakdowns follow each machine's load): common
random numbers, so the difference of two variants on one seed is mostly the variants' doing,
and the paired interval is much narrower than the two intervals side by side.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from twin.model.scenario import Scenario

__all__ = ["METRICS", "Estimate", "Experiment", "Variant", "estimate", "run_experiment"]

#: (key in the summary's cell KPIs or the summary, label, unit) of what is compared
METRICS: tuple[tuple[str, str, str], ...] = (
    ("oee", "cell OEE", "%"),
    ("availability", "cell availability", "%"),
    ("throughput_per_h", "throughput", "jobs/h"),
    ("jobs_completed", "jobs completed", ""),
    ("lead_time_mean_s", "lead time, mean", "h"),
    ("tardiness_mean_s", "tardiness, mean", "h"),
    ("jobs_late", "jobs late", ""),
    ("jobs_open_past_due", "open past due at end", ""),
    ("wip_mean", "WIP, mean", "jobs"),
)

# two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (more: the normal's)
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


@dataclass(frozen=True)
class Estimate:
    """Mean and 95 % confidence half-width of ``n`` values (NaN left out); the half-width
    is NaN for fewer than two values, the mean for none."""

    mean: float
    half_width: float
    n: int


def estimate(values: Iterable[float]) -> Estimate:
    xs = [x for x in values if not math.isnan(x)]
    if not xs:
        return Estimate(math.nan, math.nan, 0)
    if len(xs) == 1:
        return Estimate(xs[0], math.nan, 1)
    df = len(xs) - 1
    t = _T975[df - 1] if df <= len(_T975) else 1.96
    return Estimate(statistics.fmean(xs), t * statistics.stdev(xs) / math.sqrt(len(xs)), len(xs))


@dataclass(frozen=True)
class Experiment:
    """The values of every run (``values[variant][metric]``, one per seed in ``seeds``
    order), their estimates, and each variant's paired difference to the first one."""

    seeds: list[int]
    variants: list[str]
    until: float | None
    values: dict[str, dict[str, list[float]]]

    def estimates(self) -> dict[str, dict[str, Estimate]]:
        return {
            rule: {m: estimate(v) for m, v in metrics.items()}
            for rule, metrics in self.values.items()
        }

    def differences(self) -> dict[str, dict[str, Estimate]]:
        """Each variant but the first minus the first, seed by seed (NaN pairs left out)."""
        base = self.values[self.variants[0]]
        return {
            name: {
                m: estimate(a - b for a, b in zip(v, base[m], strict=True))
                for m, v in self.values[name].items()
            }
            for name in self.variants[1:]
        }

    def as_json(self) -> dict[str, Any]:
        def plain(e: Estimate) -> dict[str, Any]:
            return {
                "mean": None if math.isnan(e.mean) else e.mean,
                "ci95_half_width": None if math.isnan(e.half_width) else e.half_width,
                "n": e.n,
            }

        def nulls(xs: list[float]) -> list[float | None]:
            return [None if math.isnan(x) else x for x in xs]

        return {
            "seeds": self.seeds,
            "variants": self.variants,
            "until": self.until,
            "runs": {r: {m: nulls(v) for m, v in ms.items()} for r, ms in self.values.items()},
            "estimates": {
                r: {m: plain(e) for m, e in ms.items()} for r, ms in self.estimates().items()
            },
            "differences_to_first": {
                r: {m: plain(e) for m, e in ms.items()} for r, ms in self.differences().items()
            },
        }


def _metrics(summary: dict[str, Any]) -> dict[str, float]:
    cell = summary["kpis"]["cell"]
    out: dict[str, float] = {}
    for key, _, _ in METRICS:
        value = cell.get(key, summary.get(key))
        out[key] = math.nan if value is None else float(value)
    return out


def _one_run(scenario: Scenario, until: float | None, seed: int, rule: str) -> dict[str, float]:
    from twin.simulation import run_simulation  # in the worker process

    result = run_simulation(
        scenario, until=until, seed=seed, rule=rule, plots=False, stop_when_done=until is None
    )
    return _metrics(result.summary)


@dataclass(frozen=True)
class Variant:
    """What one column of the experiment runs: a scenario with a dispatching rule."""

    name: str
    scenario: Scenario
    rule: str


def run_experiment(
    variants: Sequence[Variant],
    seeds: Sequence[int],
    until: float | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Experiment:
    """Run every variant for every seed (in ``workers`` processes; the results do not depend
    on how many) and collect the metrics. ``until``: every run over that period (as ``twin
    simulate --until``), else to the horizon or until all work is done."""
    tasks = [(v, seed) for v in variants for seed in seeds]
    results: dict[tuple[str, int], dict[str, float]] = {}
    if workers <= 1:
        for i, (v, seed) in enumerate(tasks):
            results[v.name, seed] = _one_run(v.scenario, until, seed, v.rule)
            if progress is not None:
                progress(i + 1, len(tasks))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {
                pool.submit(_one_run, v.scenario, until, seed, v.rule): (v.name, seed)
                for v, seed in tasks
            }
            for i, future in enumerate(futures):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress(i + 1, len(tasks))
    values = {
        v.name: {key: [results[v.name, s][key] for s in seeds] for key, _, _ in METRICS}
        for v in variants
    }
    return Experiment(list(seeds), [v.name for v in variants], until, values)
