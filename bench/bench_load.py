"""How much load the harness drives, against the cluster's own ceiling.

In one run on one cluster (the lab unless ``-i``), with no faults:

1. the **engine alone**, first, in a fresh process: the interpreter,
   generator and history writer with a client that answers every op at once
   (one event-loop turn), for each concurrency: what the driver costs before
   any HTTP. ``--engine-only`` runs just these rows, without a cluster;
2. the **ceiling**: two bare asyncio clients, each with
   ``--ceiling-inflight`` requests in flight, one connection each, spread
   over the members, sending the register workload's mix (a third each:
   linearizable read, put, and a compare-and-put txn) as fast as the cluster
   answers: the engine's own HTTP/1.1 connection (``pyharness.etcd.http1``)
   with nothing around it, and aiohttp. The ceiling is the faster of the
   two, so a cheap client cannot make the cluster look slow;
3. the **harness**: the real interpreter, generator, history writer and
   workload client, exactly as ``pyharness test`` runs them, unthrottled, for
   each workload × engine × concurrency;
4. **--rate**: the register workload at half the ceiling, to see the rate
   honoured.

For each it prints answered ops/s (every request etcd answered: ok, or a
definite fail such as a compare-and-set whose compare failed, which the bare
client also counts), the ratio to the ceiling (median against median, within
this run), the driver's CPU per answered op (user + system of this whole
process), and p50 / p99 latency of answered ops, each as min / median / max
over ``--repeats``.

    .venv/bin/python bench/bench_load.py [-i inventory/lab.yml] [--seconds 10]
        [--repeats 3] [--concurrency 10,50,100,200,500]
        [--engines async,threads] [--workloads register,set] [--engine-only]

Sets up a fresh cluster first (setup.yml) and tears it down at the end.
Traffic goes only to the inventory's hosts, and every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp

from pyharness.control import paths
from pyharness.control.ansible import Ansible
from pyharness.control.inventory import Node, load
from pyharness.etcd import http1
from pyharness.gen import generator as g
from pyharness.gen import interpreter
from pyharness.gen.interpreter import new_event_loop
from pyharness.history import FAIL, INVOKE, OK, HistoryWriter, Op
from pyharness.workloads import register
from pyharness.workloads import set as set_workload


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))] if s else float("nan")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _register_request(key: str, rng: random.Random) -> tuple[str, bytes]:
    k = rng.randrange(3)
    if k == 0:
        return "/kv/range", json.dumps({"key": key}).encode()
    if k == 1:
        return "/kv/put", json.dumps({"key": key, "value": _b64(str(rng.randrange(5)))}).encode()
    return "/kv/txn", json.dumps({
        "compare": [{"key": key, "result": "EQUAL", "target": "VALUE",
                     "value": _b64(str(rng.randrange(5)))}],
        "success": [{"request_put": {"key": key, "value": _b64("1")}}]}).encode()


async def _ceiling(nodes: list[Node], inflight: int, seconds: float,
                   http: str) -> dict[str, float]:
    """ok/s of a bare client with ``inflight`` requests always outstanding:
    ``http`` is ``http1`` (the harness's own HTTP/1.1 connection, alone) or
    ``aiohttp``."""
    deadline = time.monotonic() + seconds
    lat: list[float] = []
    ok = 0
    c0 = cpu_s()

    async def worker_http1(i: int) -> None:
        nonlocal ok
        n = nodes[i % len(nodes)]
        key = _b64(f"/bench-ceiling/{i % 50}")
        rng = random.Random(i)
        c = http1.Connection(n.address, n.client_port, timeout=5, connect_timeout=5)
        try:
            while time.monotonic() < deadline:
                path, body = _register_request(key, rng)
                t = time.monotonic()
                try:
                    status, _ = await c.post("/v3" + path, body)
                    if status == 200:
                        ok += 1
                        lat.append(time.monotonic() - t)
                except http1.HTTPError:
                    await asyncio.sleep(0.05)
        finally:
            c.close()

    async def worker_aiohttp(i: int) -> None:
        nonlocal ok
        n = nodes[i % len(nodes)]
        base = f"http://{n.address}:{n.client_port}/v3"
        key = _b64(f"/bench-ceiling/{i % 50}")
        rng = random.Random(i)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1),
                                         timeout=aiohttp.ClientTimeout(total=5)) as s:
            while time.monotonic() < deadline:
                path, body = _register_request(key, rng)
                t = time.monotonic()
                try:
                    async with s.post(base + path, data=body) as r:
                        await r.read()
                        if r.status == 200:
                            ok += 1
                            lat.append(time.monotonic() - t)
                except (aiohttp.ClientError, TimeoutError):
                    await asyncio.sleep(0.05)

    worker = worker_http1 if http == "http1" else worker_aiohttp
    t0 = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(inflight)))
    dt = time.monotonic() - t0
    return {"ok/s": ok / dt, "cpu-ms/op": (cpu_s() - c0) / max(ok, 1) * 1e3,
            "p50-ms": pct(lat, 50) * 1e3, "p99-ms": pct(lat, 99) * 1e3}


def _on_loop(coro: Coroutine[Any, Any, dict[str, float]]) -> dict[str, float]:
    loop = new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _harness(nodes: list[Node], workload: str, engine: str, concurrency: int,
             seconds: float, rate: float | None, out: Path) -> dict[str, float]:
    opts = {"concurrency": concurrency, "api": "v3", "ops_per_key": 100}
    wl = (register if workload == "register" else set_workload).workload(opts)
    client = wl.async_client if engine == "async" and wl.async_client is not None else wl.client
    test = {"nodes": {n.name: {"address": n.address, "client_port": n.client_port}
                      for n in nodes},
            "op_timeout": 1.5, "key_prefix": f"/bench-load/{random.getrandbits(40):x}",
            "options": {"api": "v3"}}
    gen: g.Generator = wl.generator
    if rate is not None:
        gen = g.stagger(1 / rate, gen)
    history = HistoryWriter(out)
    gc.collect()  # the last repeat's history, untimed
    c0, t0 = cpu_s(), time.monotonic()
    interpreter.run(test, g.clients(g.time_limit(seconds, gen)), client, None,
                    [n.name for n in nodes], concurrency, history, rng=random.Random(1))
    dt, cpu = time.monotonic() - t0, cpu_s() - c0
    history.close()
    invokes: dict[Any, Op] = {}
    lat: list[float] = []
    served = 0  # answered by etcd: ok, or a definite fail such as a cas whose compare failed
    for op in history.ops:
        if op.type == INVOKE:
            invokes[op.process] = op
        elif op.type in (OK, FAIL):
            served += 1
            lat.append((op.time - invokes[op.process].time) / 1e9)
    return {"ok/s": served / dt, "cpu-ms/op": cpu / max(served, 1) * 1e3,
            "p50-ms": pct(lat, 50) * 1e3, "p99-ms": pct(lat, 99) * 1e3,
            "invoked/s": sum(1 for o in history.ops if o.type == INVOKE) / dt}


class _Instant:
    """An async client that answers ok at once: the engine's own cost."""

    async def open(self, test: Any, node: str) -> _Instant:
        return self

    async def invoke(self, test: Any, op: Op) -> Op:
        await asyncio.sleep(0)
        return op.completion(OK)

    async def close(self, test: Any) -> None:
        pass


def _engine(concurrency: int, seconds: float, out: Path) -> dict[str, float]:
    gc.collect()  # the last repeat's history, untimed
    wl = register.workload({"concurrency": concurrency, "api": "v3", "ops_per_key": 100})
    history = HistoryWriter(out)
    c0, t0 = cpu_s(), time.monotonic()
    interpreter.run({"nodes": {}}, g.clients(g.time_limit(seconds, wl.generator)), _Instant(),
                    None, ["n1", "n2", "n3", "n4", "n5"], concurrency, history,
                    rng=random.Random(1))
    dt, cpu = time.monotonic() - t0, cpu_s() - c0
    history.close()
    done = sum(1 for o in history.ops if o.type != INVOKE)
    return {"ok/s": done / dt, "cpu-ms/op": cpu / max(done, 1) * 1e3,
            "p50-ms": float("nan"), "p99-ms": float("nan")}


def _engine_rows(concurrencies: list[int], seconds: float, repeats: int, data: Path) -> None:
    for c in concurrencies:
        runs = [_engine(c, seconds, data / f"e{c}-{i}.jsonl") for i in range(repeats)]
        print(_row(f"engine alone (no-op client) c={c}", runs, None), flush=True)


def _fmt(xs: list[float], digits: int = 0) -> str:
    return "/".join(f"{x:.{digits}f}" for x in (min(xs), statistics.median(xs), max(xs)))


def _row(label: str, runs: list[dict[str, float]], ceiling: float | None) -> str:
    col = {k: [r[k] for r in runs] for k in ("ok/s", "cpu-ms/op", "p50-ms", "p99-ms")}
    ratio = (f"{statistics.median(col['ok/s']) / ceiling:5.0%}" if ceiling else "    -")
    return (f"{label:34} {_fmt(col['ok/s']):>17} {ratio:>6} {_fmt(col['cpu-ms/op'], 3):>19} "
            f"{_fmt(col['p50-ms'], 1):>17} {_fmt(col['p99-ms'], 1):>20}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", "--inventory", type=Path, default=paths.LAB_INVENTORY)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--concurrency", default="10,50,100,200,500")
    ap.add_argument("--engines", default="async,threads")
    ap.add_argument("--workloads", default="register,set")
    ap.add_argument("--ceiling-inflight", type=int, default=100)
    ap.add_argument("--engine-only", action="store_true",
                    help="only the no-op client rows: no cluster needed")
    args = ap.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    header = (f"{'run':34} {'answered/s':>17} {'ratio':>6} {'driver cpu ms/op':>19} "
              f"{'p50 ms':>17} {'p99 ms':>20}")
    data = Path(tempfile.mkdtemp(prefix="bench-load-"))
    # The engine rows come first, in a fresh process: after the load rows
    # they read about a quarter higher.
    print(f"{args.seconds:g} s a run, min/median/max of {args.repeats}\n{header}", flush=True)
    _engine_rows(concurrencies, args.seconds, args.repeats, data)
    if args.engine_only:
        return
    inv = args.inventory.resolve()
    nodes = load(inv)
    ansible = Ansible(inv, data / "ansible")
    r = ansible.run("setup.yml")
    if not r.ok:
        raise SystemExit(f"setup failed: {r}")
    try:
        print(f"{len(nodes)} members", flush=True)
        # Both bare clients on the loop the harness uses. The ceiling is the
        # cheaper one's: on a shared machine a costlier client takes CPU from
        # etcd and measures itself.
        ceil_runs = {http: [_on_loop(_ceiling(nodes, args.ceiling_inflight, args.seconds,
                                               http))
                            for _ in range(args.repeats)] for http in ("http1", "aiohttp")}
        ceiling = max(statistics.median(r["ok/s"] for r in runs)
                      for runs in ceil_runs.values())
        for http, runs in ceil_runs.items():
            print(_row(f"ceiling (bare {http}, {args.ceiling_inflight} in flight)", runs,
                       ceiling), flush=True)
        n = 0
        for workload in args.workloads.split(","):
            for engine in args.engines.split(","):
                for c in concurrencies:
                    runs = []
                    for _ in range(args.repeats):
                        n += 1
                        runs.append(_harness(nodes, workload, engine, c, args.seconds, None,
                                             data / f"h{n}.jsonl"))
                    print(_row(f"{workload} {engine} c={c}", runs, ceiling), flush=True)
        for engine in args.engines.split(","):
            target = ceiling / 2
            runs = []
            for _ in range(args.repeats):
                n += 1
                runs.append(_harness(nodes, "register", engine, 100, args.seconds, target,
                                     data / f"h{n}.jsonl"))
            # The rate is of ops sent: a cas whose compare fails is not ok.
            got = statistics.median(r["invoked/s"] for r in runs)
            print(_row(f"register {engine} --rate {target:.0f}", runs, ceiling)
                  + f"   sent {got:.0f}/s: {got / target:.0%} of the rate", flush=True)
    finally:
        ansible.run("teardown.yml")


if __name__ == "__main__":
    main()
