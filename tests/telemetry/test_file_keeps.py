"""The file sink keeps every line: batches that find every slot busy wait (also past the stop
deadline), a resumed run appends to the file, a new run keeps the one before."""

from __future__ import annotations

import asyncio
import gzip
import logging
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from twin.cli.telemetry import telemetry_summary
from twin.model.loader import load_scenario
from twin.report.telemetry_file import read_numeric_series
from twin.telemetry import FILE_NAME, PREVIOUS_FILE_NAME, TelemetrySettings, build_pipeline
from twin.telemetry.pipeline import TelemetryPipeline

ORIGIN = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
T0 = int(ORIGIN.timestamp()) * 10**9
SETTINGS = TelemetrySettings(telemetry="file", batch_lines=10, max_in_flight=2)
SCENARIO = load_scenario("scenarios/default.toml")


def kpis(start: int, n: int) -> list[str]:
    """``n`` KPI points of the cell, one second apart, numbered from ``start`` (the report
    reads them)."""
    return [
        f"kpi,cell=c,scope=cell oee={i / 1000} {T0 + i * 10**9}" for i in range(start, start + n)
    ]


def pipeline(out: Path, **kw: Any) -> TelemetryPipeline:
    built = build_pipeline(SETTINGS, SCENARIO, out, ORIGIN, **kw)
    assert built is not None
    built.flush_interval_s = None
    return built


def read(path: Path) -> list[str]:
    return gzip.decompress(path.read_bytes()).decode().splitlines()


async def run(out: Path, lines: list[str], **kw: Any) -> TelemetryPipeline:
    """A pipeline on ``out`` fed ``lines`` from the event loop all at once, as ``twin run``
    feeds it, then stopped at once (deadline 0)."""
    p = pipeline(out, **kw)
    await p.start()
    p.write_lines(lines)  # many batches, no await between: every slot is busy
    await p.stop(0.0)
    return p


async def test_batches_finding_the_slots_busy_are_all_written(tmp_path: Path) -> None:
    p = await run(tmp_path, kpis(0, 500))
    assert sorted(read(tmp_path / FILE_NAME)) == sorted(kpis(0, 500))  # 50 batches, none lost
    stats = p.stats
    assert stats.lines_dropped == 0
    assert stats.lines_written == stats.lines_produced == 500
    assert stats.balanced()
    assert "DROPPED" not in telemetry_summary(SETTINGS, p)


async def test_a_slow_file_holds_its_batches_back_instead_of_dropping(tmp_path: Path) -> None:
    p = pipeline(tmp_path)
    await p.start()
    writes: list[int] = []
    real_write = p.sink.write

    released = asyncio.Event()  # the writes keep their slots until every batch is queued

    async def held(payload: bytes, lines: int) -> None:
        writes.append(lines)
        await released.wait()
        await real_write(payload, lines)

    p.sink.write = held  # type: ignore[method-assign]
    for i in range(0, 300, 30):  # batches arrive while earlier ones are still being written
        p.write_lines(kpis(i, 30))
        await asyncio.sleep(0)  # the writes begin
    assert len(writes) == SETTINGS.max_in_flight  # every slot busy, the other batches wait
    released.set()
    await p.stop(0.0)
    assert sorted(read(tmp_path / FILE_NAME)) == sorted(kpis(0, 300))
    assert p.stats.lines_dropped == 0
    assert len(writes) == 30


async def test_a_failed_write_is_not_called_a_full_spool(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = pipeline(tmp_path)
    await p.start()

    async def failing(payload: bytes, lines: int) -> None:
        from twin.errors import ServiceError

        raise ServiceError("telemetry file x: [Errno 28] No space left on device")

    p.sink.write = failing  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="twin.telemetry"):
        p.write_lines(kpis(0, 10))
        await p.stop(1.0)
    assert p.stats.lines_dropped == 10
    assert p.stats.balanced()
    summary = telemetry_summary(SETTINGS, p)
    assert "10 DROPPED (file write failed)" in summary
    assert "spool" not in summary + caplog.text + p.stats.last_error
    assert "No space left on device" in caplog.text


async def test_a_resumed_run_appends_and_every_reader_reads_both_parts(tmp_path: Path) -> None:
    await run(tmp_path, kpis(0, 25))
    await run(tmp_path, kpis(25, 25), resume=True)
    path = tmp_path / FILE_NAME
    assert read(path) == kpis(0, 50)
    with gzip.open(path, "rt") as fh:
        assert fh.read().splitlines() == kpis(0, 50)
    series = read_numeric_series(path)["kpi"]["cell"]  # what twin report plots
    assert list(series.times_ns) == [T0 + i * 10**9 for i in range(50)]
    assert not (tmp_path / PREVIOUS_FILE_NAME).exists()
    if shutil.which("zcat"):
        zcat = ["zcat", str(path)]
        got = await asyncio.to_thread(
            subprocess.run, zcat, capture_output=True, check=True, text=True
        )
        assert got.stdout.splitlines() == kpis(0, 50)


async def test_a_resumed_run_cuts_a_batch_cut_off_by_a_kill_and_appends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await run(tmp_path, kpis(0, 20))
    path = tmp_path / FILE_NAME
    whole = path.read_bytes()
    cut = gzip.compress("\n".join(kpis(20, 10)).encode() + b"\n")
    path.write_bytes(whole + cut[: len(cut) // 2])  # killed while writing its third batch
    with caplog.at_level(logging.WARNING, logger="twin.telemetry"):
        await run(tmp_path, kpis(30, 10), resume=True)
    assert read(path) == kpis(0, 20) + kpis(30, 10)
    assert "cut-off batch" in caplog.text


async def test_a_resumed_run_keeps_a_damaged_file_aside(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.write_bytes(b"not gzip at all\n")
    await run(tmp_path, kpis(0, 10), resume=True)
    assert (tmp_path / PREVIOUS_FILE_NAME).read_bytes() == b"not gzip at all\n"
    assert read(path) == kpis(0, 10)


async def test_a_new_run_keeps_the_file_of_the_run_before(tmp_path: Path) -> None:
    await run(tmp_path, kpis(0, 20))
    await run(tmp_path, kpis(100, 15))
    assert read(tmp_path / PREVIOUS_FILE_NAME) == kpis(0, 20)
    assert read(tmp_path / FILE_NAME) == kpis(100, 15)
    await run(tmp_path, kpis(200, 5))  # one run back is kept, as events.prev.jsonl
    assert read(tmp_path / PREVIOUS_FILE_NAME) == kpis(100, 15)
    assert read(tmp_path / FILE_NAME) == kpis(200, 5)
