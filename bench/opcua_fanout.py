"""OPC UA fan-out: the twin's Publisher against plain asyncua ``write_value``, in one run.

For each server (first the baseline, then the twin-style one, one after the other so they do
not share the two cores) this starts:

- a server process on a free loopback port (security None: a benchmark, on loopback) with N
  Double variables and a synthetic load of N signals all changing at HZ;
  - ``baseline``: a plain asyncua server, every variable updated with ``await write_value``;
  - ``twin``: the same variables fed from a SignalStore through ``publisher.Publisher``;
- one independent subscriber process, the node-opcua client ``bench/node/subscriber.js``
  (publishing interval 100 ms, queue size 1), which counts delivered notifications/s and the
  latency from source timestamp to receipt over a fixed window and prints JSON.

It prints both results, the server's CPU use during the window, and the ratio. Not a test: a
measurement.

    .venv/bin/python bench/opcua_fanout.py [--signals 5000] [--hz 10] [--seconds 20]
        [--clients 1] [--only twin|baseline] [--profile DIR] [--json]

``--clients K`` runs K subscriber processes per server over the same window (rates summed,
latencies of the worst client). ``--profile DIR`` writes a pyinstrument profile of each server
over the window (the profiler slows the baseline a lot: profile and measure in separate runs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SUBSCRIBER = ROOT / "bench" / "node" / "subscriber.js"
NODE_CLIENT = ROOT / "node" / "node_modules" / "node-opcua-client"  # installed by make deps
KINDS = ("baseline", "twin")
TICK = os.sysconf("SC_CLK_TCK")


# -- server side (runs in its own process: ``--serve KIND``) ----------------------------------


async def _build_server(port: int, n: int) -> tuple[Any, int, list[Any]]:
    from asyncua import Server, ua

    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}")
    server.set_server_name("cell-twin fan-out bench")
    # a loopback benchmark: no security on purpose (the twin's real server is secure by default)
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace("urn:cell-twin:bench")
    folder = await server.nodes.objects.add_folder(ua.NodeId("Signals", ns), "Signals")
    nodes = [await folder.add_variable(ua.NodeId(i + 1, ns), f"s{i}", 0.0) for i in range(n)]
    return server, ns, nodes


async def _serve(kind: str, port: int, n: int, hz: float, profile: str | None) -> None:
    from twin.signals import SignalSpec, SignalStore

    logging.basicConfig(level=logging.ERROR, format=f"[{kind} server] %(message)s")
    logging.getLogger("opcua_server").setLevel(logging.INFO)  # e.g. publishing cycles moved

    server, ns, nodes = await _build_server(port, n)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    offsets = np.arange(n, dtype=np.float64) / n
    period = 1.0 / hz
    stats = {"ticks": 0, "late_ticks": 0, "update_s": 0.0}

    async with server:
        if kind == "twin":
            from opcua_server.publisher import Publisher

            store = SignalStore(capacity=n)
            block = store.register_block("bench", [SignalSpec(f"s{i}", "", 0, 1) for i in range(n)])
            publisher = Publisher(server, store, {i: node.nodeid for i, node in enumerate(nodes)})
            await publisher.start()
            version = store.version

            async def update(k: int) -> None:
                nonlocal version
                store.write_block(block, offsets + k, time.time())
                batch = store.changes_since(version)
                version = batch.version
                publisher.publish(batch)

        else:

            async def update(k: int) -> None:
                values = (offsets + k).tolist()
                for node, value in zip(nodes, values, strict=True):
                    await node.write_value(value)

        profiler = None
        if profile:  # profiled over the subscriber's window: SIGUSR1 starts, SIGUSR2 stops
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            loop.add_signal_handler(signal.SIGUSR1, profiler.start)
            loop.add_signal_handler(signal.SIGUSR2, lambda: _save_profile(profiler, profile))
        print(json.dumps({"ready": True, "ns": ns}), flush=True)
        k = 0
        next_t = loop.time()
        while not stop.is_set():
            t0 = time.perf_counter()
            await update(k)
            stats["update_s"] += time.perf_counter() - t0
            stats["ticks"] += 1
            k += 1
            next_t += period
            delay = next_t - loop.time()
            if delay < 0:
                stats["late_ticks"] += 1
                next_t = loop.time()  # fell behind: skip, do not burst
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(delay, 0.0))
        if profiler is not None and profile is not None:
            _save_profile(profiler, profile)
        if kind == "twin":
            await publisher.stop()
    print(json.dumps({"stats": stats}), flush=True)


def _save_profile(profiler: Any, path: str) -> None:
    if profiler.is_running:
        profiler.stop()
        Path(path).write_text(profiler.output_text(unicode=False, color=False, show_all=True))


# -- orchestration ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def _run_one(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    port = _free_port()
    cmd = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
    cmd += ["--signals", str(args.signals), "--hz", str(args.hz)]
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        cmd += ["--profile-out", str(Path(args.profile) / f"{kind}-{args.signals}.txt")]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    subs: list[subprocess.Popen[str]] = []
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline() or "{}")
        if not ready.get("ready"):
            raise RuntimeError(f"{kind} server did not start")
        sub_cmd = ["node", str(SUBSCRIBER), "--url", f"opc.tcp://127.0.0.1:{port}", "--sync", "1"]
        sub_cmd += ["--ns", str(ready["ns"]), "--first", "1", "--count", str(args.signals)]
        sub_cmd += ["--seconds", str(args.seconds)]
        said: queue.Queue[str] = queue.Queue()  # "subscribed" or "ended", from each watcher
        for i in range(args.clients):
            sub = subprocess.Popen(
                sub_cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            subs.append(sub)
            threading.Thread(
                target=_watch, args=(sub, said, f"{kind} subscriber {i}"), daemon=True
            ).start()
        for _ in subs:
            try:
                what = said.get(timeout=600)
            except queue.Empty:
                raise RuntimeError(f"{kind}: a subscriber did not finish subscribing") from None
            if what != "subscribed":  # it exited first: its stderr was relayed above
                raise RuntimeError(f"{kind}: a subscriber exited before it subscribed")
        time.sleep(args.warmup)
        cpu0, t0 = _cpu_seconds(server.pid), time.monotonic()
        if args.profile:
            server.send_signal(signal.SIGUSR1)
        for sub in subs:  # every subscriber starts the same window now
            assert sub.stdin is not None
            sub.stdin.write("go\n")
            sub.stdin.flush()
        time.sleep(args.seconds)
        cpu1, t1 = _cpu_seconds(server.pid), time.monotonic()
        if args.profile:
            server.send_signal(signal.SIGUSR2)
        per_client = []
        for sub in subs:
            assert sub.stdout is not None
            out = sub.stdout.read()  # not communicate(): the watcher thread owns stderr
            if sub.wait(timeout=60) != 0:
                raise RuntimeError(f"{kind} subscriber failed (exit {sub.returncode})")
            per_client.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for sub in subs:
            if sub.poll() is None:
                sub.kill()
        server.send_signal(signal.SIGTERM)
        try:
            tail, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            tail, _ = server.communicate()
    result: dict[str, Any] = {
        "rate": sum(r["rate"] for r in per_client),
        "p50_ms": max(r["p50_ms"] for r in per_client),
        "p99_ms": max(r["p99_ms"] for r in per_client),
        "max_ms": max(r["max_ms"] for r in per_client),
        "setup_ms": max(r["setup_ms"] for r in per_client),
        "server_cpu": (cpu1 - cpu0) / (t1 - t0),
        "clients": per_client,
    }
    for line in tail.splitlines():
        if line.startswith('{"stats"'):
            result["server"] = json.loads(line)["stats"]
    return result


def _watch(sub: subprocess.Popen[str], said: queue.Queue[str], name: str) -> None:
    """Relay a subscriber's stderr; say "subscribed" when it has created its items, and
    "ended" if its stderr ends before (it exited, e.g. node-opcua missing)."""
    assert sub.stderr is not None
    subscribed = False
    for line in sub.stderr:
        if line.startswith("subscribed"):
            subscribed = True
            said.put("subscribed")
        elif not line.startswith("window-"):
            sys.stderr.write(f"[{name}] {line}")
    if not subscribed:
        said.put("ended")


def _line(kind: str, r: dict[str, Any]) -> str:
    cpu = f"{100 * r['server_cpu']:.0f}%" if "server_cpu" in r else "?"
    return (
        f"{kind:9s} {r['rate']:>10,.0f} notifications/s   p50 {r['p50_ms']:>6.0f} ms   "
        f"p99 {r['p99_ms']:>6.0f} ms   max {r['max_ms']:>6.0f} ms   server CPU {cpu}   "
        f"(subscribe {r['setup_ms'] / 1000:.1f} s)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--signals", type=int, default=5000)
    p.add_argument("--hz", type=float, default=10.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--clients", type=int, default=1, help="subscriber processes per server")
    p.add_argument("--only", choices=KINDS)
    p.add_argument("--profile", metavar="DIR", help="write pyinstrument profiles of the servers")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve, args.port, args.signals, args.hz, args.profile_out))
        return

    if not NODE_CLIENT.is_dir():
        sys.exit(
            f"bench/opcua_fanout.py: the node-opcua subscriber needs "
            f"{NODE_CLIENT.relative_to(ROOT)}: run `make deps` (or `cd node && npm ci`) first"
        )
    results = {kind: _run_one(kind, args) for kind in KINDS if args.only in (None, kind)}
    if args.json:
        print(json.dumps({"signals": args.signals, "hz": args.hz, **results}))
        return
    offered = args.signals * args.hz
    print(
        f"{args.signals} signals x {args.hz:g} Hz = {offered:,.0f} changes/s offered, "
        f"window {args.seconds:g} s, {args.clients} node-opcua subscriber(s) per server "
        "(100 ms, queue size 1; rates summed, latencies the worst client's)"
    )
    for kind, r in results.items():
        print(_line(kind, r))
    if len(results) == 2:
        b, t = results["baseline"], results["twin"]
        print(
            f"ratio twin/baseline: {t['rate'] / b['rate']:.1f}x notifications/s, "
            f"p99 {t['p99_ms']:.0f} ms vs {b['p99_ms']:.0f} ms"
        )


if __name__ == "__main__":
    main()
