"""The varstore checker and the linearizability search, on crafted histories.

Each history is small enough to judge by hand; each test plants exactly one
kind of violation (or none) and checks that the checker names it.
"""

from __future__ import annotations

from typing import Any

from checkers.varstore import VarStoreChecker
from pyharness.history import FAIL, INFO, INVOKE, OK, Op
from pyharness.varstore.linearize import linearize

DECLARES = [("declare", "s", "single"), ("declare", "g", "gset"),
            ("declare", "c", "gcounter"), ("declare", "m", "max")]


class H:
    """Builds a history; each op gets the next index and time."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        for f, name, t in DECLARES:
            self.call(0, f, [name, t])

    def add(self, process: int, type: str, f: str, value: Any,
            error: Any = None, **extra: Any) -> H:
        n = len(self.ops)
        self.ops.append(Op(type=type, f=f, value=value, process=process, time=n, index=n,
                           error=error, extra=dict(extra)))
        return self

    def call(self, process: int, f: str, value: Any, result: str = OK,
             out: Any = None, error: Any = None, **extra: Any) -> H:
        """An invocation immediately followed by its completion."""
        self.add(process, INVOKE, f, value)
        return self.add(process, result, f, value if out is None else out, error, **extra)


def check(h: H) -> dict[str, Any]:
    return VarStoreChecker().check({}, h.ops)


def test_a_correct_history_is_valid_and_linearizable() -> None:
    h = (H().call(1, "bind", ["g", [1]], state=[1])
         .call(2, "bind", ["g", [2]], state=[1, 2])
         .call(1, "read", ["g", [2]], out=["g", [1, 2]])
         .call(1, "bind", ["s", 7], state=7)
         .call(2, "bind", ["s", 8], FAIL, error="rebind")
         .call(2, "read", ["s", None], out=["s", 7])
         .call(3, "bind", ["c", {"r0": 2}], state={"r0": 2})
         .call(3, "bind", ["c", {"r1": 1}], state={"r0": 2, "r1": 1})
         .call(3, "read", ["c", None], out=["c", {"r0": 2, "r1": 1}])
         .call(1, "bind", ["m", 4], state=4)
         .call(1, "read", ["m", None], out=["m", 4]))
    r = check(h)
    assert r["valid?"] is True, r
    assert r["acknowledged-bind-count"] == 6
    assert linearize(h.ops) is not None


def test_two_acknowledged_values_of_a_single_assignment_variable_are_a_rebind() -> None:
    h = (H().call(1, "bind", ["s", 1], state=1).call(2, "bind", ["s", 2], state=2)
         .call(1, "read", ["s", None], out=["s", 2]))
    r = check(h)
    assert r["valid?"] is False
    assert r["rebinds-count"] == 1 and r["rebinds"][0]["values"] == [1, 2]
    assert linearize(h.ops) is None


def test_a_lost_lattice_bind_is_reported_as_lost() -> None:
    h = (H().call(1, "bind", ["g", [1]], state=[1]).call(2, "bind", ["g", [2]], state=[2])
         .call(0, "read", ["g", None], out=["g", [2]]))
    r = check(h)
    assert r["valid?"] is False
    assert r["lost-count"] == 1 and r["lost"][0]["value"] == [1]
    assert r["lost"][0]["process"] == 1


def test_a_read_must_be_a_join_of_bound_values() -> None:
    # 3 was never bound: out of thin air.
    h = H().call(1, "bind", ["m", 2], state=2).call(1, "read", ["m", None], out=["m", 3])
    r = check(h)
    assert r["unexpected-reads-count"] == 1 and r["unexpected-reads"][0]["state"] == 3
    # {"r0": 1} is below the bound {"r0": 2} but is no join of bound values.
    h = (H().call(1, "bind", ["c", {"r0": 2}], state={"r0": 2})
         .call(2, "read", ["c", None], out=["c", {"r0": 1}]))
    assert check(h)["unexpected-reads-count"] == 1
    # A join of two binds is fine, even if no single bind left that state.
    h = (H().call(1, "bind", ["c", {"r0": 2}]).call(2, "bind", ["c", {"r1": 1}])
         .call(3, "read", ["c", None], out=["c", {"r0": 2, "r1": 1}]))
    assert check(h)["valid?"] is True


def test_reads_may_see_binds_of_unknown_outcome_but_not_failed_or_future_ones() -> None:
    h = H().call(1, "bind", ["g", [5]], INFO, error=["timeout"]).call(
        2, "read", ["g", None], out=["g", [5]])
    assert check(h)["valid?"] is True
    h = H().call(1, "bind", ["g", [5]], FAIL, error=["connect-failed"]).call(
        2, "read", ["g", None], out=["g", [5]])
    assert check(h)["unexpected-reads-count"] == 1
    # A read that completed before the bind was even invoked cannot see it.
    h = H().call(2, "read", ["s", None], out=["s", 1]).call(1, "bind", ["s", 1], state=1)
    r = check(h)
    assert r["unexpected-reads-count"] == 1 and r["unexpected-reads"][0]["state"] == 1


def test_a_bind_concurrent_with_a_read_may_be_seen() -> None:
    h = (H().add(1, INVOKE, "bind", ["s", 3])
         .add(2, INVOKE, "read", ["s", None])
         .add(2, OK, "read", ["s", 3])
         .add(1, OK, "bind", ["s", 3], state=3))
    assert check(h)["valid?"] is True
    assert linearize(h.ops) is not None


def test_one_process_must_never_see_a_variable_go_backwards() -> None:
    h = (H().call(1, "bind", ["g", [1]], state=[1]).call(1, "bind", ["g", [2]], state=[1, 2])
         .call(2, "read", ["g", None], out=["g", [1, 2]])
         .call(2, "read", ["g", None], out=["g", [1]])
         .call(0, "read", ["g", None], out=["g", [1, 2]]))
    r = check(h)
    assert r["nonmonotonic-count"] == 1
    assert r["nonmonotonic"][0] == {"variable": "g", "process": 2, "before": [1, 2],
                                    "after": [1], "index": r["nonmonotonic"][0]["index"]}
    assert r["lost-count"] == 0  # the final read has both
    # Another process may lag behind: only one process's view must not go back.
    h = (H().call(1, "bind", ["m", 5], state=5).call(1, "read", ["m", None], out=["m", 5])
         .call(2, "read", ["m", None], out=["m", 0]).call(0, "read", ["m", None], out=["m", 5]))
    assert check(h)["nonmonotonic-count"] == 0


def test_a_threshold_read_must_not_return_before_its_threshold() -> None:
    h = (H().call(1, "bind", ["m", 2], state=2)
         .call(2, "read", ["m", 3], out=["m", 2]))
    r = check(h)
    assert r["valid?"] is False
    assert r["early-reads-count"] == 1 and r["early-reads"][0]["threshold"] == 3
    # A single-assignment read returns only once bound.
    h = H().call(2, "read", ["s", None], out=["s", None])
    assert check(h)["early-reads-count"] == 1
    assert linearize(h.ops) is None


def test_acknowledged_binds_with_no_read_are_unknown() -> None:
    h = H().call(1, "bind", ["g", [1]], state=[1])
    r = check(h)
    assert r["valid?"] == "unknown" and r["never-read"] == ["g"]


def test_linearize_tries_both_outcomes_of_an_info_bind() -> None:
    took = H().call(1, "bind", ["m", 9], INFO, error=["timeout"]).call(
        2, "read", ["m", None], out=["m", 9])
    assert linearize(took.ops) is not None
    did_not = H().call(1, "bind", ["m", 9], INFO, error=["timeout"]).call(
        2, "read", ["m", None], out=["m", 0])
    assert linearize(did_not.ops) is not None


def test_linearize_respects_real_time() -> None:
    # The read began after the bind was acknowledged, so it must see it.
    h = H().call(1, "bind", ["g", [1]], state=[1]).call(2, "read", ["g", None], out=["g", []])
    assert linearize(h.ops) is None
    assert check(h)["valid?"] is False  # ... and the checker: nothing read it last


def test_linearize_rejects_a_bind_that_reports_a_state_no_order_gives() -> None:
    # Two concurrent adds both claim to have left only their own element:
    # one of them must have overwritten the other (a lost update).
    h = (H().add(1, INVOKE, "bind", ["g", [1]]).add(2, INVOKE, "bind", ["g", [2]])
         .add(1, OK, "bind", ["g", [1]], state=[1]).add(2, OK, "bind", ["g", [2]], state=[2]))
    assert linearize(h.ops) is None
