"""The append workload: multi-key transactions over append-only lists (Elle).

Each op is a transaction (f ``txn``) of 1 to ``max_txn_length`` micro-ops on
a small, rotating set of keys, in Jepsen's ``:txn`` shape::

    invoke  [["append", 3, 41], ["r", 5, None], ["append", 5, 42]]
    ok      [["append", 3, 41], ["r", 5, [7, 19]], ["append", 5, 42]]

Every appended value is unique (transaction number × length + position), so
a read names the writer of each element, which is what lets the
list-append checker (:mod:`checkers.list_append`) recover the version order
of every key and the dependencies between transactions.

A key holds a JSON list. etcd has no append, so one transaction is, as in
Jepsen's etcd client:

1. one etcd txn of ``range`` requests reading every key the transaction
   touches, atomically at one revision (linearizable, or serializable with
   ``--serializable``);
2. the micro-ops run locally on what was read: a read returns the list as it
   stands (including this transaction's own earlier appends);
3. if the transaction appended anything, one etcd txn: *if every key's
   ``mod_revision`` is still what step 1 saw (``create_revision == 0`` for an
   absent key), put each appended key's new list*.

A failed compare is ``fail``: another transaction wrote first, nothing was
written. A timeout or lost connection on step 3 is ``info`` (etcd may still
commit it); any error in step 1 is ``fail`` (nothing was written yet).
A read-only transaction is complete after step 1.

``guarded=False`` makes the deliberately broken client the tests use: step 3
puts without the compares, so concurrent transactions overwrite each other's
appends, and the checker must say so.

Keys rotate: each of ``key_count`` slots moves to a fresh key after about
``max_writes_per_key`` appends, staggered, so lists (and reads) stay short in
long runs, as Jepsen's generator keeps them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyharness.etcd.triage import failed
from pyharness.gen.generator import Iterate
from pyharness.history import FAIL, OK, Op
from pyharness.options import Option, one_of
from pyharness.workloads import GROUP
from pyharness.workloads.base import CheckerContext, Workload

if TYPE_CHECKING:
    from collections.abc import Sequence

    from checkers.core import Checker
    from pyharness.etcd import v3 as etcd_v3


KEY_COUNT = 8
MAX_TXN_LENGTH = 4
MAX_WRITES_PER_KEY = 64

APIS = ("v3",)
API_WHY = "etcd's v3 transactions"
CHECKERS = ("list-append",)  # analyze --checker list-append
DEFAULT_MODEL = "strict-serializable"  # etcd's promise


def _models() -> Sequence[str]:
    from checkers.list_append import MODELS
    return MODELS


OPTIONS = (
    Option("consistency_model", "--consistency-model", "str", one_of(_models), group=GROUP,
           default=DEFAULT_MODEL,
           help="append: the model the list-append checker holds etcd to."),
)


def make_txn(n: int, seed: int, key_count: int = KEY_COUNT,
             max_txn_length: int = MAX_TXN_LENGTH,
             max_writes_per_key: int = MAX_WRITES_PER_KEY) -> list[list[Any]]:
    """Transaction number ``n``'s micro-ops: a pure function of its arguments,
    so the generator is a plain value (see :class:`~pyharness.gen.generator.Iterate`)."""
    rng = random.Random(seed * 1_000_003 + n)
    appends_per_txn = (1 + max_txn_length) / 4  # half of the average length
    period = max(1, int(max_writes_per_key * key_count / appends_per_txn))
    mops: list[list[Any]] = []
    for i in range(rng.randint(1, max_txn_length)):
        slot = rng.randrange(key_count)
        generation = (n + slot * period // key_count) // period
        key = generation * key_count + slot
        if rng.random() < 0.5:
            mops.append(["r", key, None])
        else:
            mops.append(["append", key, n * max_txn_length + i + 1])
    return mops


def _range(key: str, serializable: bool) -> dict[str, Any]:
    from pyharness.etcd import v3 as etcd_v3

    op = etcd_v3.range_op(key)
    if serializable:
        op["request_range"]["serializable"] = True
    return op


@dataclass
class AppendClientV3:
    prefix: str = ""
    conn: etcd_v3.Connection | None = None
    guarded: bool = True
    serializable: bool = False

    def open(self, test: Mapping[str, Any], node: str) -> AppendClientV3:
        from pyharness.etcd.endpoints import open_connection, serializable

        return AppendClientV3(prefix=f"{test['key_prefix']}/append",
                              conn=open_connection(test, node), guarded=self.guarded,
                              serializable=serializable(test))

    def close(self, test: Mapping[str, Any]) -> None:
        if self.conn is not None:
            self.conn.close()

    def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        from pyharness.etcd import v3 as etcd_v3

        if op.f != "txn":
            raise ValueError(f"append client: unknown f {op.f!r}")
        assert self.conn is not None
        mops = op.value
        keys = sorted({k for _, k, _ in mops}, key=repr)
        path = {k: f"{self.prefix}/{k}" for k in keys}
        try:
            r = self.conn.txn([], [_range(path[k], self.serializable) for k in keys])
        except Exception as e:
            return failed(op, etcd_v3.classify(e), no_effect=True)  # nothing written yet
        seen = {k: (kvs[0] if kvs else None) for k, kvs in zip(keys, r.ranges, strict=True)}
        state = {k: [] if kv is None else list(json.loads(kv.value)) for k, kv in seen.items()}
        done: list[list[Any]] = []
        written: list[Any] = []
        for f, k, v in mops:
            if f == "r":
                done.append(["r", k, list(state[k])])
            else:
                state[k].append(v)
                if k not in written:
                    written.append(k)
                done.append(["append", k, v])
        if not written:
            return op.completion(OK, value=done)
        guards = []
        if self.guarded:
            guards = [etcd_v3.compare_absent(path[k]) if kv is None
                      else etcd_v3.compare_mod_revision(path[k], kv.mod_revision)
                      for k, kv in seen.items()]
        puts = [etcd_v3.put_op(path[k], json.dumps(state[k], separators=(",", ":")))
                for k in written]
        try:
            w = self.conn.txn(guards, puts)
        except Exception as e:
            return failed(op, etcd_v3.classify(e))
        if not w.succeeded:
            return op.completion(FAIL, error=["compare-failed"])
        return op.completion(OK, value=done)


def generator(opts: Mapping[str, Any]) -> Iterate:
    seed = int(opts.get("seed") or 0)
    shape = (int(opts.get("key_count", KEY_COUNT)),
             int(opts.get("max_txn_length", MAX_TXN_LENGTH)),
             int(opts.get("max_writes_per_key", MAX_WRITES_PER_KEY)))
    return Iterate(lambda n: {"f": "txn", "value": make_txn(n, seed, *shape)})


def workload(opts: Mapping[str, Any]) -> Workload:
    from checkers.list_append import ListAppendChecker

    out_dir = opts.get("out_dir")
    return Workload(
        name="append",
        client=AppendClientV3(guarded=not opts.get("append_unguarded", False)),
        generator=generator(opts),
        checkers=[ListAppendChecker(opts.get("consistency_model") or DEFAULT_MODEL,
                                    out_dir=out_dir)],
    )


def checker(name: str, ctx: CheckerContext) -> Checker:
    from checkers.list_append import MODELS, ListAppendChecker

    return ListAppendChecker(ctx.model if ctx.model in MODELS else DEFAULT_MODEL, ctx.out_dir)
