"""A spool an earlier run left keeps its destination: the next run sends those lines only
where they were meant to go (counted apart from its own), and keeps them, with the command
that sends them there, when it writes elsewhere. Real VictoriaMetrics throughout."""

from __future__ import annotations

import gzip
import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.telemetry.lp import Point, parse_lines
from tests.telemetry.servers import victoria_metrics
from tests.telemetry.test_refused import INFLUX, RUN, status
from tests.telemetry.test_victoria_metrics import Samples, assert_same_samples, exported, vm_samples
from twin.cli import main
from twin.telemetry.destination import Destination

RUN_ID = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ-\d{6}"  # the telemetry's run tag


def file_points(tmp_path: Path, seed: int) -> list[Point]:
    """The lines of the run with ``seed`` through the file sink: what a database must get."""
    out = tmp_path / f"file-{seed}"
    assert main([*RUN, "--no-plots", "--seed", str(seed), "--out", str(out)]) == 0
    return parse_lines(gzip.decompress((out / "telemetry.lp.gz").read_bytes()).decode())


def both(a: Samples, b: Samples) -> Samples:
    out = {k: list(v) for k, v in a.items()}
    for key, values in b.items():
        out.setdefault(key, []).extend(values)
    return out


def telemetry_line(out: str) -> str:
    return next(t for t in out.splitlines() if t.startswith("telemetry (influx): "))


@pytest.mark.services
def test_a_leftover_spool_stays_when_the_next_run_writes_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The walk-through's case: run 1 spools for a database that is away, run 2 (another
    seed, same --out) writes to another database and bucket: that one gets run 2's lines
    only; run 1's stay in the spool, said in one line with the command that sends them
    where they belong, which then does."""
    run = tmp_path / "mix"
    away = f"http://127.0.0.1:{free_port()}"
    assert main([*INFLUX, "--seed", "1", "--influx-url", away, "--out", str(run)]) == 0
    _, first = status(run, capsys)
    assert first["spool_lines"] == first["lines_produced"] > 1000
    other = victoria_metrics(tmp_path / "other")
    other.start()
    try:
        argv = [*INFLUX, "--seed", "7", "--influx-url", other.url, "--influx-bucket", "mix"]
        assert main([*argv, "--out", str(run)]) == 0
        out, err = capsys.readouterr()
        second = vm_samples(file_points(tmp_path, 7))
        assert_same_samples(second, exported(other, sum(map(len, second.values()))))
    finally:
        other.stop()
    line = telemetry_line(out)
    spool = str(run / "telemetry-spool")
    assert f"{first['spool_lines']} lines that an earlier run (cell 'cell-1', started " in line
    assert f"spooled for {away} (bucket 'celltwin', org 'celltwin') stay in spool {spool}" in line
    command = line.split("send them there with: ", 1)[1]
    assert shlex.split(command) == ["twin", "telemetry", "replay", spool, "--influx-url", away]
    assert f"warning: telemetry: {first['spool_lines']} lines that an earlier run" in err
    assert "left in the spool" not in line  # none of them was sent
    _, after = status(run, capsys)
    assert after["spool_lines"] == first["spool_lines"]  # nothing lost
    assert after["lines_carried_elsewhere"] == first["spool_lines"]

    home = victoria_metrics(tmp_path / "home", int(away.rsplit(":", 1)[1]))
    home.start()  # the database run 1 was meant for is back: the printed command
    try:
        assert main(shlex.split(command)[1:]) == 0
        want = vm_samples(file_points(tmp_path, 1))
        assert_same_samples(want, exported(home, sum(map(len, want.values()))))
    finally:
        home.stop()
    assert status(run, capsys)[1]["spool_lines"] == 0


@pytest.mark.services
def test_a_leftover_spool_for_the_same_database_is_sent_and_counted_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run 1 spools for a database that is away; it is back for run 2, which writes there
    too: run 1's lines go with run 2's, and the run says how many were run 1's."""
    run = tmp_path / "mix"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    assert main([*INFLUX, "--seed", "1", "--influx-url", url, "--out", str(run)]) == 0
    _, first = status(run, capsys)
    vm = victoria_metrics(tmp_path / "vm", port)
    vm.start()
    try:
        assert main([*INFLUX, "--seed", "7", "--influx-url", f"{url}/", "--out", str(run)]) == 0
        line = telemetry_line(capsys.readouterr().out)
        want = both(vm_samples(file_points(tmp_path, 1)), vm_samples(file_points(tmp_path, 7)))
        assert_same_samples(want, exported(vm, sum(map(len, want.values()))))
    finally:
        vm.stop()
    _, after = status(run, capsys)
    own = after["lines_produced"] - first["lines_produced"]
    assert re.fullmatch(
        rf"telemetry \(influx\): {own} lines written as run {RUN_ID}"
        rf" and {first['lines_produced']} that earlier runs left in the spool",
        line,
    ), line
    assert after["lines_carried_written"] == first["lines_produced"]
    assert after["spool_lines"] == 0


def test_a_destination_is_the_same_database_whatever_the_case_or_a_trailing_slash() -> None:
    """One rule for sending a spooled batch and for listing a spool's destinations."""
    given = Destination("http://db:8086", "org", "bucket")
    spelled = Destination("HTTP://DB:8086/", "org", "bucket")
    assert given == spelled
    assert hash(given) == hash(spelled)
    assert spelled.url == "HTTP://DB:8086/"  # kept as given, for messages
    assert given != Destination("http://db:8086", "org", "other")
    assert len({given, spelled}) == 1
