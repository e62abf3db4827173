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

    def compact(self, rev: int) -> H:
        self._add("compact", rev, OK)
        return self

    def txn(self, kvs: list[list[int]], rev: int, type: str = OK) -> H:
        self._add("txn", kvs, type, revision=rev)
        return self

    def watch(self, start: int, events: list[list[Any]], created: int = 0,
              compacted: int | None = None, **more: Any) -> H:
        self._add("watch", {"from": start}, OK, {"from": start, "created": created,
                                                  "compacted": compacted, "events": events,
                                                  **more},
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


# Events with their metadata: [rev, type, key, value, create_revision,
# version, prev value], as the workload records them with prev_kv.
META = [[2, "PUT", 0, 5, 2, 1, None], [3, "DELETE", 0, None, 0, 0, 5],
        [4, "PUT", 0, 6, 4, 1, None]]


def test_is_create_and_prev_kv_that_match_the_writes_are_valid() -> None:
    r = writes().watch(2, META, prev_kv=True).check()
    assert r["valid?"] is True and r["meta-judged"] == 3 and r["meta-unjudged"] == 0


@pytest.mark.parametrize(("i", "event", "kind"), [
    # The put after the delete claims the key lived on from revision 2.
    (2, [4, "PUT", 0, 6, 2, 2, None], "wrong-is-create"),
    # A first put that says it is not a create.
    (0, [2, "PUT", 0, 5, 1, 2, None], "wrong-is-create"),
    # The delete's prev_kv is not the value it deleted.
    (1, [3, "DELETE", 0, None, 0, 0, 7], "wrong-prev-kv"),
    # A create with a previous value.
    (2, [4, "PUT", 0, 6, 4, 1, 5], "wrong-prev-kv"),
])
def test_a_wrong_is_create_or_prev_kv_is_caught(i: int, event: list[Any], kind: str) -> None:
    events = [*META[:i], event, *META[i + 1:]]
    r = writes().watch(2, events, prev_kv=True).check()
    assert r["valid?"] is False and r["violations-by-kind"] == {kind: 1}, r


def test_no_prev_kv_is_etcds_answer_once_the_previous_revision_is_compacted() -> None:
    """etcd's API: "If the previous KV is already compacted, nothing will be
    returned". A watch from the compacted delete gets it without prev_kv."""
    h = writes().compact(3).watch(3, [[3, "DELETE", 0, None, 0, 0, None],
                                      [4, "PUT", 0, 6, 4, 1, None]], prev_kv=True)
    r = h.check()
    assert r["valid?"] is True and r["prev-kv-compacted"] == 1  # said, not judged
    # Not compacted: the same answer is wrong.
    h = writes().watch(3, [[3, "DELETE", 0, None, 0, 0, None], [4, "PUT", 0, 6, 4, 1, None]],
                       prev_kv=True)
    assert h.check()["violations-by-kind"] == {"wrong-prev-kv": 1}


def test_a_state_an_unknown_write_may_have_changed_is_not_judged() -> None:
    """Revision 3 is an unknown write that no watch delivered: the key's
    state before 4 is not known, so 4's prev_kv is not judged."""
    h = H().put(0, 5, rev=2).put(0, 8, rev=0, type=INFO).put(0, 6, rev=4)
    r = h.watch(4, [[4, "PUT", 0, 6, 2, 3, 8]], prev_kv=True).check()
    assert r["valid?"] is True and r["meta-unjudged"] == 1 and r["meta-judged"] == 0
    # Once a watch delivered revision 3, the state is known again.
    r = h.watch(2, [[2, "PUT", 0, 5, 2, 1, None], [3, "PUT", 0, 8, 2, 2, 5],
                    [4, "PUT", 0, 6, 2, 3, 8]], prev_kv=True).check()
    assert r["valid?"] is True and r["meta-unjudged"] == 0


def test_a_transactions_events_come_together_or_are_caught() -> None:
    h = H().put(0, 5, rev=2).txn([[0, 6], [1, 7]], rev=3)
    both = [[2, "PUT", 0, 5], [3, "PUT", 0, 6], [3, "PUT", 1, 7]]
    assert h.watch(2, both, splits=[0, 1]).check()["valid?"] is True
    r = H().put(0, 5, rev=2).txn([[0, 6], [1, 7]], rev=3).watch(2, both, splits=[0, 2]).check()
    assert r["violations-by-kind"] == {"split-revision": 1}
    r = H().put(0, 5, rev=2).txn([[0, 6], [1, 7]], rev=3).watch(2, both[:2]).check()
    assert r["violations-by-kind"] == {"missing": 1} and r["violations"][0]["event"][2] == 1


@pytest.mark.parametrize(("progress", "valid"), [
    ([[3, 4]], True),    # after all three events, at 4
    ([[1, 2]], True),    # after the first, at its revision
    ([[1, 3]], False),   # at 3, yet the delete at 3 comes after it
    ([[0, 2]], False),   # at 2, before the put at 2 was delivered
])
def test_a_progress_notification_never_runs_ahead_of_events(progress: list[list[int]],
                                                            valid: bool) -> None:
    r = writes().watch(2, META, prev_kv=True, progress=progress).check()
    assert r["valid?"] is valid, r
    assert r["progress-notifications"] == 1
    if not valid:
        assert r["violations-by-kind"] == {"bookmark-ahead": 1}


def test_a_progress_notification_before_an_event_it_covers_is_caught_even_if_it_never_came(
        ) -> None:
    """At 3 after only the put at 2: the delete at 3 was acknowledged and
    never delivered before the notification."""
    r = writes().watch(2, META[:1], prev_kv=True, progress=[[1, 3]]).check()
    assert r["violations-by-kind"] == {"bookmark-ahead": 1}


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
    assert {"put", "delete", "txn", "compact", "watch"} <= fs
    r = WatchChecker().check({}, history)
    assert r["judged"] > 0 and r["acknowledged-writes"] > 0
    # Every event came with its metadata, and most were judged on it.
    assert r["meta-judged"] > r["meta-unjudged"]
    # 3.4.23 has #18089; any violation found must be that shape and no other.
    assert set(r["violations-by-kind"]) <= {"missing"}
    for v in r["violations"]:
        assert v["event"][1] == "DELETE" and v["from"] == v["event"][0]


def test_a_quiet_watch_gets_progress_notifications_with_their_place(
        local_etcd: LocalEtcd) -> None:
    """etcd sends a progress notification (every 500 ms here) only to a
    watch that got no event since the last: a quiet prefix, then one put."""
    from pyharness.etcd import v3 as etcd_v3

    conn = etcd_v3.connect(local_etcd.address, local_etcd.port, timeout=5)
    prefix = f"/test-progress/{random.getrandbits(32):x}/"
    rev = conn.put(prefix + "a", "1")
    a = conn.watch_events(prefix, rev, 2.5, prev_kv=True, progress_notify=True)
    conn.close()
    assert [e.revision for e in a.events] == [rev] and a.splits == [0]
    assert a.progress and all(n == 1 and r >= rev for n, r in a.progress), a.progress


def test_violations_read_as_one_line_each() -> None:
    from checkers.watch import describe, summary
    from pyharness.report.progress import failure_notes

    r = writes().watch(3, [[4, "PUT", 0, 6]]).check()
    line = describe(r["violations"][0])
    assert line == "watch op 7 on n1 from 3: missing DELETE of key 0 at 3 (it delivered up to 4)"
    assert summary(r).startswith("1 violations (missing 1); first: watch op 7")
    assert failure_notes({"watch": r}) == [f"watch: {line}"]


def test_the_watches_are_drawn_beside_the_run(tmp_path: Path) -> None:
    from checkers.watch_plot import _thin
    from checkers.watch_times import arrivals_s

    h = writes().watch(2, [[2, "PUT", 0, 5], [4, "PUT", 0, 6], [3, "DELETE", 0, None]],
                       splits=[0, 1], **{"arrived-ms": [10, 500]})
    r = WatchChecker().check({"store_dir": str(tmp_path), "name": "t"}, h.ops)
    assert r["valid?"] is False and r["files"] == [str(tmp_path / "watch.png")]
    assert (tmp_path / "watch.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Events at their response's arrival; a drop is kept however many points.
    inv = Op(type=INVOKE, f="watch", value={}, process=9, time=10**9)
    comp = Op(type=OK, f="watch", process=9, time=2 * 10**9,
              value={"splits": [0, 1], "arrived-ms": [10, 500]})
    assert arrivals_s(inv, comp, 3) == [1.01, 1.5, 1.5]
    revs = [*range(1000), 5, *range(6, 900)]
    keep = _thin(revs)
    assert len(keep) < 500 and {999, 1000} <= set(keep)


def test_a_filtered_watch_is_judged_on_what_it_asked_for() -> None:
    deletes_only = [[3, "DELETE", 0, None]]
    r = writes().watch(2, deletes_only, filters=["NOPUT"]).check()
    assert r["valid?"] is True  # the puts at 2 and 4 were left out, as asked
    r = writes().watch(2, [[2, "PUT", 0, 5], [3, "DELETE", 0, None]],
                       filters=["NOPUT"]).check()
    assert r["violations-by-kind"] == {"filtered-event": 1}
    # A PUT it should have had is still missing; the DELETE at 3 is not.
    r = writes().watch(2, [[4, "PUT", 0, 6]], filters=["NODELETE"]).check()
    assert r["valid?"] is False and r["violations-by-kind"] == {"missing": 1}
    assert r["violations"][0]["event"] == [2, "PUT", 0, 5]
    r = writes().watch(2, [[2, "PUT", 0, 5], [4, "PUT", 0, 6]], filters=["NODELETE"]).check()
    assert r["valid?"] is True


def test_etcd_leaves_out_what_the_filter_names(local_etcd: LocalEtcd) -> None:
    from pyharness.etcd import v3 as etcd_v3

    conn = etcd_v3.connect(local_etcd.address, local_etcd.port, timeout=5)
    prefix = f"/test-filter/{random.getrandbits(32):x}/"
    rev = conn.put(prefix + "a", "1")
    _, deleted_at = conn.delete(prefix + "a")
    a = conn.watch_events(prefix, rev, 0.5, filters=["NOPUT"])
    b = conn.watch_events(prefix, rev, 0.5, filters=["NODELETE"])
    conn.close()
    assert [(e.revision, e.type) for e in a.events] == [(deleted_at, "DELETE")]
    assert [(e.revision, e.type) for e in b.events] == [(rev, "PUT")]


def test_a_violation_is_timed_when_it_showed_not_when_the_watch_ended() -> None:
    """The second response, 0.5 s after the watch began, went back in time;
    a missing delete shows when the first later revision arrived."""
    def ending_at_1s(h: H) -> H:
        h.ops[-1].time = 10**9  # the watch's completion
        return h

    r = ending_at_1s(writes().watch(
        2, [[2, "PUT", 0, 5], [4, "PUT", 0, 6], [3, "DELETE", 0, None]],
        splits=[0, 2], **{"arrived-ms": [100, 500]})).check()
    [v] = [v for v in r["violations"] if v["kind"] == "out-of-order"]
    assert v["time-s"] == 0.5
    r = ending_at_1s(writes().watch(3, [[4, "PUT", 0, 6]], splits=[0],
                                    **{"arrived-ms": [250]})).check()
    assert [(v["kind"], v["time-s"]) for v in r["violations"]] == [("missing", 0.25)]
    # Without arrivals, the watch's end (an old history).
    r = writes().watch(3, [[4, "PUT", 0, 6]]).check()
    assert r["violations"][0]["time-s"] == round(r["violations"][0]["watch"] / 1e9, 3)
