"""``report.html`` has the job KPIs a practitioner compares runs by: completed, late, open past
due, throughput, lead time and tardiness (hours), WIP, job quality (they were only in
``summary.json``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from twin.cli import main


def test_the_report_has_the_job_kpis(default_scenario_path: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["simulate", str(default_scenario_path), "--until", "2d", "--out", str(run)]
    assert main([*args, "--quiet", "--no-plots"]) == 0
    assert main(["report", str(run)]) == 0
    page = (run / "report" / "report.html").read_text(encoding="utf-8")
    summary = json.loads((run / "summary.json").read_text())
    cell = summary["kpis"]["cell"]
    jobs = page.split("<h2>Jobs</h2>", 1)[1].split("</table>", 1)[0]
    head = re.findall(r"<th>(.*?)</th>", jobs)
    values = dict(zip(head, re.findall(r"<td>(.*?)</td>", jobs), strict=True))
    assert values["completed"] == str(cell["jobs_completed"])
    assert values["open past due"] == str(summary["jobs_open_past_due"])
    assert values["lead time mean"] == f"{cell['lead_time_mean_s'] / 3600:.3f}"  # hours
    assert values["tardiness max"] == f"{cell['tardiness_max_s'] / 3600:.3f}"
    assert values["WIP mean"] == f"{cell['wip_mean']:.3f}"
