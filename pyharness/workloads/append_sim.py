"""Simulated list-append histories from a strictly serializable store.

To test a checker one needs histories whose verdict is known. This module
plays both sides of the ``append`` workload in memory: the same transactions
the workload would send (:func:`pyharness.workloads.append.make_txn`), run by
``concurrency`` simulated processes against a store that applies each
transaction atomically at one instant between its invocation and its
completion. Such a history is strictly serializable by construction, so the
list-append checker must find it valid, whatever the interleaving, the
failures (``fail``: not applied) and the crashes (``info``: applied or not,
the process retired).

Used by the property tests (valid histories always pass; an injected anomaly
is always found) and by ``bench/bench_list_append.py``.
"""

from __future__ import annotations

import random
from typing import Any

from pyharness.history import FAIL, INFO, INVOKE, OK, Op
from pyharness.workloads.append import make_txn


def apply_txn(store: dict[Any, list[Any]], mops: list[list[Any]]) -> list[list[Any]]:
    """Run micro-ops atomically on ``store``; return them with reads filled."""
    out = []
    for f, k, v in mops:
        if f == "append":
            store.setdefault(k, []).append(v)
            out.append([f, k, v])
        else:
            out.append([f, k, list(store.get(k, []))])
    return out


def simulate(n_txns: int, concurrency: int = 10, seed: int = 0, fail_p: float = 0.02,
             info_p: float = 0.01, key_count: int = 8, max_txn_length: int = 4,
             max_writes_per_key: int = 64) -> list[Op]:
    """A history of ``n_txns`` transactions (see the module docstring)."""
    rng = random.Random(seed)
    store: dict[Any, list[Any]] = {}
    ops: list[Op] = []
    # Per thread: [process, phase, invoke mops, outcome, filled mops]
    threads: list[list[Any]] = [[p, "idle", None, None, None] for p in range(concurrency)]
    next_process = concurrency
    issued = 0
    busy = 0

    def record(type_: str, process: int, value: Any) -> None:
        ops.append(Op(type=type_, f="txn", value=value, process=process,
                      time=len(ops) * 1000, index=len(ops)))

    while issued < n_txns or busy:
        th = threads[rng.randrange(concurrency)]
        process, phase = th[0], th[1]
        if phase == "idle":
            if issued >= n_txns:
                continue
            mops = make_txn(issued, seed, key_count, max_txn_length, max_writes_per_key)
            issued += 1
            busy += 1
            th[1], th[2] = "invoked", mops
            record(INVOKE, process, mops)
        elif phase == "invoked":
            # fail: not applied; info: applied or not, half and half.
            r = rng.random()
            if r < fail_p:
                th[3] = FAIL
            elif r < fail_p + info_p / 2:
                th[3] = INFO
            else:
                th[4] = apply_txn(store, th[2])
                th[3] = INFO if r < fail_p + info_p else OK
            th[1] = "applied"
        else:
            outcome = th[3]
            record(outcome, process, th[4] if outcome == OK else th[2])
            busy -= 1
            th[1:] = ["idle", None, None, None]
            if outcome == INFO:
                th[0] = next_process
                next_process += 1
    return ops
