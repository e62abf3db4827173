"""The watch workload and checker: each guarantee on crafted histories, and
etcd-io/etcd#18089 caught on the real etcd installed here (3.4.23)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from checkers.core import UNKNOWN
from checkers.watch import WatchChecker
from pyharness.gen import generator as g
from pyharness.gen import interpreter
from pyharness.history import INFO, INVOKE, OK, HistoryWriter, Op, read_jsonl
from pyharness.workloads import watch as watch_workload
from pyharness.workloads.watch import WatchClient, WatchOps
from tests.conftest import LocalEtcd


class H:
    """A history built op by op: each call adds an invoke and its completion."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def _add(self, f: str, value: Any, type: str, result: Any = None, node: str = "n1",
             process: int = 0, **extra: Any) -> None:
        i = len(self.ops)
        self.ops.append(Op(type=INVOKE, f=f, value=value, process=process, time=i, index=i))
        done = Op(type=type, f=f, value=value if result is None else result, process=process,
                  time=i + 1, index=i + 1, node=node)
        done.extra.update(extra)
        self.ops.append(done)

    def put(self, k: int, v: int, rev: int, type: str = OK) -> H:
        self._add("put", [k, v], type, revision=rev)
        return self

    def delete(self, k: int, rev: int) -> H:
        self._add("delete", [k, None], OK, revision=rev, deleted=1)
        return self

    def watch(self, start: int, events: list[list[Any]], created: int = 0,
              compacted: int | None = None) -> H:
        self._add("watch", {"from": start}, OK, {"from": start, "created": created,
                                                  "compacted": compacted, "events": events},
                  process=9)
        return self

    def check(self) -> dict[str, Any]:
        return WatchChecker().check({}, self.ops)


def writes() -> H:
    return H().put(0, 5, rev=2).delete(0, rev=3).put(0, 6, rev=4)


def test_a_complete_watch_is_valid() -> None:
    r = writes().watch(2, [[2, "PUT", 0, 5], [3, "DELETE", 0, None], [4, "PUT", 0, 6]]).check()
    assert r["valid?"] is True and r["judged"] == 1 and r["events"] == 3


def test_a_missing_delete_is_caught_and_named() -> None:
    """etcd-io/etcd#18089's shape: from the delete's revision, the delete
    never arrives, the later put does."""
    r = writes().watch(3, [[4, "PUT", 0, 6]]).check()
    assert r["valid?"] is False and r["violations-by-kind"] == {"missing": 1}
    [v] = r["violations"]
    assert v["event"] == [3, "DELETE", 0, None] and v["from"] == 3 and v["member"] == "n1"
    assert v["last-delivered"] == 4


def test_events_after_the_last_delivered_are_not_judged() -> None:
    assert writes().watch(2, [[2, "PUT", 0, 5]]).check()["valid?"] is True


@pytest.mark.parametrize(("events", "kind"), [
    ([[2, "PUT", 0, 5], [4, "PUT", 0, 6], [3, "DELETE", 0, None]], "out-of-order"),
    ([[2, "PUT", 0, 5], [2, "PUT", 0, 5], [3, "DELETE", 0, None]], "duplicate"),
    ([[2, "PUT", 0, 7], [3, "DELETE", 0, None]], "wrong-event"),
    ([[2, "PUT", 0, 5], [3, "DELETE", 0, None], [5, "PUT", 1, 9]], "phantom"),
])
def test_each_broken_guarantee_is_caught(events: list[list[Any]], kind: str) -> None:
    r = writes().watch(2, events).check()
    assert r["valid?"] is False and kind in r["violations-by-kind"]


def test_an_event_before_the_start_is_caught() -> None:
    r = writes().watch(3, [[2, "PUT", 0, 5], [3, "DELETE", 0, None]]).check()
    assert r["violations-by-kind"].get("before-start") == 1


def test_an_event_of_an_unknown_write_may_appear() -> None:
    h = H().put(0, 5, rev=2).put(1, 8, rev=0, type=INFO).put(0, 6, rev=4)
    r = h.watch(2, [[2, "PUT", 0, 5], [3, "PUT", 1, 8], [4, "PUT", 0, 6]]).check()
    assert r["valid?"] is True


