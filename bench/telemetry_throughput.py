"""Telemetry write throughput: plain influxdb-client usage against the twin's pipeline.

One run, the same points into the same VictoriaMetrics (started here on a free loopback
port with a temporary data directory):

* baseline: ``Point`` objects through influxdb-client's batching write API (the way its
  README shows), batch size 5000;
* twin: ``TelemetryPipeline`` + ``InfluxSink`` fed through ``on_signals`` from a producer
  thread, as ``twin simulate`` does (vectorised serialisation, gzip, batches in flight).

Points: ``machine_signal`` lines, one per machine per sample, 1 s apart: ``--source sim``
(default) are the default scenario's own signals (4 machines, 4 to 11 signals each) sampled
every ``--sim-period`` simulated seconds, what the twin really sends; ``--source random`` are
random walks of ``--machines`` x ``--signals`` float fields plus ``quality``, the worst case
for gzip. The two runs differ
only in a ``bench`` tag so their samples can be counted apart. Prints lines/s for each, the
ratio and whether every sample arrived (exact counts from /api/v1/export).

    .venv/bin/python bench/telemetry_throughput.py [--lines 300000] [--source random] [--profile]
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


def synthetic(machines: int, signals: int, samples: int) -> tuple[SignalStore, np.ndarray]:
    """Random-walk process values, samples x (machines * signals): the hard case for gzip."""
    store = SignalStore(capacity=machines * signals)
    for m in range(machines):
        store.register_block(f"m{m}", [SignalSpec(f"s{j}", "", 0, 1) for j in range(signals)])
    rng = np.random.default_rng(7)
    steps = rng.normal(0.0, 1.0, (samples, machines * signals))
    return store, 100.0 + np.cumsum(steps, axis=0)


def simulated(samples: int, period: float) -> tuple[SignalStore, np.ndarray]:
    """The default scenario's own signals, sampled every ``period`` simulated seconds."""
    from twin.engine.cell import Engine
    from twin.model import load_scenario

    engine = Engine(load_scenario(ROOT / "scenarios" / "default.toml"), signals=True)
    rows = []
    for i in range(samples):
        if i:
            engine.run(i * period, stop_when_done=False)
        engine.sample_signals()
        rows.append(engine.store.values[: len(engine.store)].copy())
    return engine.store, np.vstack(rows)


def layout(store: SignalStore) -> dict[str, tuple[list[int], list[str]]]:
    out: dict[str, tuple[list[int], list[str]]] = {}
    for i, path in enumerate(store.paths):
        machine, _, name = path.partition(".")
        cols, names = out.setdefault(machine, ([], []))
        cols.append(i)
        names.append(name)
    return out


def run_baseline(url: str, store: SignalStore, frames: np.ndarray) -> float:
    from influxdb_client import InfluxDBClient, Point, WritePrecision
    from influxdb_client.client.write_api import WriteOptions

    origin = datetime_ns(ORIGIN)
    machines = layout(store)
    t0 = time.perf_counter()
    with InfluxDBClient(url=url, token="-", org="-") as client:  # noqa: SIM117
        with client.write_api(
            write_options=WriteOptions(batch_size=5000, flush_interval=1000)
        ) as write_api:
            for i, row in enumerate(frames.tolist()):
                ts = origin + i * 1_000_000_000
                for machine, (cols, names) in machines.items():
                    p = (
                        Point("machine_signal")
                        .tag("bench", "point")
                        .tag("cell", CELL)
                        .tag("kind", "cnc")
                        .tag("machine", machine)
                    )
                    for col, name in zip(cols, names, strict=True):
                        p = p.field(name, row[col])
                    p = p.field("quality", 0).time(ts, WritePrecision.NS)
                    write_api.write(bucket="bench", record=p)
    return time.perf_counter() - t0


def run_twin(
    url: str, store: SignalStore, frames: np.ndarray, level: int, in_flight: int, batch: int
) -> tuple[float, dict]:
    kinds = dict.fromkeys(layout(store), "cnc")
    encoder = LineEncoder(CELL, kinds, ORIGIN, tags={"bench": "twin"})
    pipeline = TelemetryPipeline(
        InfluxSink(url, "-", "-", "bench"),
        encoder,
        compress_level=level,
        max_in_flight=in_flight,
        batch_lines=batch,
    )

    def produce() -> None:
        n = len(store)
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


def count(vm: VictoriaMetrics, bench: str, expected: int) -> int:
    first = vm.count(f'{{bench="{bench}"}}')
    got = vm.wait_for_count(expected, f'{{bench="{bench}"}}')
    if first != got:
        print(f"{bench}: {first} samples visible at once, {got} after polling")
    return got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument(
        "--source",
        choices=["random", "sim"],
        default="sim",
        help="the default scenario's simulated signals (what the twin sends), or random walks "
        "(a worst case for gzip)",
    )
    ap.add_argument("--sim-period", type=float, default=2.0, help="sim: sample period [s]")
    ap.add_argument("--machines", type=int, default=10)
    ap.add_argument("--signals", type=int, default=8)
    ap.add_argument("--profile", action="store_true", help="pyinstrument profile of the twin run")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--gzip-level", type=int, default=1, help="twin: zlib level (0: stored)")
    ap.add_argument("--in-flight", type=int, default=4, help="twin: max batches in flight")
    ap.add_argument("--batch-lines", type=int, default=5000, help="twin: lines per batch")
    args = ap.parse_args()
    binary = find_victoria_metrics()
    if binary is None:
        print("victoria-metrics not installed (make services)")
        return 2
    if args.source == "sim":
        store, frames = simulated(args.lines // 4, args.sim_period)  # 4 machines
    else:
        store, frames = synthetic(args.machines, args.signals, args.lines // args.machines)
    machines = layout(store)
    lines = len(frames) * len(machines)
    expected = len(frames) * sum(len(names) + 1 for _, names in machines.values())
    with tempfile.TemporaryDirectory() as tmp:
        vm = VictoriaMetrics(binary, Path(tmp) / "vm")
        vm.start()
        try:
            result: dict[str, object] = {
                "source": args.source,
                "lines": lines,
                "fields_per_line": round(expected / lines, 2),
            }
            point_rate: int | None = None
            if not args.skip_baseline:
                dt = run_baseline(vm.url, store, frames)
                got = count(vm, "point", expected)
                point_rate = round(lines / dt)
                result["point_lines_per_s"] = point_rate
                result["point_samples_arrived"] = f"{got}/{expected}"
                result["point_all_arrived"] = got == expected
            if args.profile:
                from pyinstrument import Profiler

                profiler = Profiler(async_mode="disabled")
                profiler.start()
            dt, stats = run_twin(
                vm.url, store, frames, args.gzip_level, args.in_flight, args.batch_lines
            )
            if args.profile:
                profiler.stop()
                print(profiler.output_text(unicode=True, color=False, show_all=False))
            got = count(vm, "twin", expected)
            twin_rate = round(lines / dt)
            result["twin_lines_per_s"] = twin_rate
            result["twin_samples_arrived"] = f"{got}/{expected}"
            result["twin_all_arrived"] = got == expected
            result["twin_stats"] = {
                k: v for k, v in stats.items() if k.startswith(("lines_", "batches_written"))
            }
            if point_rate is not None:
                result["ratio"] = round(twin_rate / point_rate, 2)
        finally:
            vm.stop()
    print(json.dumps(result, indent=1))
    ok = result["twin_all_arrived"] and result.get("point_all_arrived", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
