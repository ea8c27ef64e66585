"""The job KPIs of a twin serving for weeks: a collector keeps 8 bytes a completed job (the
lead times, for their 95th percentile), not two lists of float objects (64 bytes a job, sorted
again at every report: the OPC UA Cell reports every second), and gives the same values."""

from __future__ import annotations

import math
import random
import tracemalloc

from twin.events import JobCompleted
from twin.kpi import KpiCollector


def _completions(n: int) -> list[JobCompleted]:
    rnd = random.Random(7)
    return [
        JobCompleted(float(i), f"J{i}", rnd.expovariate(1 / 3600), max(rnd.gauss(0, 600), 0), True)
        for i in range(n)
    ]


def test_job_kpis_are_those_of_all_completed_jobs() -> None:
    events = _completions(10_001)
    kpi = KpiCollector(["m1"])
    for i, ev in enumerate(events):
        kpi(ev)
        if i in (0, 1, 19, 5_000):  # a report between completions sees the jobs so far
            lead = sorted(e.lead_time for e in events[: i + 1])
            p95 = kpi.report(ev.t)["cell"]["lead_time_p95_s"]
            assert p95 == lead[min(int(0.95 * len(lead)), len(lead) - 1)]
    cell = kpi.report(events[-1].t)["cell"]
    lead = sorted(e.lead_time for e in events)
    tardiness = [e.tardiness for e in events]
    assert cell["lead_time_p95_s"] == lead[int(0.95 * len(lead))]
    assert math.isclose(cell["lead_time_mean_s"], sum(lead) / len(lead), rel_tol=1e-12)
    assert math.isclose(cell["tardiness_mean_s"], sum(tardiness) / len(tardiness), rel_tol=1e-12)
    assert cell["tardiness_max_s"] == max(tardiness)
    assert cell["jobs_late"] == sum(t > 0 for t in tardiness)


def test_no_job_completed_leaves_them_undefined() -> None:
    cell = KpiCollector(["m1"]).report(3600.0)["cell"]
    for name in ("lead_time_mean_s", "lead_time_p95_s", "tardiness_mean_s", "tardiness_max_s"):
        assert math.isnan(cell[name]), name


def test_a_completed_job_costs_a_few_bytes() -> None:
    events = _completions(50_000)
    kpi = KpiCollector(["m1"])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for ev in events:
            kpi(ev)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown / len(events) < 16  # 8 bytes of lead time, amortised growth of the array
