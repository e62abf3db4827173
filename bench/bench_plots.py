"""Benchmark: how long the perf plots and the timeline take on a large history.

Generates a synthetic set-workload history shaped like a real run (10
concurrent clients, add and read, periodic partitions during which ops slow
down and time out as ``info`` and the client retires its process number),
then times :class:`checkers.perf.PerfChecker` and
:class:`checkers.timeline.TimelineChecker` on it, printing
min / median / max over repeats and the output sizes.

    .venv/bin/python bench/bench_plots.py --ops 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checkers.perf import PerfChecker
from checkers.timeline import TimelineChecker
from pyharness.history import Op

S = 1_000_000_000


def synthetic_history(n_ops: int, clients: int = 10, seed: int = 1) -> list[Op]:
    """``n_ops`` client ops (invoke + completion each) plus partition nemesis ops."""
    rng = np.random.default_rng(seed)
    period = 20.0  # a partition during the second half of every 20 s
    events: list[tuple[int, Op]] = []
    per_client = n_ops // clients
    next_proc = clients
    value = 0
    for c in range(clients):
        proc, t = c, int(rng.uniform(0, 0.01) * S)
        for _ in range(per_client):
            faulty = (t / S) % period > period / 2
            f = "add" if rng.random() < 0.9 else "read"
            lat = rng.lognormal(np.log(0.004 if not faulty else 0.05), 0.6)
            r = rng.random()
            kind = "ok"
            if faulty and r < 0.15:
                kind, lat = "info", 1.0 + rng.uniform(0, 0.01)  # client timeout
            elif faulty and r < 0.3:
                kind = "fail"
            v = value if f == "add" else None
            value += f == "add"
            inv = Op("invoke", f, v, proc, t, node=f"n{c % 3 + 1}")
            done = t + int(lat * S)
            err = ["timeout", "deadline exceeded"] if kind == "info" else (
                "not-leader" if kind == "fail" else None)
            recent = list(range(max(0, value - 5), value))  # reads stay small
            cv = v if f == "add" else (recent if kind == "ok" else None)
            comp = Op(kind, f, cv, proc, done, error=err, node=inv.node)
            events += [(t, inv), (done, comp)]
            if kind == "info":
                proc, next_proc = next_proc, next_proc + 1
            t = done + int(rng.uniform(0, 0.01) * S)
    duration = max(t for t, _ in events) / S
    k = 0
    while (k + 0.5) * period < duration:
        a, b = int((k + 0.5) * period * S), int((k + 1) * period * S)
        events += [
            (a, Op("info", "start-partition", None, "nemesis", a)),
            (a + 1, Op("info", "start-partition", "majority", "nemesis", a + S // 20,
                       extra={"effective_ns": a + S // 25, "hosts": ["n1", "n2", "n3"],
                              "grudge": {"n1": ["n2", "n3"]}})),
            (b, Op("info", "stop-partition", None, "nemesis", b)),
            (b + 1, Op("info", "stop-partition", None, "nemesis", b + S // 20)),
        ]
        k += 1
    events.sort(key=lambda e: e[0])
    ops = [op for _, op in events]
    for i, op in enumerate(ops):
        op.index = i
    return ops


def timed(fn, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def report(name: str, xs: list[float]) -> None:
    print(f"{name:<22} min {min(xs):7.3f} s  median {statistics.median(xs):7.3f} s  "
          f"max {max(xs):7.3f} s  (n={len(xs)})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ops", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--keep", type=Path, help="write outputs here instead of a temp dir")
    a = p.parse_args()
    t0 = time.perf_counter()
    hist = synthetic_history(a.ops)
    print(f"history: {len(hist)} events ({a.ops} ops) generated in "
          f"{time.perf_counter() - t0:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        out = a.keep or Path(tmp)
        test = {"name": "bench", "store_dir": str(out)}
        report("perf (3 PNGs)", timed(lambda: PerfChecker(out).check(test, hist), a.repeats))
        report("timeline.html", timed(lambda: TimelineChecker(out).check(test, hist),
                                      a.repeats))
        for f in sorted(out.iterdir()):
            print(f"  {f.name:<22} {f.stat().st_size / 1e6:7.2f} MB")


if __name__ == "__main__":
    main()
