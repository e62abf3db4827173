"""The set checker on crafted histories: one anomaly per test."""

from __future__ import annotations

from typing import Any

from checkers.core import UNKNOWN
from checkers.intset import parse_intset
from checkers.set import SetChecker
from pyharness.history import Op

MS = 1_000_000


class H:
    """Builds a history one op at a time, with index and 1 ms ticks."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def op(self, type: str, f: str, value: Any, process: int | str,
           error: Any = None) -> H:
        self.ops.append(Op(type, f, value, process, time=len(self.ops) * MS,
                           index=len(self.ops), error=error, node="n1"))
        return self

    def add(self, v: int, outcome: str = "ok", process: int = 0) -> H:
        return self.op("invoke", "add", v, process).op(outcome, "add", v, process)

    def read(self, seen: list[int] | None, outcome: str = "ok", process: int = 9) -> H:
        return self.op("invoke", "read", None, process).op(outcome, "read", seen, process)


def check(h: H) -> dict[str, Any]:
    return SetChecker().check({}, h.ops)


def test_name() -> None:
    assert SetChecker().name == "set"


def test_all_ok() -> None:
    h = H()
    for v in range(10):
        h.add(v)
    r = check(h.read(list(range(10))))
    assert r["valid?"] is True
    assert r["attempt-count"] == r["acknowledged-count"] == r["ok-count"] == 10
    assert r["lost-count"] == r["unexpected-count"] == r["recovered-count"] == 0
    assert r["ok"] == "#{0..9}"
    assert r["lost"] == "#{}"
    assert r["ok-frac"] == 1.0 and r["lost-frac"] == 0.0


def test_lost_add_is_invalid_and_located() -> None:
    h = H()
    for v in range(6):
        h.add(v)
    r = check(h.read([0, 1, 2, 4]))
    assert r["valid?"] is False
    assert parse_intset(r["lost"]) == {3, 5}
    assert r["lost-count"] == 2
    assert r["lost-frac"] == 2 / 6
    # Value 3 was invoked as the 7th event (index 6) and completed at index 7.
    three = next(d for d in r["lost-ops"] if d["value"] == 3)
    assert (three["invoke-index"], three["complete-index"]) == (6, 7)
    assert (three["invoke-time"], three["complete-time"]) == (6 * MS, 7 * MS)


def test_info_add_present_is_recovered_and_valid() -> None:
    h = H().add(0).add(1, "info", process=1).add(2, "info", process=2)
    r = check(h.read([0, 1]))
    assert r["valid?"] is True
    assert r["recovered"] == "#{1}"
    assert r["recovered-count"] == 1
    assert r["ok"] == "#{0 1}"
    assert r["acknowledged-count"] == 1


def test_unexpected_value_is_invalid() -> None:
    h = H().add(0).add(1)
    r = check(h.read([0, 1, 99]))
    assert r["valid?"] is False
    assert r["unexpected"] == "#{99}"
    assert r["lost-count"] == 0
    assert r["unexpected-frac"] == 0.5


def test_never_read_is_unknown() -> None:
    h = H().add(0).add(1).read(None, "fail").read(None, "info", process=8)
    r = check(h)
    assert r["valid?"] == UNKNOWN
    assert r["error"] == "never-read"


def test_failed_add_absent_is_fine() -> None:
    h = H().add(0).add(1, "fail")
    r = check(h.read([0]))
    assert r["valid?"] is True
    assert r["attempt-count"] == 2 and r["ok-count"] == 1
    assert r["lost-count"] == 0 and r["recovered-count"] == 0


def test_failed_add_present_is_flagged_but_not_invalid() -> None:
    r = check(H().add(0).add(1, "fail").read([0, 1]))
    assert r["valid?"] is True
    assert r["failed-but-present"] == "#{1}"


def test_latest_ok_read_wins() -> None:
    # An early read misses value 2; the last read sees everything.
    h = H().add(0).add(1).read([0, 1]).add(2).read([0, 1, 2], process=7)
    r = check(h.read(None, "fail", process=6))
    assert r["valid?"] is True
    assert r["final-read"]["index"] == 9  # the second read's completion


def test_add_without_completion_counts_as_attempted_only() -> None:
    h = H().add(0).op("invoke", "add", 1, 3)
    r = check(h.read([0], process=9))
    assert r["attempt-count"] == 2 and r["acknowledged-count"] == 1
    assert r["valid?"] is True
