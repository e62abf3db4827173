"""The list-append checker: one crafted history per anomaly, each caught,
named, and explained with the right transactions; valid histories pass."""

from __future__ import annotations

from typing import Any

import pytest

from checkers.list_append import ListAppendChecker, analyze, classify, tarjan
from pyharness.history import FAIL, INFO, INVOKE, OK, Op

Mop = list[Any]


class H:
    """A history builder: ``concurrent`` txns overlap (no real-time order),
    ``then`` runs one after everything before it has completed."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.t = 0

    def _op(self, type_: str, process: int, value: Any) -> Op:
        self.t += 1
        op = Op(type=type_, f="txn", value=value, process=process, time=self.t,
                index=len(self.ops))
        self.ops.append(op)
        return op

    def concurrent(self, *txns: tuple[int, list[Mop]] | tuple[int, list[Mop], str]) -> H:
        for t in txns:
            self._op(INVOKE, t[0], [[f, k, None if f == "r" else v] for f, k, v in t[1]])
        for t in txns:
            kind = t[2] if len(t) == 3 else OK  # type: ignore[misc]
            if kind != INFO:
                self._op(kind, t[0], t[1])
        return self

    def then(self, process: int, mops: list[Mop], kind: str = OK) -> H:
        return self.concurrent((process, mops, kind))


def check(h: H, model: str = "strict-serializable") -> dict[str, Any]:
    return ListAppendChecker(model).check({}, h.ops)


def cycle_indices(result: dict[str, Any], kind: str) -> set[int]:
    return {op["index"] for op in result["anomalies"][kind][0]["cycle"]}


def completion_index(h: H, process: int) -> int:
    return max(op.index for op in h.ops if op.process == process and op.type != INVOKE)


def test_valid_sequential_history() -> None:
    h = (H().then(0, [["append", "x", 1], ["r", "y", []]])
         .then(1, [["r", "x", [1]], ["append", "y", 1]])
         .then(2, [["r", "x", [1]], ["r", "y", [1]], ["append", "x", 2]])
         .then(0, [["r", "x", [1, 2]]]))
    r = check(h)
    assert r["valid?"] is True, r
    assert r["anomaly-types"] == []
    assert r["ok-count"] == 4


def test_no_ok_transactions_is_unknown() -> None:
    r = check(H().then(0, [["append", "x", 1]], INFO))
    assert r["valid?"] == "unknown"


def test_g0_write_cycle() -> None:
    h = H().concurrent((0, [["append", "x", 1], ["append", "y", 1]]),
                       (1, [["append", "x", 2], ["append", "y", 2]]),
                       (2, [["r", "x", [1, 2]], ["r", "y", [2, 1]]]))
    r = check(h)
    assert r["valid?"] is False
    assert "G0" in r["anomaly-types"]
    assert cycle_indices(r, "G0") == {completion_index(h, 0), completion_index(h, 1)}
    steps = r["anomalies"]["G0"][0]["steps"]
    assert {s["type"] for s in steps} == {"ww"}
    text = r["anomalies"]["G0"][0]["explanation"]
    assert "a contradiction!" in text and "appended 2 after" in text


def test_g1c_circular_information_flow() -> None:
    h = H().concurrent((0, [["append", "x", 1], ["r", "y", [1]]]),
                       (1, [["append", "y", 1], ["r", "x", [1]]]))
    r = check(h)
    assert r["anomaly-types"] == ["G1c"]
    assert cycle_indices(r, "G1c") == {completion_index(h, 0), completion_index(h, 1)}
    assert "observed" in r["anomalies"]["G1c"][0]["explanation"]
    assert r["valid?"] is False
    # Read committed forbids G1c too; read uncommitted does not.
    assert check(h, "read-committed")["valid?"] is False
    assert check(h, "read-uncommitted")["valid?"] is True


def test_g_single_read_skew() -> None:
    h = H().concurrent((0, [["r", "x", []], ["r", "y", [1]]]),
                       (1, [["append", "x", 1], ["append", "y", 1]]),
                       (2, [["r", "x", [1]]]))
    r = check(h)
    assert r["anomaly-types"] == ["G-single"]
    assert cycle_indices(r, "G-single") == {completion_index(h, 0), completion_index(h, 1)}
    kinds = sorted(s["type"] for s in r["anomalies"]["G-single"][0]["steps"])
    assert kinds == ["rw", "wr"]
    assert "did not observe" in r["anomalies"]["G-single"][0]["explanation"]
    assert check(h, "snapshot-isolation")["valid?"] is False


def test_g2_item_write_skew_is_allowed_by_snapshot_isolation() -> None:
    h = H().concurrent((0, [["r", "x", []], ["append", "y", 1]]),
                       (1, [["r", "y", []], ["append", "x", 1]]),
                       (2, [["r", "x", [1]], ["r", "y", [1]]]))
    r = check(h)
    assert r["anomaly-types"] == ["G2-item"]
    assert cycle_indices(r, "G2-item") == {completion_index(h, 0), completion_index(h, 1)}
    assert r["valid?"] is False
    assert check(h, "serializable")["valid?"] is False
    assert check(h, "snapshot-isolation")["valid?"] is True


def test_g_nonadjacent() -> None:
    h = H().concurrent((0, [["r", "a", []], ["r", "d", [1]]]),
                       (1, [["append", "a", 1], ["append", "b", 1]]),
                       (2, [["r", "b", [1]], ["r", "c", []]]),
                       (3, [["append", "c", 1], ["append", "d", 1]]),
                       (4, [["r", "a", [1]], ["r", "c", [1]]]))
    r = check(h)
    assert r["anomaly-types"] == ["G-nonadjacent"], r["anomaly-types"]
    assert cycle_indices(r, "G-nonadjacent") == {completion_index(h, p) for p in range(4)}
    assert [s["type"] for s in r["anomalies"]["G-nonadjacent"][0]["steps"]].count("rw") == 2
    assert check(h, "snapshot-isolation")["valid?"] is False
    assert check(h, "repeatable-read")["valid?"] is True


def test_g_single_process_and_realtime() -> None:
    # The same process appends, then fails to see its own append.
    h = H().then(0, [["append", "x", 1]]).then(0, [["r", "x", []]]).then(1, [["r", "x", [1]]])
    r = check(h)
    assert "G-single-process" in r["anomaly-types"]
    assert r["valid?"] is False
    assert check(h, "serializable")["valid?"] is True
    assert check(h, "strong-session-serializable")["valid?"] is False
    # Another process, invoked after the append completed: a stale read.
    h = H().then(0, [["append", "x", 1]]).then(1, [["r", "x", []]]).then(2, [["r", "x", [1]]])
    r = check(h)
    assert r["anomaly-types"] == ["G-single-realtime"]
    assert r["valid?"] is False
    steps = r["anomalies"]["G-single-realtime"][0]["steps"]
    assert sorted(s["type"] for s in steps) == ["realtime", "rw"]
    assert "before the invocation" in r["anomalies"]["G-single-realtime"][0]["explanation"]
    assert check(h, "serializable")["valid?"] is True


def test_g1a_aborted_read() -> None:
    h = H().then(0, [["append", "x", 1]], FAIL).then(1, [["r", "x", [1]]])
    r = check(h)
    assert r["anomaly-types"] == ["G1a"]
    g = r["anomalies"]["G1a"][0]
    assert g["element"] == 1 and g["writer"]["type"] == "fail"
    assert g["op"]["index"] == completion_index(h, 1)


def test_g1b_intermediate_read() -> None:
    h = H().then(0, [["append", "x", 1], ["append", "x", 2]]).then(1, [["r", "x", [1]]])
    r = check(h)
    assert "G1b" in r["anomaly-types"]
    assert r["anomalies"]["G1b"][0]["writer"]["index"] == completion_index(h, 0)


def test_internal_inconsistency() -> None:
    h = H().then(0, [["append", "x", 1], ["r", "x", []]])
    r = check(h)
    assert "internal" in r["anomaly-types"]
    assert r["valid?"] is False
    # Reading your own append is fine.
    assert check(H().then(0, [["append", "x", 1], ["r", "x", [1]]]))["valid?"] is True


def test_duplicate_elements() -> None:
    h = H().then(0, [["append", "x", 1]]).then(1, [["r", "x", [1, 1]]])
    r = check(h)
    assert "duplicate-elements" in r["anomaly-types"]
    assert r["anomalies"]["duplicate-elements"][0]["duplicates"] == [1]


def test_incompatible_order() -> None:
    h = H().concurrent((0, [["append", "x", 1]]), (1, [["append", "x", 2]]),
                       (2, [["append", "x", 3]]))
    h.then(3, [["r", "x", [1, 2]]]).then(4, [["r", "x", [1, 3]]])
    r = check(h)
    assert "incompatible-order" in r["anomaly-types"]
    assert r["anomalies"]["incompatible-order"][0]["key"] == "x"


def test_info_appends_may_be_read() -> None:
    h = H().then(0, [["append", "x", 1]], INFO).then(1, [["r", "x", [1]]])
    assert check(h)["valid?"] is True


def test_drawing_written(tmp_path: Any) -> None:
    h = H().concurrent((0, [["r", "x", []], ["append", "y", 1]]),
                       (1, [["r", "y", []], ["append", "x", 1]]),
                       (2, [["r", "x", [1]], ["r", "y", [1]]]))
    r = ListAppendChecker(out_dir=tmp_path).check({}, h.ops)
    page = (tmp_path / "list-append.html").read_text()
    assert r["drawing"].endswith("list-append.html")
    assert "<svg" in page and "G2-item" in page and "rw x" in page


def test_classify_names() -> None:
    from checkers.list_append import PROCESS, REALTIME, RW, WR, WW
    assert classify([(0, 1, WW), (1, 0, WW)]) == "G0"
    assert classify([(0, 1, WW), (1, 0, WR)]) == "G1c"
    assert classify([(0, 1, RW), (1, 0, WR)]) == "G-single"
    assert classify([(0, 1, RW), (1, 2, RW), (2, 0, WR)]) == "G2-item"
    assert classify([(0, 1, RW), (1, 2, WR), (2, 3, RW), (3, 0, WW)]) == "G-nonadjacent"
    assert classify([(0, 1, RW), (1, 0, REALTIME)]) == "G-single-realtime"
    assert classify([(0, 1, WW), (1, 0, PROCESS)]) == "G0-process"


def test_tarjan_components() -> None:
    succ = [[1], [2], [0, 3], [4], [3], []]
    comps = sorted(sorted(c) for c in tarjan(6, succ))
    assert comps == [[0, 1, 2], [3, 4]]


def test_realtime_edges_are_reduced_but_complete() -> None:
    # A chain of sequential txns: each has an edge from its predecessor only.
    h = H()
    for i in range(5):
        h.then(i, [["append", "x", i]])
    a = analyze(h.ops)
    for i in range(4):
        assert set(a.adj[i]) == {i + 1}


def test_malformed_micro_op_is_an_error() -> None:
    h = H().then(0, [["write", "x", 1]])
    with pytest.raises(ValueError, match="micro-op"):
        analyze(h.ops)


def test_unobserved_appends_follow_every_observed_element() -> None:
    # The shape of Elle's paper example: T4's append of 3 to key 20 is never
    # read, yet it must come after [1 2 4], which T3 read and T3 wrote the 4 of.
    h = H().then(0, [["append", 10, 1], ["append", 10, 3], ["append", 11, 2],
                     ["append", 20, 1], ["append", 20, 2]])
    h.concurrent((1, [["append", 11, 8], ["r", 10, [1, 3]]]),
                 (2, [["append", 20, 4], ["r", 11, [2, 8]], ["r", 20, [1, 2, 4]]]),
                 (3, [["r", 10, [1, 3]], ["r", 11, [2]], ["append", 20, 3]]))
    r = check(h)
    assert "G-single" in r["anomaly-types"], r["anomaly-types"]
    g = r["anomalies"]["G-single"][0]
    assert {op["index"] for op in g["cycle"]} == {completion_index(h, p) for p in (1, 2, 3)}
    assert "appended 3 after" in g["explanation"]


def test_lost_update_is_caught() -> None:
    # Both read [1] and append; the final read shows only one of them.
    h = H().then(0, [["append", "x", 1]])
    h.concurrent((1, [["r", "x", [1]], ["append", "x", 2]]),
                 (2, [["r", "x", [1]], ["append", "x", 3]]))
    h.then(3, [["r", "x", [1, 3]]])
    r = check(h)
    assert r["valid?"] is False
    assert "G-single" in r["anomaly-types"], r["anomaly-types"]
