"""The watch workload: writers change a few keys while watchers, on every
member, watch them; every event received goes into the history.

Kubernetes lives on etcd's watch, and many of etcd's recent bugs are watch
bugs. The workload gives the watch checker (:mod:`checkers.watch`) what it
needs to judge etcd's documented guarantees: the revision of every
acknowledged write, and everything each watch delivered.

Client threads split into watchers (every third thread, so each member gets
some) and writers. Ops, with their values:

- ``put [k v]`` / ``delete [k nil]`` on keys ``0..keys-1``: ok records the
  store revision of the write in ``revision``;
- ``txn [[k1 v1] [k2 v2]]``: puts two keys in one transaction, so one
  revision has two events (what the checker's *atomic* judges);
- ``compact R``: every ``--compact-interval`` seconds a writer compacts at
  the revision of the latest acknowledged delete (or write), because a watch
  starting exactly at a compacted delete is where etcd-io/etcd#18089 lost
  the delete;
- ``watch {"from": R}``: watch the whole key range from revision R for
  ``--watch-window`` seconds. R is the latest compacted revision (half the
  time, once there is one), else where this process's last watch left off
  (resuming), else 0 (from now). Ok's value adds ``events`` (``[revision,
  "PUT"|"DELETE", k, v]``, in arrival order), ``created`` (the store revision
  when the watch was made) and ``compacted`` (set when etcd refused R as
  compacted: its documented answer, not an error). A stream that breaks is a
  ``fail`` that still carries the events it delivered.

v3 only. A write that times out is ``info``; a watch that fails is ``fail``
(watching changes nothing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyharness.etcd.triage import failed
from pyharness.gen import generator as g
from pyharness.history import OK, Op
from pyharness.options import Option, interval
from pyharness.workloads import GROUP
from pyharness.workloads.base import CheckerContext, Workload

if TYPE_CHECKING:
    from pathlib import Path

    from checkers.core import Checker
    from pyharness.etcd import v3 as etcd_v3


KEYS = 3  # few keys, so that puts and deletes of one key interleave
VALUES = 1000
FILTERED = 0.2  # the share of watches with a filter (NOPUT or NODELETE)
PROGRESS_INTERVAL = "1s"  # etcd's default is 10 min: none would arrive in a window
# The etcd role's variables this workload wants on the members it sets up.
CLUSTER_VARS = {"etcd_watch_progress_notify_interval": PROGRESS_INTERVAL}

APIS = ("v3",)
API_WHY = "etcd's v3 watch and compaction"
CHECKERS = ("watch",)  # analyze --checker watch

OPTIONS = (
    Option("watch_window", "--watch-window", "float",
           interval(0, 600, lo_open=True, what="seconds"), group=GROUP, default=1.0,
           help="watch: seconds each watch op stays open, collecting events."),
    Option("compact_interval", "--compact-interval", "float",
           interval(0, 3600, lo_open=True, what="seconds"), group=GROUP, default=2.0,
           help="watch: seconds between compactions (at the latest acknowledged delete)."),
)


@dataclass
class WatchClient:
    prefix: str = ""
    conn: etcd_v3.Connection | None = None
    window_s: float = 1.0

    def open(self, test: Mapping[str, Any], node: str) -> WatchClient:
        from pyharness.etcd.endpoints import open_connection

        return WatchClient(prefix=f"{test['key_prefix']}/watch/",
                           conn=open_connection(test, node), window_s=self.window_s)

    def close(self, test: Mapping[str, Any]) -> None:
        if self.conn is not None:
            self.conn.close()

    def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        from pyharness.etcd import v3 as etcd_v3

        assert self.conn is not None
        try:
            if op.f == "put":
                k, v = op.value
                done = op.completion(OK)
                done.extra["revision"] = self.conn.put(f"{self.prefix}{k}", str(v))
                return done
            if op.f == "delete":
                k, _ = op.value
                deleted, revision = self.conn.delete(f"{self.prefix}{k}")
                done = op.completion(OK)
                done.extra.update(revision=revision, deleted=deleted)
                return done
            if op.f == "txn":
                from pyharness.etcd.v3 import put_op

                result = self.conn.txn([], [put_op(f"{self.prefix}{k}", str(v))
                                            for k, v in op.value])
                done = op.completion(OK)
                done.extra["revision"] = result.revision
                return done
            if op.f == "compact":
                self.conn.compact(int(op.value))
                return op.completion(OK)
            if op.f == "watch":
                return self._watch(op)
        except Exception as e:
            return failed(op, etcd_v3.classify(e), no_effect=op.f == "compact")
        raise ValueError(f"watch client: unknown f {op.f!r}")

    def _watch(self, op: Op) -> Op:
        from pyharness.etcd import v3 as etcd_v3

        assert self.conn is not None
        start = int(op.value["from"])
        filters = list(op.value.get("filters") or [])
        try:
            answer = self.conn.watch_events(self.prefix, start, self.window_s,
                                            prev_kv=True, progress_notify=True,
                                            filters=filters)
        except Exception as e:
            done = failed(op, etcd_v3.classify(e), no_effect=True)
            partial = getattr(e, "answer", None)
            done.value = (self._value(start, filters, partial) if partial is not None
                          else op.value)
            return done
        return op.completion(OK, value=self._value(start, filters, answer))

    def _value(self, start: int, filters: list[str], a: etcd_v3.WatchAnswer) -> dict[str, Any]:
        n = len(self.prefix)
        return {"from": start, "created": a.created_revision, "compacted": a.compact_revision,
                "prev_kv": True, **({"filters": filters} if filters else {}),
                "events": [[e.revision, e.type, _key(e.key[n:]), _val(e.value),
                            e.create_revision, e.version,
                            None if e.prev_value is None else _val(e.prev_value)]
                           for e in a.events],
                "splits": a.splits, "arrived-ms": a.arrived_ms,
                "progress": [list(p) for p in a.progress]}


def _key(b: bytes) -> int | str:
    s = b.decode(errors="replace")
    return int(s) if s.isdigit() else s


def _val(b: bytes) -> int | str | None:
    if not b:
        return None
    s = b.decode(errors="replace")
    return int(s) if s.lstrip("-").isdigit() else s


@dataclass(frozen=True)
class WatchOps(g.Generator):
    """Writers' and watchers' ops, choosing revisions from what earlier ops
    returned: the latest acknowledged delete, the latest compaction, and
    where each watching process's last watch left off."""

    keys: int = KEYS
    compact_every_ns: int = 2 * g.NS
    last_delete: int = 0
    last_write: int = 0
    compacted: int = 0
    next_compact: int | None = None
    resume: tuple[tuple[int | str, int], ...] = ()  # process -> next revision to watch

    @staticmethod
    def watcher(thread: g.Thread) -> bool:
        return isinstance(thread, int) and thread % 3 == 0

    def op(self, ctx: g.Context) -> g.OpResult:
        p = ctx.some_free_process()
        if p is None:
            return g.PENDING
        thread = ctx.thread_of(p)
        nxt = self
        if thread is not None and self.watcher(thread):
            resume = dict(self.resume).get(p, 0)
            start = self.compacted if self.compacted and ctx.rng.random() < 0.5 else resume
            value: dict[str, Any] = {"from": start}
            x = ctx.rng.random()
            if x < FILTERED:  # a few watches leave out one event type
                value["filters"] = ["NOPUT" if x < FILTERED / 2 else "NODELETE"]
            template: dict[str, Any] = {"f": "watch", "value": value, "process": p}
        else:
            due = self.next_compact if self.next_compact is not None \
                else ctx.time + self.compact_every_ns
            target = self.last_delete or self.last_write
            if ctx.time >= due and target > self.compacted:
                template = {"f": "compact", "value": target, "process": p}
                nxt = dataclasses.replace(self, next_compact=ctx.time + self.compact_every_ns)
            else:
                k = ctx.rng.randrange(self.keys)
                x = ctx.rng.random()
                if x < 0.5:
                    template = {"f": "put", "value": [k, ctx.rng.randrange(VALUES)],
                                "process": p}
                elif x < 0.6 and self.keys > 1:
                    k2 = (k + 1 + ctx.rng.randrange(self.keys - 1)) % self.keys
                    template = {"f": "txn", "process": p,
                                "value": [[a, ctx.rng.randrange(VALUES)]
                                          for a in sorted((k, k2))]}
                else:
                    template = {"f": "delete", "value": [k, None], "process": p}
                if self.next_compact is None:
                    nxt = dataclasses.replace(self, next_compact=due)
        op = g.fill(template, ctx)
        return g.PENDING if op is None else (op, nxt)

    def update(self, ctx: g.Context, event: Op) -> g.Generator:
        if event.type != OK:
            return self
        rev = event.extra.get("revision")
        if event.f == "delete" and isinstance(rev, int) and event.extra.get("deleted"):
            return dataclasses.replace(self, last_delete=max(self.last_delete, rev),
                                       last_write=max(self.last_write, rev))
        if event.f in ("put", "txn") and isinstance(rev, int):
            return dataclasses.replace(self, last_write=max(self.last_write, rev))
        if event.f == "compact" and isinstance(event.value, int):
            return dataclasses.replace(self, compacted=max(self.compacted, event.value))
        if event.f == "watch" and isinstance(event.value, dict):
            v = event.value
            revs = [e[0] for e in v.get("events") or []]
            if revs:
                nxt = max(revs) + 1
            elif v.get("compacted"):
                nxt = int(v["compacted"])
            elif int(v.get("from") or 0) > 0:
                nxt = int(v["from"])
            else:
                nxt = int(v.get("created") or 0) + 1
            resume = dict(self.resume)
            resume[event.process] = nxt
            return dataclasses.replace(self, resume=tuple(resume.items()))
        return self


def workload(opts: Mapping[str, Any]) -> Workload:
    from checkers.watch import WatchChecker

    every = float(opts.get("compact_interval", 2.0))
    return Workload(
        name="watch",
        client=WatchClient(window_s=float(opts.get("watch_window", 1.0))),
        generator=WatchOps(compact_every_ns=int(every * g.NS)),
        final_generator=None,
        checkers=[WatchChecker()],
    )


def checker(name: str, ctx: CheckerContext) -> Checker:
    from checkers.watch import WatchChecker

    return WatchChecker()


def _summary(r: Mapping[str, Any], run_dir: Path) -> str:
    from html import escape

    from checkers.watch import summary

    return escape(summary(r))


SUMMARIES = {"watch": _summary}


def _notes(r: Mapping[str, Any]) -> list[str]:
    from checkers.watch import describe

    if r.get("valid?") is not False:
        return []
    return [f"watch: {describe(v)}" for v in (r.get("violations") or [])[:10]]


NOTES = {"watch": _notes}
