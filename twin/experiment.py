"""Replications: variants (a scenario and a dispatching rule: two rules, or a cell with and
without a second printer) run over the same seeds, the KPIs as mean and 95 % confidence
interval, and each variant against the first one as a paired difference.

Runs with the same seed draw the same orders (arrivals and product configurations) whatever
the rule or the machines added, as long as the catalogue and arrival process stay the same
(the random streams are per purpose and machine, see ``twin.engine``; a machine added after
the others leaves theirs as they were, though breakdowns follow each machine's load): common
random numbers, so the difference of two variants on one seed is mostly the variants' doing,
and the paired interval is much narrower than the two intervals side by side.

What is compared: the cell's KPIs and job statistics (``METRICS``) and each machine's
utilisation, availability, setup and down shares and OEE (``MACHINE_METRICS``): a change on
one machine (it breaks down more often, a second printer takes half the load) shows there
even when the cell's figures hardly move, or move for another reason (a second printer
mostly idle lowers the cell's OEE, an average over the machines).
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from twin.model.scenario import Scenario

__all__ = [
    "CSV_COLUMNS",
    "MACHINE_METRICS",
    "METRICS",
    "Estimate",
    "Experiment",
    "Variant",
    "estimate",
    "run_experiment",
]

#: (key in the summary's cell KPIs or the summary, label, unit) of what is compared
METRICS: tuple[tuple[str, str, str], ...] = (
    ("oee", "cell OEE", "%"),
    ("availability", "cell availability", "%"),
    ("throughput_per_h", "throughput", "jobs/h"),
    ("jobs_completed", "jobs completed", ""),
    ("lead_time_mean_s", "lead time, mean", "h"),
    ("lead_time_p95_s", "lead time, p95", "h"),
    ("tardiness_mean_s", "tardiness, mean", "h"),
    ("jobs_late", "jobs late", ""),
    ("jobs_open_past_due", "open past due at end", ""),
    ("wip_mean", "WIP, mean", "jobs"),
)

#: (key, label, unit) of what is compared per machine: its KPIs (``twin.kpi``), and the
#: shares of its planned busy time (PBT) in setup and down (out of service); utilisation,
#: availability (processing) and these two add up to 1 with the share idle
MACHINE_METRICS: tuple[tuple[str, str, str], ...] = (
    ("utilisation", "utilisation", "%"),
    ("availability", "availability", "%"),
    ("setup_share", "setup share", "%"),
    ("down_share", "down share", "%"),
    ("oee", "OEE", "%"),
)

#: the columns of ``Experiment.csv``: one row per run and value
CSV_COLUMNS = ("variant", "rule", "scenario", "seed", "scope", "metric", "value")

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


def _estimates(metrics: dict[str, list[float]]) -> dict[str, Estimate]:
    """Each metric's estimate over its values (one per seed)."""
    return {m: estimate(v) for m, v in metrics.items()}


def _differences(
    metrics: dict[str, list[float]], base: dict[str, list[float]]
) -> dict[str, Estimate]:
    """Each metric's estimate of ``metrics`` - ``base``, seed by seed (a pair with a NaN left
    out): the paired difference."""
    return {m: estimate(a - b for a, b in zip(v, base[m], strict=True)) for m, v in metrics.items()}


#: a variant's values per machine: machine -> metric -> one per seed
MachineValues = dict[str, dict[str, list[float]]]


