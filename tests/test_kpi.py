"""KPIs against a hand-computed small case.

One generic machine; job A (100 s) then job B (50 s), FIFO, both released at 0; a scenario
fault puts the machine out of service from 120 s to 150 s, interrupting B, which resumes and
ends at 180 s. By hand: APT = 150 s, down = 30 s, PBT = 180 s -> availability 150/180,
effectiveness 150/150, quality 1, OEE 150/180. Due = 3 x work: A 300 s, B 150 s, so B is
30 s late. WIP: 2 jobs for 100 s, 1 job for 80 s -> mean 280/180. Throughput 2 / (180/3600).

The ISO 22400-2 definitions checked by hand (PQ produced quantity, GQ good quantity):
availability = APT / PBT, effectiveness = planned run time of the PQ items / APT, quality
ratio = GQ / PQ, OEE = availability x effectiveness x quality ratio; with PQ = 0 the last
three have nothing to rate: undefined (NaN, JSON null), not 0.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from twin.events import (
    Event,
    MachineStateChanged,
    OperationFinished,
    OperationStarted,
    TransferFinished,
    TransferStarted,
    read_events,
)
from twin.kpi import as_json, compute_kpis, defined
from twin.model import load_scenario
from twin.simulation import run_simulation

CASE = Path(__file__).parent / "cases" / "two_jobs_one_machine" / "scenario.toml"


def test_kpis_match_hand_computation(tmp_path: Path) -> None:
    result = run_simulation(load_scenario(CASE), out_dir=tmp_path, plots=False)
    assert result.engine.makespan == 180.0
    m = result.kpis["machines"]["m0"]
    assert m["apt_s"] == pytest.approx(150.0)
    assert m["down_s"] == pytest.approx(30.0)
    assert m["pbt_s"] == pytest.approx(180.0)
    assert m["availability"] == pytest.approx(150 / 180)
    assert m["effectiveness"] == pytest.approx(1.0)
    assert m["quality_ratio"] == pytest.approx(1.0)
    assert m["oee"] == pytest.approx(150 / 180)
    cell = result.kpis["cell"]
    assert cell["oee"] == pytest.approx(150 / 180)
    assert cell["jobs_completed"] == 2
    assert cell["jobs_late"] == 1
    assert cell["tardiness_max_s"] == pytest.approx(30.0)
    assert cell["lead_time_mean_s"] == pytest.approx((100 + 180) / 2)
    assert cell["wip_mean"] == pytest.approx(280 / 180)
    assert cell["wip_max"] == 2
    assert cell["throughput_per_h"] == pytest.approx(2 / (180 / 3600))

    # the same KPIs follow from the event log alone
    again = compute_kpis(read_events(str(tmp_path / "events.jsonl")), ["m0"], 180.0)
    assert again == result.kpis


def test_state_changes_follow_machinery_model(tmp_path: Path) -> None:
    run_simulation(load_scenario(CASE), out_dir=tmp_path, plots=False)
    states = [
        (e.t, e.state, e.mode)
        for e in read_events(str(tmp_path / "events.jsonl"))
        if isinstance(e, MachineStateChanged)
    ]
    assert states == [
        (0.0, "Executing", "Processing"),
        (100.0, "NotExecuting", "Processing"),
        (100.0, "Executing", "Processing"),
        (120.0, "OutOfService", "Maintenance"),
        (150.0, "Executing", "Processing"),
        (180.0, "NotExecuting", "Processing"),
    ]


def test_bad_period_is_rejected_before_anything_is_written(tmp_path: Path) -> None:
    from twin.errors import ConfigError

    with pytest.raises(ConfigError, match="period: must be > 0"):
        run_simulation(load_scenario(CASE), out_dir=tmp_path / "run", signal_period=0.0)
    assert not (tmp_path / "run").exists()


def _state(t: float, machine: str, state: str, mode: str = "Processing") -> MachineStateChanged:
    return MachineStateChanged(t=t, machine=machine, state=state, mode=mode, job=None)


def _finished(t: float, planned: float, actual: float, good: bool) -> OperationFinished:
    return OperationFinished(
        t=t, job="J", op=0, name="op", machine="mill", planned=planned, actual=actual,
        good=good, aborted=False,
    )  # fmt: skip


def test_iso_22400_definitions_by_hand() -> None:
    """Three machines over [0, 200] s, the events written by hand.

    mill: processing 0-80 (an operation planned 60 s, good), idle 80-100, setup 100-110,
    processing 110-150 (planned 50 s, bad), planned maintenance 150-170, breakdown 170-180,
    processing 180-200 (a part not finished yet). APT = 80 + 40 + 20 = 140, AUST = 10,
    PDT = 20, PBT = 200 - 20 = 180: availability 140/180, effectiveness (60 + 50)/140 (the
    unfinished part's 20 s count in APT, not in the output), quality 1/2, OEE 140/180 x
    110/140 x 1/2 = 110/360, utilisation (140 + 10)/180.
    robot (the transport robot): one transfer 80-95, nothing produced: availability 15/200;
    effectiveness, quality and OEE undefined (its transfer alone would say 100 %).
    spare: idle throughout: availability 0 (a real 0: it could have worked); effectiveness,
    quality and OEE undefined (APT 0, nothing produced).
    cell = mill + spare (the robot left out): PBT 380, APT 140: availability 140/380,
    effectiveness 110/140, quality 1/2, OEE 140/380 x 110/140 x 1/2 = 110/760.
    """
    events: list[Event] = [
        _state(0, "mill", "Executing"),
        _finished(80, 60, 80, True),
        _state(80, "mill", "NotExecuting"),
        _state(80, "robot", "Executing"),
        TransferStarted(t=80, job="J", source="mill", target="out", robot="robot"),
        TransferFinished(t=95, job="J", source="mill", target="out", robot="robot"),
        _state(95, "robot", "NotExecuting"),
        _state(100, "mill", "Executing", "Setup"),
        _state(110, "mill", "Executing"),
        _finished(150, 50, 40, False),
        _state(150, "mill", "NotAvailable", "Maintenance"),
        _state(170, "mill", "OutOfService", "Maintenance"),
        _state(180, "mill", "Executing"),
    ]
    kpis = compute_kpis(events, ["mill", "robot", "spare"], 200.0, exclude={"robot"})
    mill, robot, spare = (kpis["machines"][m] for m in ("mill", "robot", "spare"))
    assert (mill["apt_s"], mill["setup_s"], mill["planned_down_s"]) == (140, 10, 20)
    assert (mill["down_s"], mill["idle_s"], mill["pbt_s"]) == (10, 20, 180)
    assert (mill["produced"], mill["good"]) == (2, 1)
    assert mill["availability"] == pytest.approx(140 / 180)
    assert mill["effectiveness"] == pytest.approx(110 / 140)
    assert mill["quality_ratio"] == pytest.approx(1 / 2)
    assert mill["oee"] == pytest.approx(110 / 360)
    assert mill["utilisation"] == pytest.approx(150 / 180)

    assert robot["availability"] == pytest.approx(15 / 200)
    assert spare["availability"] == 0.0
    for k in (robot, spare):
        assert k["produced"] == 0
        assert [defined(k[n]) for n in ("effectiveness", "quality_ratio", "oee")] == [False] * 3

    cell = kpis["cell"]
    assert kpis["cell_excludes"] == ["robot"]
    assert (cell["pbt_s"], cell["apt_s"], cell["produced"]) == (380, 140, 2)
    assert cell["availability"] == pytest.approx(140 / 380)
    assert cell["effectiveness"] == pytest.approx(110 / 140)
    assert cell["quality_ratio"] == pytest.approx(1 / 2)
    assert cell["oee"] == pytest.approx(110 / 760)
    # JSON has no NaN: undefined is null there
    assert as_json(kpis)["machines"]["spare"]["oee"] is None
    assert as_json(kpis)["machines"]["spare"]["availability"] == 0.0


UNRATED = ("effectiveness", "quality_ratio", "oee")
NO_JOB_FINISHED = (
    "lead_time_mean_s",
    "lead_time_p95_s",
    "tardiness_mean_s",
    "tardiness_max_s",
    "quality_ratio_jobs",
)


def test_nothing_produced_yet_is_undefined_not_zero(tmp_path: Path) -> None:
    """The two-job case cut at 50 s: job A (100 s) is half done. The machine worked all the
    time (APT = PBT = 50 s: availability and utilisation 1) but produced nothing, so
    effectiveness, quality and OEE have nothing to rate: undefined (NaN; null in
    summary.json), not 0 % (a machine simply mid-job). No job finished either: throughput
    is 0 per hour, but lead time, tardiness and the jobs' quality ratio are undefined."""
    result = run_simulation(load_scenario(CASE), until=50.0, out_dir=tmp_path, plots=False)
    saved = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))["kpis"]
    m0 = result.kpis["machines"]["m0"]
    assert m0["produced"] == 0
    assert m0["availability"] == pytest.approx(1.0)
    assert m0["utilisation"] == pytest.approx(1.0)
    assert all(math.isnan(m0[n]) for n in UNRATED), m0
    assert [saved["machines"]["m0"][n] for n in UNRATED] == [None] * 3
    cell = result.kpis["cell"]
    assert cell["availability"] == pytest.approx(1.0)
    assert all(math.isnan(cell[n]) for n in (*UNRATED, *NO_JOB_FINISHED)), cell
    assert [saved["cell"][n] for n in (*UNRATED, *NO_JOB_FINISHED)] == [None] * 8
    assert cell["throughput_per_h"] == 0.0
    assert cell["wip_mean"] == pytest.approx(2.0)
    assert result.summary["kpis"] == saved


