"""Telemetry write throughput: plain influxdb-client usage against the twin's pipeline.

One run, the same points into the same VictoriaMetrics (started here on a free loopback
port with a temporary data directory):

* baseline: ``Point`` objects through influxdb-client's batching write API (the way its
  README shows), batch size 5000;
* twin: ``TelemetryPipeline`` + ``InfluxSink`` fed through ``on_signals`` from a producer
  thread, as ``twin simulate`` does (vectorised serialisation, gzip, batches in flight).

Points: ``machine_signal`` lines of ``--machines`` machines with ``--signals`` float fields
plus ``quality``, one line per machine per sample, 1 s apart. The two runs differ only in a
``bench`` tag so their samples can be counted apart. Prints lines/s for each, the ratio and
whether every sample arrived (exact counts from /api/v1/export).

    .venv/bin/python bench/telemetry_throughput.py [--lines 300000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.telemetry.servers import VictoriaMetrics, find_victoria_metrics  # noqa: E402
from twin.signals import SignalSpec, SignalStore  # noqa: E402
from twin.telemetry import InfluxSink, LineEncoder, TelemetryPipeline, datetime_ns  # noqa: E402

ORIGIN = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
CELL = "cell-1"


def make_frames(machines: int, signals: int, samples: int) -> np.ndarray:
    """Random-walk process values: samples x (machines * signals), like a busy cell."""
    rng = np.random.default_rng(7)
    steps = rng.normal(0.0, 1.0, (samples, machines * signals))
    return 100.0 + np.cumsum(steps, axis=0)


def run_baseline(url: str, frames: np.ndarray, machines: int, signals: int) -> float:
    from influxdb_client import InfluxDBClient, Point, WritePrecision
    from influxdb_client.client.write_api import WriteOptions

    origin = datetime_ns(ORIGIN)
    names = [f"s{j}" for j in range(signals)]
    t0 = time.perf_counter()
    with InfluxDBClient(url=url, token="-", org="-") as client:  # noqa: SIM117
        with client.write_api(
            write_options=WriteOptions(batch_size=5000, flush_interval=1000)
        ) as write_api:
            for i, row in enumerate(frames.tolist()):
                ts = origin + i * 1_000_000_000
                for m in range(machines):
                    p = (
                        Point("machine_signal")
                        .tag("bench", "point")
                        .tag("cell", CELL)
                        .tag("kind", "cnc")
                        .tag("machine", f"m{m}")
                    )
                    for j, name in enumerate(names):
                        p = p.field(name, row[m * signals + j])
                    p = p.field("quality", 0).time(ts, WritePrecision.NS)
                    write_api.write(bucket="bench", record=p)
    return time.perf_counter() - t0


def run_twin(
    url: str, frames: np.ndarray, machines: int, signals: int, level: int, in_flight: int
) -> tuple[float, dict]:
    store = SignalStore(capacity=machines * signals)
    for m in range(machines):
        store.register_block(f"m{m}", [SignalSpec(f"s{j}", "", 0, 1) for j in range(signals)])
    kinds = {f"m{m}": "cnc" for m in range(machines)}
    encoder = LineEncoder(CELL, kinds, ORIGIN, tags={"bench": "twin"})
    pipeline = TelemetryPipeline(
        InfluxSink(url, "-", "-", "bench"),
        encoder,
        compress_level=level,
        max_in_flight=in_flight,
    )

    def produce() -> None:
        n = store.values.size
        for i, row in enumerate(frames):
            store.values[:n] = row
            pipeline.on_signals(float(i), store)
        pipeline.flush_buffer()

    async def main() -> tuple[float, dict]:
        await pipeline.start()
        t0 = time.perf_counter()
        producer = threading.Thread(target=produce)
        producer.start()
        await asyncio.to_thread(producer.join)
        stats = await pipeline.stop(60)
        return time.perf_counter() - t0, stats.as_dict()

    return asyncio.run(main())


def count(vm: VictoriaMetrics, bench: str) -> int:
    return sum(len(s["values"]) for s in vm.export(f'{{bench="{bench}"}}'))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--machines", type=int, default=10)
    ap.add_argument("--signals", type=int, default=8)
    ap.add_argument("--profile", action="store_true", help="pyinstrument profile of the twin run")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--gzip-level", type=int, default=1, help="twin: zlib level (0: stored)")
    ap.add_argument("--in-flight", type=int, default=4, help="twin: max batches in flight")
    args = ap.parse_args()
    binary = find_victoria_metrics()
    if binary is None:
        print("victoria-metrics not installed (make services)")
        return 2
    samples = args.lines // args.machines
    lines = samples * args.machines
    frames = make_frames(args.machines, args.signals, samples)
    expected = lines * (args.signals + 1)
    with tempfile.TemporaryDirectory() as tmp:
        vm = VictoriaMetrics(binary, Path(tmp) / "vm")
        vm.start()
        try:
            result: dict[str, object] = {"lines": lines, "fields_per_line": args.signals + 1}
            if not args.skip_baseline:
                dt = run_baseline(vm.url, frames, args.machines, args.signals)
                got = count(vm, "point")
                result["point_lines_per_s"] = round(lines / dt)
                result["point_samples_arrived"] = f"{got}/{expected}"
                result["point_all_arrived"] = got == expected
            if args.profile:
                from pyinstrument import Profiler

                profiler = Profiler(async_mode="disabled")
                profiler.start()
            dt, stats = run_twin(
                vm.url, frames, args.machines, args.signals, args.gzip_level, args.in_flight
            )
            if args.profile:
                profiler.stop()
                print(profiler.output_text(unicode=True, color=False, show_all=False))
            got = count(vm, "twin")
            result["twin_lines_per_s"] = round(lines / dt)
            result["twin_samples_arrived"] = f"{got}/{expected}"
            result["twin_all_arrived"] = got == expected
            result["twin_stats"] = {
                k: v for k, v in stats.items() if k.startswith(("lines_", "batches_written"))
            }
            if "point_lines_per_s" in result:
                result["ratio"] = round(
                    float(result["twin_lines_per_s"]) / float(result["point_lines_per_s"]),  # type: ignore[arg-type]
                    2,
                )
        finally:
            vm.stop()
    print(json.dumps(result, indent=1))
    ok = result["twin_all_arrived"] and result.get("point_all_arrived", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