@dataclass(frozen=True)
class Experiment:
    """The values of every run, one per seed in ``seeds`` order: the cell's
    (``values[variant][metric]``) and each machine's (``machine_values[variant][machine]
    [metric]``, the machines of that variant's scenario), their estimates, and each
    variant's paired difference to the first one. ``sources``: each variant's scenario
    file and rule (the CSV's columns)."""

    seeds: list[int]
    variants: list[str]
    until: float | None
    values: dict[str, dict[str, list[float]]]
    machine_values: dict[str, MachineValues] = field(default_factory=dict)
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)

    def machines(self) -> list[str]:
        """Every machine of any variant: the first variant's in its scenario's order, then
        those the others add."""
        return list(dict.fromkeys(m for v in self.variants for m in self.machine_values.get(v, {})))

    def estimates(self) -> dict[str, dict[str, Estimate]]:
        return {name: _estimates(metrics) for name, metrics in self.values.items()}

    def differences(self) -> dict[str, dict[str, Estimate]]:
        """Each variant but the first minus the first, seed by seed (NaN pairs left out)."""
        base = self.values[self.variants[0]]
        return {name: _differences(self.values[name], base) for name in self.variants[1:]}

    def machine_estimates(self) -> dict[str, dict[str, dict[str, Estimate]]]:
        """``estimates`` per machine: variant -> machine -> metric."""
        return {
            name: {mid: _estimates(ms) for mid, ms in self.machine_values.get(name, {}).items()}
            for name in self.variants
        }

    def machine_differences(self) -> dict[str, dict[str, dict[str, Estimate]]]:
        """``differences`` per machine, of the machines a variant shares with the first."""
        base = self.machine_values.get(self.variants[0], {})
        return {
            name: {
                mid: _differences(ms, base[mid])
                for mid, ms in self.machine_values.get(name, {}).items()
                if mid in base
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

        def per_machine(tree: dict[str, dict[str, dict[str, Estimate]]]) -> dict[str, Any]:
            return {
                r: {mid: {m: plain(e) for m, e in ms.items()} for mid, ms in machines.items()}
                for r, machines in tree.items()
            }

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
            "machines": {
                "runs": {
                    r: {mid: {m: nulls(v) for m, v in ms.items()} for mid, ms in machines.items()}
                    for r, machines in self.machine_values.items()
                },
                "estimates": per_machine(self.machine_estimates()),
                "differences_to_first": per_machine(self.machine_differences()),
            },
        }

    def rows(self) -> Iterator[tuple[str, str, str, int, str, str, float]]:
        """Every value of every run in long format (``CSV_COLUMNS``): variant, rule,
        scenario, seed, scope (``cell`` or the machine), metric, value (NaN: undefined)."""
        for name in self.variants:
            scenario, rule = self.sources.get(name, ("", ""))
            machines = self.machine_values.get(name, {})
            for i, seed in enumerate(self.seeds):
                head = (name, rule, scenario, seed)
                for metric, values in self.values[name].items():
                    yield (*head, "cell", metric, values[i])
                for machine, metrics in machines.items():
                    for metric, values in metrics.items():
                        yield (*head, machine, metric, values[i])

    def csv(self) -> str:
        """``rows`` as CSV with a header line (``CSV_COLUMNS``); an undefined value empty,
        which pandas and spreadsheets read as missing."""
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for *head, value in self.rows():
            writer.writerow([*head, "" if math.isnan(value) else repr(value)])
        return text.getvalue()


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _metrics(summary: dict[str, Any]) -> dict[str, float]:
    cell = summary["kpis"]["cell"]
    return {key: _number(cell.get(key, summary.get(key))) for key, _, _ in METRICS}


def _machine_metrics(row: dict[str, Any]) -> dict[str, float]:
    """A machine's ``MACHINE_METRICS`` from its KPI row: the shares of its PBT (undefined,
    NaN, when it has none)."""
    pbt = _number(row.get("pbt_s"))
    derived = {
        "setup_share": _number(row.get("setup_s")) / pbt if pbt > 0 else math.nan,
        "down_share": _number(row.get("down_s")) / pbt if pbt > 0 else math.nan,
    }
    return {
        key: derived[key] if key in derived else _number(row.get(key))
        for key, _, _ in MACHINE_METRICS
    }


#: what one run gives: the cell's metrics, and each machine's (in the scenario's order)
_RunValues = tuple[dict[str, float], dict[str, dict[str, float]]]


def _one_run(scenario: Scenario, until: float | None, seed: int, rule: str) -> _RunValues:
    """The metrics of one run (in a worker process: plain data, pickled back)."""
    from twin.simulation import run_simulation  # in the worker process

    result = run_simulation(
        scenario, until=until, seed=seed, rule=rule, plots=False, stop_when_done=until is None
    )
    machines = result.summary["kpis"]["machines"]
    return _metrics(result.summary), {
        m.id: _machine_metrics(machines[m.id]) for m in scenario.cell.machines
    }


@dataclass(frozen=True)
class Variant:
    """What one column of the experiment runs: a scenario with a dispatching rule;
    ``source`` names the scenario in the CSV (its file; default the scenario's name)."""

    name: str
    scenario: Scenario
    rule: str
    source: str = ""


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
    results: dict[tuple[str, int], _RunValues] = {}
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
        v.name: {key: [results[v.name, s][0][key] for s in seeds] for key, _, _ in METRICS}
        for v in variants
    }
    machine_values = {
        v.name: {
            m.id: {
                key: [results[v.name, s][1][m.id][key] for s in seeds]
                for key, _, _ in MACHINE_METRICS
            }
            for m in v.scenario.cell.machines
        }
        for v in variants
    }
    sources = {v.name: (v.source or v.scenario.name, v.rule) for v in variants}
    names = [v.name for v in variants]
    return Experiment(list(seeds), names, until, values, machine_values, sources)
