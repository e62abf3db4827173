"""The set workload: add distinct integers to one set, then read it back.

One etcd key holds the whole set, serialized as a JSON list. An ``add``
reads the key and compare-and-swaps it on the revision it read (v2
``prevIndex``, a v3 transaction on ``mod_revision``), retrying when another
add got there first; conflicts are counted in ``cas_conflicts``. A ``read``
is a linearizable read (serializable with ``--serializable``). The final
read tells the set checker which acknowledged adds survived the faults. The
client is written once over the KV interface (:mod:`pyharness.etcd.kv`).

Outcome of an add whose compare-and-swap timed out: ``info``, because etcd
may still commit it (on the lab it did, every time, after heal). A read
that fails is ``fail``: reads have no effect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyharness.etcd import kv
from pyharness.etcd.triage import failed
from pyharness.gen.generator import Iterate, limit, repeat, until_ok
from pyharness.history import FAIL, OK, Op
from pyharness.workloads.base import AsyncKVClient, CheckerContext, KVClient, Workload

if TYPE_CHECKING:
    from checkers.core import Checker
    from pyharness.etcd.kv import Session
    from pyharness.gen.client import Steps

CHECKERS = ("set",)  # analyze --checker set
ASYNC_APIS = ("v3",)  # an event-loop client on v3

MAX_CAS_ATTEMPTS = 20  # bound on conflict retries inside one add


def steps(s: Session, op: Op) -> Steps:
    """One read or add as KV requests; the same for v2 and v3."""
    if op.f not in ("read", "add"):
        raise ValueError(f"set client: unknown f {op.f!r}")
    key = f"{s.key_prefix}/set"
    try:
        current = yield kv.Get(key, s.stale_ok)
    except Exception as e:
        return failed(op, s.classify(e), no_effect=True)  # reads write nothing
    if op.f == "read":
        return op.completion(OK, value=sorted(_values(current)))
    conflicts = 0
    for _attempt in range(MAX_CAS_ATTEMPTS):
        new = json.dumps([*_values(current), op.value], separators=(",", ":"))
        try:
            r = yield (kv.Create(key, new) if current is None
                       else kv.Swap(key, new, current.revision))
        except Exception as e:
            # Every earlier write of this op failed its compare, so only
            # this one may have taken effect.
            return _with_conflicts(failed(op, s.classify(e)), conflicts)
        if r.succeeded:
            return _with_conflicts(op.completion(OK), conflicts)
        conflicts += 1  # another add won the race; ours had no effect
        if r.known:
            current = r.current
            continue
        try:
            current = yield kv.Get(key, s.stale_ok)
        except Exception as e:
            # Nothing of this op was written: it certainly did not happen.
            return _with_conflicts(failed(op, s.classify(e), no_effect=True), conflicts)
    return _with_conflicts(op.completion(FAIL, error=["too-many-conflicts"]), conflicts)


def _values(entry: kv.Entry | None) -> list[int]:
    return [] if entry is None else list(json.loads(entry.value))


def _with_conflicts(op: Op, conflicts: int) -> Op:
    if conflicts:
        op.extra["cas_conflicts"] = conflicts
    return op


def workload(opts: Mapping[str, Any]) -> Workload:
    from checkers.set import SetChecker

    api = opts.get("api") or "v2"
    return Workload(
        name="set",
        client=KVClient(steps, api),
        async_client=AsyncKVClient(steps) if api == "v3" else None,
        generator=Iterate(lambda n: {"f": "add", "value": n}),
        # Retry a failed final read a few times, each attempt in the history.
        final_generator=until_ok(limit(opts.get("final_read_attempts", 5), repeat({"f": "read"}))),
        checkers=[SetChecker()],
    )


def checker(name: str, ctx: CheckerContext) -> Checker:
    from checkers.set import SetChecker

    return SetChecker()


def _summary(r: Mapping[str, Any], run_dir: Path) -> str:
    if "lost-count" not in r:
        return escape(str(r.get("error", "")))

    def e(k: str) -> str:
        return escape(str(r[k]))
    return (f"lost <b>{e('lost-count')}</b>, unexpected <b>{e('unexpected-count')}</b>, "
            f"recovered {e('recovered-count')} of {e('attempt-count')} attempted adds "
            f"({e('acknowledged-count')} acknowledged)")


SUMMARIES = {"set": _summary}
