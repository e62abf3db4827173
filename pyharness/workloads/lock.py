"""The lock workload: a shared set guarded by etcd's lock, with and without fencing.

Each ``add`` of a unique integer is a critical section, the way users
write them with etcd's v3 lock service:

1. grant a lease (``/v3/lease/grant``, TTL ``lock_ttl`` seconds);
2. take the lock (``/v3/lock/lock`` with that lease): etcd creates an
   ownership key under the lock's name, attached to the lease, and answers
   once every older ownership key is gone;
3. read the set (one JSON key), add the element, write it back;
4. release: revoke the lease, which deletes the ownership key.

The lock is only as good as the lease. If the holder stalls for longer than
the TTL (a paused etcd member its write is stuck in, a GC pause, a frozen
VM), etcd expires the lease, deletes the ownership key and grants the lock
to the next client, while the first still believes it holds it. Its write,
arriving late, overwrites the set with what it read before: the other
client's add is lost. Mutual exclusion was lost, and the history shows it
two ways:

- **lost adds**, by the set checker on the final read;
- **overlapping critical sections**, by :mod:`checkers.lock`: every write
  records the store revision at which its holder read the set, and after the
  test a final ``versions`` op walks the set key back through every version
  (a read at ``mod_revision - 1`` gives the version before). Each version's
  holder was in its critical section from its read revision to its write
  revision; two such intervals that overlap are two holders at once.

With ``fencing`` the write is a transaction guarded by the lock: *if my
ownership key still exists with the create revision it had when I got the
lock, put the set*. A holder whose lease expired fails its compare (``fail``,
error ``lock-lost``) and writes nothing, so the same faults cost
availability, never safety. That is the etcd recipe (``Mutex.IsOwner``):
the revision of the lock key is the fencing token.

Outcomes: an add whose write timed out is ``info`` (it may land later: that
is exactly the dangerous case); anything failing before the write is
``fail``. ``stall_every``/``stall_s`` (tests only) make every n-th holder
sleep inside its critical section, a client-side pause, to show the loss
on a loopback etcd without any nemesis.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyharness.etcd.triage import failed
from pyharness.gen.generator import Iterate, limit, phases, repeat, until_ok
from pyharness.history import FAIL, OK, Op
from pyharness.options import Option, interval
from pyharness.workloads import GROUP
from pyharness.workloads.base import CheckerContext, Workload

if TYPE_CHECKING:
    from checkers.core import Checker
    from pyharness.etcd import v3 as etcd_v3


LOCK_TTL = 2
MAX_VERSIONS = 100_000

APIS = ("v3",)
API_WHY = "etcd's v3 leases and transactions"
CHECKERS = ("lock",)  # analyze --checker lock

OPTIONS = (
    Option("lock_fencing", "--lock-fencing", "bool", group=GROUP, default=False,
           help="lock: guard each write by the lock key's revision (safe under pauses), "
                "instead of trusting the lock alone."),
    Option("lock_ttl", "--lock-ttl", "int", interval(1, 3600, integer=True), group=GROUP,
           default=LOCK_TTL, help="lock: seconds of the lease that holds the lock."),
)


def _b64(x: str | bytes) -> str:
    return base64.b64encode(x.encode() if isinstance(x, str) else x).decode()


@dataclass
class LockClientV3:
    prefix: str = ""
    conn: etcd_v3.Connection | None = None
    fencing: bool = False
    ttl: int = LOCK_TTL
    stall_every: int = 0
    stall_s: float = 0.0

    def open(self, test: Mapping[str, Any], node: str) -> LockClientV3:
        from pyharness.etcd.endpoints import open_connection

        return LockClientV3(prefix=f"{test['key_prefix']}/lock", conn=open_connection(test, node),
                            fencing=self.fencing, ttl=self.ttl, stall_every=self.stall_every,
                            stall_s=self.stall_s)

    def close(self, test: Mapping[str, Any]) -> None:
        if self.conn is not None:
            self.conn.close()

    @property
    def set_key(self) -> str:
        return f"{self.prefix}/set"

    def _range(self, revision: int | None = None) -> tuple[int, etcd_v3.KV | None]:
        from pyharness.etcd import v3 as etcd_v3

        assert self.conn is not None
        body: dict[str, Any] = {"key": _b64(self.set_key)}
        if revision is not None:
            body["revision"] = str(revision)
        r = self.conn.call("/kv/range", body)
        kvs = r.get("kvs", [])
        return int(r["header"]["revision"]), (etcd_v3._kv(kvs[0]) if kvs else None)

    def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        from pyharness.etcd import v3 as etcd_v3

        if op.f == "add":
            return self._add(op)
        try:
            if op.f == "read":
                _, kv = self._range()
                return op.completion(OK, value=sorted(_doc(kv)["elements"]))
            if op.f == "versions":
                return op.completion(OK, value=self._versions())
        except Exception as e:
            return failed(op, etcd_v3.classify(e), no_effect=True)  # reads write nothing
        raise ValueError(f"lock client: unknown f {op.f!r}")

    def _versions(self) -> list[dict[str, Any]]:
        """Every version of the set key, oldest first, each with its writer's
        read and write revisions."""
        out: list[dict[str, Any]] = []
        _, kv = self._range()
        while kv is not None and len(out) < MAX_VERSIONS:
            d = _doc(kv)
            out.append({"element": d.get("writer"), "read_revision": d.get("read_revision"),
                        "mod_revision": kv.mod_revision, "size": len(d["elements"])})
            _, kv = self._range(kv.mod_revision - 1)
        return out[::-1]

    def _add(self, op: Op) -> Op:
        from pyharness.etcd import v3 as etcd_v3

        assert self.conn is not None
        try:
            lease = str(self.conn.call("/lease/grant", {"TTL": str(self.ttl)})["ID"])
        except Exception as e:
            return failed(op, etcd_v3.classify(e), no_effect=True)
        try:
            return self._locked_add(op, lease)
        finally:
            # Releases the lock, and one granted after we gave up on it; if
            # this fails, the lease expires by itself within its TTL.
            with contextlib.suppress(Exception):
                self.conn.call("/lease/revoke", {"ID": lease})

    def _locked_add(self, op: Op, lease: str) -> Op:
        from pyharness.etcd import v3 as etcd_v3

        assert self.conn is not None
        try:
            owner = self.conn.call("/lock/lock", {"name": _b64(f"{self.prefix}/mutex"),
                                                  "lease": lease})["key"]
            owner_key = base64.b64decode(owner)
            guards = []
            if self.fencing:
                mine = self.conn.get(owner_key)
                if mine is None:
                    return op.completion(FAIL, error=["lock-lost"])
                guards = [{"key": owner, "result": "EQUAL", "target": "CREATE",
                           "create_revision": str(mine.create_revision)}]
            read_revision, kv = self._range()
        except Exception as e:
            return failed(op, etcd_v3.classify(e), no_effect=True)  # nothing written
        if self.stall_every and op.value % self.stall_every == 0:
            time.sleep(self.stall_s)
        doc = {"elements": [*_doc(kv)["elements"], op.value], "writer": op.value,
               "read_revision": read_revision}
        put = etcd_v3.put_op(self.set_key, json.dumps(doc, separators=(",", ":")))
        try:
            w = self.conn.txn(guards, [put])
        except Exception as e:
            return failed(op, etcd_v3.classify(e))
        if not w.succeeded:
            return op.completion(FAIL, error=["lock-lost"])
        done = op.completion(OK)
        done.extra.update(read_revision=read_revision, write_revision=w.revision)
        return done


def _doc(kv: etcd_v3.KV | None) -> dict[str, Any]:
    return {"elements": []} if kv is None else dict(json.loads(kv.value))


def workload(opts: Mapping[str, Any]) -> Workload:
    from checkers.lock import LockChecker
    from checkers.set import SetChecker

    attempts = opts.get("final_read_attempts", 5)
    return Workload(
        name="lock",
        client=LockClientV3(fencing=bool(opts.get("lock_fencing", False)),
                            ttl=int(opts.get("lock_ttl", LOCK_TTL)),
                            stall_every=int(opts.get("lock_stall_every", 0)),
                            stall_s=float(opts.get("lock_stall_s", 0.0))),
        generator=Iterate(lambda n: {"f": "add", "value": n}),
        final_generator=phases(until_ok(limit(attempts, repeat({"f": "read"}))),
                               until_ok(limit(attempts, repeat({"f": "versions"})))),
        checkers=[SetChecker(), LockChecker()],
    )


def checker(name: str, ctx: CheckerContext) -> Checker:
    from checkers.lock import LockChecker

    return LockChecker()
