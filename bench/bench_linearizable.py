"""Benchmark: how fast the linearizability checker judges cas-register histories.

Histories come from a seeded simulation of a linearizable register shared by
P processes: each op is invoked, takes effect at a later random step, and
completes later still, so about P ops overlap at any time (as in a Jepsen
test). Reads return the register, cas ``[a b]`` succeeds iff it holds ``a``
(a failed cas is a definite answer, Porcupine's etcd reading), writes set it.
With ``--crash`` a share of writes crash (``info``): half of them took effect,
half never did, and the process is replaced, as in Jepsen.

A *stale* variant changes exactly one read to return an older value that no
linearization can explain: every writer of that value is followed, in real
time, by a completed write of another value before the read starts, and no
crashed writer of it exists. The checker must say False.

Each case runs in a fresh subprocess (so peak RSS is the case's own) and is
repeated; the script prints min / median / max of the check time (not the
generation), ops per second, and peak RSS. It asserts nothing: figures are
for people. Targets are Porcupine's times on this machine.

    .venv/bin/python bench/bench_linearizable.py            # all sizes
    .venv/bin/python bench/bench_linearizable.py --quick    # 1k and 10k only
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checkers.linearizable import Linearizable
from pyharness.history import Op

VALUES = 5

TARGETS = {  # (ops, processes, crash %, stale) -> Porcupine's seconds here
    (10_000, 5, 0.0, False): "0.20 s",
    (10_000, 5, 0.0, True): "1.34 s",
    (100_000, 5, 0.0, False): "23.6 s",
    (100_000, 5, 0.0, True): "60.9 s",
    (10_000, 20, 1.0, False): "no verdict in 120 s (ours: < 10 s)",
}


def simulate(n_ops: int, n_procs: int, crash: float, seed: int) -> list[Op]:
    """A linearizable cas-register history of ``n_ops`` ops by ``n_procs`` workers."""
    rng = random.Random(seed)
    state: int | None = None
    ops: list[Op] = []
    # per worker: [invocation, took effect?, result, crashes?, never happens?] or None
    slots: list[list[Any] | None] = [None] * n_procs
    pids = list(range(n_procs))
    next_pid = n_procs
    invoked = busy = 0
    t = 0
    while invoked < n_ops or busy:
        w = rng.randrange(n_procs)
        slot = slots[w]
        t += 1
        if slot is None:
            if invoked >= n_ops:
                continue
            r = rng.random()
            if r < 0.5:
                inv = Op("invoke", "read", None, pids[w], t)
            elif r < 0.75:
                inv = Op("invoke", "write", rng.randrange(VALUES), pids[w], t)
            else:
                pair = [rng.randrange(VALUES), rng.randrange(VALUES)]
                inv = Op("invoke", "cas", pair, pids[w], t)
            crashes = inv.f == "write" and rng.random() < crash
            slots[w] = [inv, False, None, crashes, crashes and rng.random() < 0.5]
            ops.append(inv)
            invoked += 1
            busy += 1
        elif not slot[1]:
            inv = slot[0]
            if not slot[4]:  # the op takes effect now
                if inv.f == "read":
                    slot[2] = state
                elif inv.f == "write":
                    state = inv.value
                else:
                    old, new = inv.value
                    slot[2] = state == old
                    if state == old:
                        state = new
            slot[1] = True
        else:
            inv, _, res, crashes, _ = slot
            if crashes:
                ops.append(Op("info", inv.f, inv.value, inv.process, t, error="timeout"))
                pids[w] = next_pid
                next_pid += 1
            elif inv.f == "read":
                ops.append(Op("ok", "read", res, inv.process, t))
            elif inv.f == "cas":
                ops.append(Op("ok" if res else "fail", "cas", inv.value, inv.process, t))
            else:
                ops.append(Op("ok", "write", inv.value, inv.process, t))
            slots[w] = None
            busy -= 1
    for i, op in enumerate(ops):
        op.index = i
    return ops


def _intervals(ops: list[Op]) -> list[tuple[Op, Op | None, int, int]]:
    """(invoke, completion, invoke position, completion position or huge)."""
    open_: dict[Any, tuple[Op, int]] = {}
    out = []
    for i, op in enumerate(ops):
        if op.type == "invoke":
            open_[op.process] = (op, i)
        else:
            inv, j = open_.pop(op.process)
            out.append((inv, op, j, i if op.type != "info" else 1 << 60))
    return out


def inject_stale_read(ops: list[Op], rng: random.Random) -> int:
    """Make one ok read return a value no linearization allows; return its position."""
    iv = _intervals(ops)
    writers: dict[int, list[tuple[int, int]]] = {v: [] for v in range(VALUES)}
    blind: list[tuple[int, int, int]] = []  # ok writes: (inv, comp, value)
    for inv, comp, i, c in iv:
        if inv.f == "write":
            writers[inv.value].append((i, c))
            if comp is not None and comp.type == "ok":
                blind.append((i, c, inv.value))
        elif inv.f == "cas" and comp is not None and comp.type != "fail":
            writers[inv.value[1]].append((i, c))
    reads = [(inv, comp, i, c) for inv, comp, i, c in iv
             if inv.f == "read" and comp is not None and comp.type == "ok"]
    start = int(len(reads) * 0.9)
    for _, comp, i, c in reads[start::-1] + reads[start + 1:]:
        for v in rng.sample(range(VALUES), VALUES):
            if v == comp.value:
                continue
            before = [(a, b) for a, b in writers[v] if a < c]
            if not before or any(b >= 1 << 60 for _, b in before):
                continue  # never written (not stale), or a crashed writer could explain it
            last = max(b for _, b in before)
            if any(a > last and b < i and u != v for a, b, u in blind):
                assert comp is not None
                comp.value = v
                return c
    raise RuntimeError("no read can be made stale in this history")


def one(n_ops: int, procs: int, crash_pct: float, stale: bool, seed: int) -> dict[str, Any]:
    ops = simulate(n_ops, procs, crash_pct / 100, seed)
    where = inject_stale_read(ops, random.Random(seed)) / len(ops) if stale else None
    checker = Linearizable("cas-register", initial=None, definite_fail=True, time_limit=600)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    res = checker.check({}, ops)
    dt = time.perf_counter() - t0
    key = next(iter(res["keys"].values()))
    return {"time": dt, "valid": res["valid?"], "peak_rss_kb": resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss, "rss_before_kb": rss_before,
        "max_frontier": key["max-frontier"], "stale_at": where}


def run_case(n_ops: int, procs: int, crash: float, stale: bool, repeats: int) -> None:
    runs = []
    for r in range(repeats):
        cmd = [sys.executable, __file__, "--one", str(n_ops), str(procs), str(crash),
               "1" if stale else "0", str(1000 + r)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout))
    times = [x["time"] for x in runs]
    rss = [x["peak_rss_kb"] / 1024 for x in runs]
    mn, md, mx = min(times), statistics.median(times), max(times)
    verdicts = ",".join(str(x["valid"]) for x in runs)
    where = ("" if not stale else
             " stale@" + ",".join(f"{x['stale_at']:.0%}" for x in runs))
    target = TARGETS.get((n_ops, procs, crash, stale), "")
    print(f"{n_ops:>7} ops {procs:>2}p crash {crash:>3.0f}% {'stale' if stale else 'linear':>6}: "
          f"time min/med/max {mn:7.3f} {md:7.3f} {mx:7.3f} s | {n_ops / md:9.0f} ops/s | "
          f"peak RSS {min(rss):.0f}/{statistics.median(rss):.0f}/{max(rss):.0f} MiB | "
          f"frontier<={max(x['max_frontier'] for x in runs)} | valid? {verdicts}{where}"
          + (f" | Porcupine: {target}" if target else ""), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only 1k and 10k ops")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--one", nargs=5, metavar=("OPS", "PROCS", "CRASH", "STALE", "SEED"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        n, p, c, s, seed = args.one
        print(json.dumps(one(int(n), int(p), float(c), s == "1", int(seed))))
        return
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    for n in sizes:
        for procs in (5, 20):
            for crash in (0.0, 1.0):
                for stale in (False, True):
                    run_case(n, procs, crash, stale, args.repeats)


if __name__ == "__main__":
    main()
