"""Benchmark: the list-append checker on histories of the append workload's shape.

Histories come from :func:`pyharness.workloads.append_sim.simulate`: the append
workload's own transactions (1-4 micro-ops, half reads, over 8 rotating keys
of at most ~64 appends each), 10 concurrent processes, 2% failed and 1%
indeterminate transactions, applied by a strictly serializable store. Each
size is generated once and checked ``--repeats`` times under the default
model (strict-serializable: ww, wr, rw, process and real-time edges). With
``--anomalous`` a stale read is injected every 1000 transactions, so the
cycle search and the explanations are timed too.

    .venv/bin/python bench/bench_list_append.py --sizes 1000 10000 100000 --repeats 5
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checkers.list_append import ListAppendChecker, transactions
from pyharness.history import OK, Op
from pyharness.workloads.append_sim import simulate


def inject_stale_reads(ops: list[Op], every: int) -> int:
    """Empty one read in every ``every`` ok txns (a read that missed writes)."""
    nodes, _ = transactions(ops)
    n = 0
    for t in nodes[::every]:
        if t.type != OK or t.complete is None:
            continue
        value = [list(m) for m in t.mops]
        for m in value:
            if m[0] == "r" and m[2]:
                m[2] = []
                ops[t.complete.index] = dataclasses.replace(t.complete, value=value)
                n += 1
                break
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--anomalous", action="store_true")
    args = ap.parse_args()
    print(f"{'txns':>8} {'ops':>8} {'min s':>7} {'median s':>8} {'max s':>7} "
          f"{'txn/s (median)':>14}  verdict")
    for n in args.sizes:
        ops = simulate(n, seed=n)
        if args.anomalous:
            inject_stale_reads(ops, 1000)
        times = []
        result: dict = {}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = ListAppendChecker().check({}, ops)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        verdict = result["valid?"] if result["valid?"] is True else (
            f"{result['valid?']} {','.join(result['anomaly-types'])}")
        print(f"{n:>8} {len(ops):>8} {min(times):>7.2f} {med:>8.2f} {max(times):>7.2f} "
              f"{n / med:>14,.0f}  {verdict}")


if __name__ == "__main__":
    main()