def test_compacted_is_an_answer_and_nothing_judged_is_unknown() -> None:
    r = writes().watch(1, [], compacted=3).check()
    assert r["valid?"] == UNKNOWN and r["compacted"] == 1 and "reason" in r
    assert H().check()["valid?"] == UNKNOWN


def test_a_watch_from_now_starts_after_its_created_revision() -> None:
    r = writes().watch(0, [[4, "PUT", 0, 6]], created=3).check()
    assert r["valid?"] is True


# --- against the real etcd installed here -----------------------------------

def _run(tmp_path: Path, local_etcd: LocalEtcd, gen: g.Generator,
         concurrency: int) -> list[Op]:
    test = {"nodes": {"n1": {"address": local_etcd.address, "client_port": local_etcd.port}},
            "op_timeout": 5.0, "key_prefix": f"/test-watch/{random.getrandbits(32):x}",
            "options": {"watch_window": 0.5}}
    w = HistoryWriter(tmp_path / "history.jsonl")
    interpreter.run(test, gen, WatchClient(), None, ["n1"], concurrency, w,
                    rng=random.Random(3))
    w.close()
    return read_jsonl(tmp_path / "history.jsonl")


def test_18089_a_watch_from_a_compacted_delete_is_caught_on_3_4_23(
        local_etcd: LocalEtcd, tmp_path: Path) -> None:
    """put, delete, put, compact at the delete, watch from it: etcd 3.4.23
    (and 3.5 before 3.5.16) never sends the delete."""
    history = _run(tmp_path, local_etcd, _sequence(), 1)
    assert [o.type for o in history if o.type != INVOKE] == [OK] * 5
    r = WatchChecker().check({}, history)
    assert r["valid?"] is False, r
    [v] = r["violations"]
    assert v["kind"] == "missing" and v["event"][1] == "DELETE"


class _Sequence(g.Generator):
    """put, delete, put, then compact at the delete and watch from it: the
    revisions come from the completions, as the workload's generator does."""

    def __init__(self, step: int = 0, delete_rev: int = 0) -> None:
        self.step, self.delete_rev = step, delete_rev

    def op(self, ctx: g.Context) -> g.OpResult:
        plan = [{"f": "put", "value": [0, 1]}, {"f": "delete", "value": [0, None]},
                {"f": "put", "value": [0, 2]}, {"f": "compact", "value": self.delete_rev},
                {"f": "watch", "value": {"from": self.delete_rev}}]
        if self.step >= len(plan):
            return None
        if len(ctx.free_threads) < len(ctx.workers):
            return g.PENDING  # one op at a time, in order
        op = g.fill(plan[self.step], ctx)
        return g.PENDING if op is None else (op, _Sequence(self.step + 1, self.delete_rev))

    def update(self, ctx: g.Context, event: Op) -> g.Generator:
        if event.f == "delete" and event.type == OK:
            return _Sequence(self.step, int(event.extra["revision"]))
        return self


def _sequence() -> g.Generator:
    return g.clients(_Sequence())


def test_the_workload_runs_and_its_watches_are_judged(local_etcd: LocalEtcd,
                                                      tmp_path: Path) -> None:
    wl = watch_workload.workload({"compact_interval": 0.5})
    assert isinstance(wl.generator, WatchOps)
    history = _run(tmp_path, local_etcd, g.clients(g.time_limit(4, wl.generator)), 6)
    fs = {o.f for o in history if o.type == OK}
    assert {"put", "delete", "compact", "watch"} <= fs
    r = WatchChecker().check({}, history)
    assert r["judged"] > 0 and r["acknowledged-writes"] > 0
    # 3.4.23 has #18089; any violation found must be that shape and no other.
    assert set(r["violations-by-kind"]) <= {"missing"}
    for v in r["violations"]:
        assert v["event"][1] == "DELETE" and v["from"] == v["event"][0]


def test_violations_read_as_one_line_each() -> None:
    from checkers.watch import describe, summary
    from pyharness.report.progress import failure_notes

    r = writes().watch(3, [[4, "PUT", 0, 6]]).check()
    line = describe(r["violations"][0])
    assert line == "watch op 7 on n1 from 3: missing DELETE of key 0 at 3 (it delivered up to 4)"
    assert summary(r).startswith("1 violations (missing 1); first: watch op 7")
    assert failure_notes({"watch": r}) == [f"watch: {line}"]
