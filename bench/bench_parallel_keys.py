"""Benchmark: the linearizability search of multi-key histories, keys in one
process or in worker processes (:mod:`checkers.linear_parallel`).

Histories are Jepsen-style independent registers (``value = [key v]``):
``--keys`` keys, each ``bench_linearizable``'s simulated cas register with
its own processes, interleaved in time; optionally one stale read in the
last key (a refuted key), or 1% of writes crashed on 20 processes per key
(harder keys). Plus ``bench_analyze``'s Porcupine-style kv history (10
keys). Each case is checked with ``workers=1`` (the sequential passes) and
with ``workers=N`` (N = the usable cores), alternately, ``--repeats``
times; it prints min / median / max of each and the ratio of the medians
(sequential / parallel: above 1, parallel pays). Alternating keeps the two
in the same load, since the machine may be shared. Verdicts are printed so
a wrong one shows. It asserts nothing: figures are for people.

    .venv/bin/python bench/bench_parallel_keys.py                 # all cases
    .venv/bin/python bench/bench_parallel_keys.py --sizes 1000 5000 --repeats 7
    .venv/bin/python bench/bench_parallel_keys.py --cases kv
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_analyze import simulate_kv  # noqa: E402
from bench_linearizable import inject_stale_read, simulate  # noqa: E402

from checkers.linear_rival import usable_cores  # noqa: E402
from checkers.linearizable import Linearizable  # noqa: E402
from pyharness.history import Op  # noqa: E402


def independent(n_ops: int, keys: int, procs: int, crash: float, stale: bool,
                seed: int) -> list[Op]:
    """``keys`` simulated registers of ``n_ops // keys`` ops each, as one
    history of ``[key v]`` values, interleaved by their steps."""
    timed: list[tuple[int, int, Op]] = []
    for k in range(keys):
        ops = simulate(max(1, n_ops // keys), procs, crash, seed * 1000 + k)
        if stale and k == keys - 1:
            inject_stale_read(ops, random.Random(seed))
        for op in ops:
            op.value = [k, op.value]
            op.process = op.process * keys + k  # each key its own processes
            timed.append((op.time, k, op))
    timed.sort(key=lambda t: (t[0], t[1]))
    out = [op for _, _, op in timed]
    for i, op in enumerate(out):
        op.index = i
    return out


def check(ops: list[Op], kv: bool, workers: int) -> tuple[float, Any]:
    checker = Linearizable("kv" if kv else "cas-register", initial="" if kv else None,
                           definite_fail=not kv, independent="key" if kv else "tuple",
                           time_limit=600, workers=workers)
    gc.collect()
    t0 = time.perf_counter()
    res = checker.check({}, ops)
    return time.perf_counter() - t0, res["valid?"]


def _mmm(xs: list[float]) -> str:
    return f"{min(xs):7.3f} {statistics.median(xs):7.3f} {max(xs):7.3f}"


def run_case(name: str, ops: list[Op], kv: bool, repeats: int, n: int) -> None:
    times: dict[int, list[float]] = {1: [], n: []}
    verdicts: dict[int, set[str]] = {1: set(), n: set()}
    for _ in range(repeats):
        for w in (1, n):
            dt, valid = check(ops, kv, w)
            times[w].append(dt)
            verdicts[w].add(str(valid))
    ratio = statistics.median(times[1]) / statistics.median(times[n])
    print(f"{name:<30} {len(ops):>7} | {_mmm(times[1])} | {_mmm(times[n])} | {ratio:5.2f} | "
          f"{','.join(sorted(verdicts[1]))} / {','.join(sorted(verdicts[n]))}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 1000, 3000, 10_000, 30_000],
                    help="ops (invocations) per history")
    ap.add_argument("--keys", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workers", type=int, default=usable_cores())
    ap.add_argument("--cases", help="only the cases whose name holds one of these "
                    "comma-separated words (e.g. stale,kv)")
    args = ap.parse_args()
    only = [w for w in (args.cases or "").split(",") if w]
    n = args.workers
    print(f"times in seconds, min / median / max of {args.repeats}; ratio = median of "
          f"1 / median of {n}")
    print(f"{'case':<30} {'ops':>7} | {'1 process':^23} | {f'{n} workers':^23} | ratio | "
          "verdicts")
    for size in args.sizes:
        cases: list[tuple[str, list[Op], bool]] = [
            (f"cas {args.keys} keys 5p", independent(size, args.keys, 5, 0.0, False, 1), False),
            (f"cas {args.keys} keys 5p stale", independent(size, args.keys, 5, 0.0, True, 1),
             False),
            (f"cas {args.keys} keys 20p crash1%", independent(size, args.keys, 20, 0.01, False, 1),
             False),
            ("kv 10 keys 50c", simulate_kv(size, 50, 1), True),
        ]
        for name, ops, kv in cases:
            if only and not any(w in name for w in only):
                continue
            run_case(f"{name} {size}", ops, kv, args.repeats, n)


if __name__ == "__main__":
    main()
