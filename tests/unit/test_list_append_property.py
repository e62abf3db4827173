"""Property tests of the list-append checker against a simulated store.

Histories from a strictly serializable store (:mod:`pyharness.workloads.append_sim`)
are always valid; inject one known anomaly and it is always found."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from checkers.list_append import ListAppendChecker, transactions
from pyharness.history import FAIL, INVOKE, OK, Op
from pyharness.workloads.append_sim import simulate

CYCLES_WITH_RW = ("G-single", "G-nonadjacent", "G2-item")

histories = st.builds(
    simulate, n_txns=st.integers(1, 80), concurrency=st.integers(1, 6),
    seed=st.integers(0, 2**31), fail_p=st.sampled_from([0.0, 0.1, 0.3]),
    info_p=st.sampled_from([0.0, 0.1, 0.3]), key_count=st.integers(1, 5),
    max_txn_length=st.integers(1, 5), max_writes_per_key=st.integers(2, 16))


def check(ops: list[Op]) -> dict[str, Any]:
    return ListAppendChecker().check({}, ops)


@settings(max_examples=150, deadline=None)
@given(histories)
def test_serializable_histories_are_valid(ops: list[Op]) -> None:
    r = check(ops)
    assert r["anomaly-types"] == [], r["anomalies"]
    assert r["valid?"] in (True, "unknown")


def _append(ops: list[Op], process: int, type_: str, value: Any) -> None:
    ops.append(Op(type=type_, f="txn", value=value, process=process,
                  time=len(ops) * 1000, index=len(ops)))


def _concurrent(ops: list[Op], txns: list[tuple[list[Any], str]]) -> None:
    """Append overlapping txns on fresh processes, then their completions."""
    base = 10_000 + len(ops)
    for i, (mops, _) in enumerate(txns):
        _append(ops, base + i, INVOKE, [[f, k, None if f == "r" else v] for f, k, v in mops])
    for i, (mops, kind) in enumerate(txns):
        _append(ops, base + i, kind, mops)


def inject_g0(ops: list[Op]) -> str:
    _concurrent(ops, [([["append", "gx", 1], ["append", "gy", 1]], OK),
                      ([["append", "gx", 2], ["append", "gy", 2]], OK),
                      ([["r", "gx", [1, 2]], ["r", "gy", [2, 1]]], OK)])
    return "G0"


def inject_write_skew(ops: list[Op]) -> str:
    _concurrent(ops, [([["r", "sx", []], ["append", "sy", 1]], OK),
                      ([["r", "sy", []], ["append", "sx", 1]], OK),
                      ([["r", "sx", [1]], ["r", "sy", [1]]], OK)])
    return "G2-item"


def inject_aborted_read(ops: list[Op]) -> str:
    _concurrent(ops, [([["append", "ax", 1]], FAIL)])
    _concurrent(ops, [([["r", "ax", [1]]], OK)])
    return "G1a"


def inject_stale_read(ops: list[Op]) -> str | None:
    """Drop the last element of a read whose writer had completed before the
    reader began, and which another read also saw: an rw edge against a
    real-time (or data) path, so some cycle with an rw edge must appear."""
    nodes, _ = transactions(ops)
    writer = {(k, v): t for t in nodes for f, k, v in t.mops if f == "append"}
    seen_by: dict[tuple[Any, Any], set[int]] = {}
    for t in nodes:
        if t.type == OK:
            for f, k, v in t.mops:
                for x in v if f == "r" else ():
                    seen_by.setdefault((k, x), set()).add(t.id)
    for t in nodes:
        if t.type != OK or t.complete is None:
            continue
        appended: set[Any] = set()
        for i, (f, k, v) in enumerate(t.mops):
            if f == "append":
                appended.add(k)
                continue
            if not v or k in appended:
                continue
            w = writer.get((k, v[-1]))
            if (w is None or w is t or w.complete is None or w.type != OK
                    or w.complete.index > t.invoke.index
                    or not seen_by[(k, v[-1])] - {t.id}
                    or any(ff == "r" and kk == k for ff, kk, _ in t.mops[i + 1:])):
                continue
            value = [list(m) for m in t.mops]
            value[i] = ["r", k, v[:-1]]
            ops[t.complete.index] = dataclasses.replace(t.complete, value=value)
            return "rw-cycle"
    return None


@settings(max_examples=150, deadline=None)
@given(histories, st.sampled_from([inject_g0, inject_write_skew, inject_aborted_read,
                                   inject_stale_read]))
def test_an_injected_anomaly_is_found(ops: list[Op], inject: Any) -> None:
    expected = inject(ops)
    assume(expected is not None)
    r = check(ops)
    assert r["valid?"] is False
    if expected == "rw-cycle":
        assert any(t.startswith(CYCLES_WITH_RW) for t in r["anomaly-types"]), r["anomaly-types"]
    else:
        assert expected in r["anomaly-types"], r["anomaly-types"]
