"""The set workload: add distinct integers to one set, then read it back.

One etcd key holds the whole set, serialized as a JSON list. An ``add``
reads the key and compare-and-swaps it on ``prevIndex``, retrying when
another add got there first; a ``read`` is a quorum read. The final read
tells the set checker which acknowledged adds survived the faults.

Outcome of an add whose compare-and-swap timed out: ``info``, because etcd
may still commit it (on the lab it did, every time, after heal). A read
that fails is ``fail``: reads have no effect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyharness.etcd.triage import failed
from pyharness.gen.generator import Iterate, limit, repeat, until_ok
from pyharness.history import FAIL, OK, Op
from pyharness.workloads.base import CheckerContext, Workload

if TYPE_CHECKING:
    import etcd

    from checkers.core import Checker

CHECKERS = ("set",)  # analyze --checker set
ASYNC_APIS = ("v3",)  # an event-loop client: SetClientV3Async

MAX_CAS_ATTEMPTS = 20  # bound on conflict retries inside one add


@dataclass
class SetClient:
    key: str = ""
    conn: etcd.Client | None = None
    timeout: float = 1.5

    def open(self, test: Mapping[str, Any], node: str) -> SetClient:
        from pyharness.etcd import v2 as etcd_v2
        from pyharness.etcd.endpoints import node_endpoint

        address, port = node_endpoint(test, node)
        return SetClient(key=f"{test['key_prefix']}/set",
                         conn=etcd_v2.connect(address, port, timeout=test["op_timeout"]),
                         timeout=test["op_timeout"])

    def close(self, test: Mapping[str, Any]) -> None:
        if self.conn is not None:
            self.conn.http.clear()

    def _read(self) -> tuple[list[int], int | None]:
        import etcd

        assert self.conn is not None
        try:
            r = self.conn.read(self.key, quorum=True)
        except etcd.EtcdKeyNotFound:
            return [], None
        return json.loads(r.value), r.modifiedIndex

    def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        from pyharness.etcd import v2 as etcd_v2

        if op.f == "read":
            try:
                values, _ = self._read()
            except Exception as e:
                return failed(op, etcd_v2.classify(e), no_effect=True)
            return op.completion(OK, value=sorted(values))
        if op.f == "add":
            return self._add(op)
        raise ValueError(f"set client: unknown f {op.f!r}")

    def _add(self, op: Op) -> Op:
        import etcd

        from pyharness.etcd import v2 as etcd_v2

        assert self.conn is not None
        conflicts = 0
        for _attempt in range(MAX_CAS_ATTEMPTS):
            try:
                values, index = self._read()
            except Exception as e:
                # Every earlier CAS of this op failed definitely, and a read
                # writes nothing: the add certainly did not happen.
                return _with_attempts(failed(op, etcd_v2.classify(e), no_effect=True),
                                      conflicts)
            new = json.dumps([*values, op.value], separators=(",", ":"))
            try:
                if index is None:
                    self.conn.write(self.key, new, prevExist=False)
                else:
                    self.conn.write(self.key, new, prevIndex=index)
            except (etcd.EtcdCompareFailed, etcd.EtcdAlreadyExist):
                conflicts += 1  # someone else's add won the race; ours had no effect
                continue
            except Exception as e:
                return _with_attempts(failed(op, etcd_v2.classify(e)), conflicts)
            return _with_attempts(op.completion(OK), conflicts)
        return _with_attempts(op.completion(FAIL, error=["too-many-conflicts"]), conflicts)


def _with_attempts(op: Op, conflicts: int) -> Op:
    if conflicts:
        op.extra["cas_conflicts"] = conflicts
    return op


def workload(opts: Mapping[str, Any]) -> Workload:
    from checkers.set import SetChecker
    from pyharness.workloads.v3_clients import SetClientV3, SetClientV3Async

    return Workload(
        name="set",
        client=SetClientV3() if opts.get("api") == "v3" else SetClient(),
        async_client=SetClientV3Async() if opts.get("api") == "v3" else None,
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