def _op(
    t: float, job: str, planned: float, actual: float | None = None, *, aborted: bool = False
) -> OperationStarted | OperationFinished:
    """Operation ``job`` on m0 started at ``t`` (``actual`` None), or finished at ``t``."""
    if actual is None:
        return OperationStarted(
            t=t, job=job, op=0, name="op", machine="m0", planned=planned, rework=False
        )
    return OperationFinished(
        t=t, job=job, op=0, name="op", machine="m0", planned=planned, actual=actual,
        good=True, aborted=aborted,
    )  # fmt: skip


def test_effectiveness_rates_finished_operations_not_the_one_under_way() -> None:
    # m0 runs A (planned 100 s, took 100 s), then B (planned 3600 s) is under way: at 1,000 s
    # B has 900 s of APT and no output yet. Counting B's APT would read 100/1000 = 10 % for a
    # machine running exactly to plan; it is rated when it ends.
    run = _state(0.0, "m0", "Executing", "Processing")
    events: list[Event] = [_op(0.0, "A", 100.0), run, _op(100.0, "A", 100.0, 100.0)]
    events.append(_op(100.0, "B", 3600.0))
    mid = compute_kpis(events, ["m0"], 1000.0)
    m = mid["machines"]["m0"]
    assert m["apt_s"] == pytest.approx(1000.0)  # availability counts B's time
    assert m["availability"] == pytest.approx(1.0)
    assert m["effectiveness"] == pytest.approx(1.0)
    assert mid["cell"]["effectiveness"] == pytest.approx(1.0)
    # when B ends, 100 s late, its APT counts: (100 + 3600) / (100 + 3700)
    done = compute_kpis([*events, _op(3800.0, "B", 3600.0, 3700.0)], ["m0"], 3800.0)
    assert done["machines"]["m0"]["effectiveness"] == pytest.approx(3700 / 3800)
    # an aborted operation's APT counts (lost production), without output
    cut = [*events, _op(1000.0, "B", 3600.0, 900.0, aborted=True)]
    assert compute_kpis(cut, ["m0"], 1000.0)["machines"]["m0"]["effectiveness"] == pytest.approx(
        100 / 1000
    )
