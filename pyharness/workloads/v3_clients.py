"""Clients for the set and register workloads over etcd's v3 API.

Same ops, same values and the same history semantics as the v2 clients
(:class:`~pyharness.workloads.set.SetClient`,
:class:`~pyharness.workloads.register.RegisterClient`); only the API differs.
v3 has no ``prevIndex``/``prevValue``; compare-and-set is a transaction:

- set ``add``: read the key, then a txn "if ``mod_revision`` is still what I
  read, put the longer list" (or "if ``create_revision == 0``" when the key
  is absent). When another add won, the txn's failure branch returns the
  key's current state in the same request, so the retry needs no second
  read. Conflicts are counted in ``cas_conflicts``.
- register ``cas [v v']``: a txn "if value == v, put v'"; a compare that
  fails (including on an absent key) is a definite ``fail``.

Reads are linearizable; the test option ``serializable`` makes every read
serializable (local to the member, possibly stale), which the checkers
should then catch under partitions. A timeout on a write, cas or add is
``info``; a read that fails is ``fail``: reads have no effect.

Test options read here: ``serializable``; TLS and authentication are read by
:func:`pyharness.etcd.endpoints.open_connection`.

Each client's logic is written once, as *steps* that yield the requests they
need (:func:`pyharness.gen.client.run_steps`): the threaded clients send them
with urllib3, the ``...Async`` ones on the event loop with aiohttp, and both
triage failures with their transport's ``classify``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyharness.etcd.triage import Triage, failed
from pyharness.gen.client import Steps, arun_steps, run_steps
from pyharness.history import FAIL, OK, Op

if TYPE_CHECKING:
    from pyharness.etcd import v3 as etcd_v3
    from pyharness.etcd.v3_async import AsyncConnection

Classify = Callable[[BaseException], Triage]

MAX_CAS_ATTEMPTS = 20  # bound on conflict retries inside one add, as in v2


def _serializable(test: Mapping[str, Any]) -> bool:
    return bool(test.get("options", {}).get("serializable", False))


def _set_steps(key: str, serializable: bool, op: Op, classify: Classify) -> Steps:
    """The set workload's read or add, as requests (see run_steps)."""
    from pyharness.etcd import v3 as etcd_v3

    if op.f not in ("read", "add"):
        raise ValueError(f"set client: unknown f {op.f!r}")
    try:
        kv = etcd_v3.first_kv((yield etcd_v3.range_request(key, serializable)))
    except Exception as e:
        return failed(op, classify(e), no_effect=True)  # reads write nothing
    if op.f == "read":
        return op.completion(OK, value=sorted(_values(kv)))
    conflicts = 0
    for _attempt in range(MAX_CAS_ATTEMPTS):
        new = json.dumps([*_values(kv), op.value], separators=(",", ":"))
        guard = (etcd_v3.compare_absent(key) if kv is None
                 else etcd_v3.compare_mod_revision(key, kv.mod_revision))
        try:
            r = etcd_v3.txn_result((yield etcd_v3.txn_request(
                [guard], [etcd_v3.put_op(key, new)], [etcd_v3.range_op(key)])))
        except Exception as e:
            # Every earlier txn of this op failed its compare, so only
            # this one may have taken effect.
            return _with_conflicts(failed(op, classify(e)), conflicts)
        if r.succeeded:
            return _with_conflicts(op.completion(OK), conflicts)
        conflicts += 1  # another add won the race; ours had no effect
        kv = r.ranges[0][0] if r.ranges and r.ranges[0] else None
    return _with_conflicts(op.completion(FAIL, error=["too-many-conflicts"]), conflicts)


def _values(kv: etcd_v3.KV | None) -> list[int]:
    return [] if kv is None else list(json.loads(kv.value))


def _with_conflicts(op: Op, conflicts: int) -> Op:
    if conflicts:
        op.extra["cas_conflicts"] = conflicts
    return op


def _register_steps(prefix: str, serializable: bool, op: Op, classify: Classify) -> Steps:
    """The register workload's read, write or cas, as requests."""
    from pyharness.etcd import v3 as etcd_v3

    key, arg = op.value
    path = f"{prefix}/{key}"
    try:
        if op.f == "read":
            kv = etcd_v3.first_kv((yield etcd_v3.range_request(path, serializable)))
            return op.completion(OK, value=[key, None if kv is None else int(kv.value)])
        if op.f == "write":
            yield etcd_v3.put_request(path, str(arg))
            return op.completion(OK)
        if op.f == "cas":
            expected, new = arg
            r = etcd_v3.txn_result((yield etcd_v3.txn_request(
                [etcd_v3.compare_value(path, str(expected))], [etcd_v3.put_op(path, str(new))])))
            return op.completion(OK) if r.succeeded else op.completion(
                FAIL, error=["compare-failed"])
    except Exception as e:
        return failed(op, classify(e), no_effect=op.f == "read")
    raise ValueError(f"register client: unknown f {op.f!r}")


@dataclass
class SetClientV3:
    key: str = ""
    conn: etcd_v3.Connection | None = None
    serializable: bool = False

    def open(self, test: Mapping[str, Any], node: str) -> SetClientV3:
        from pyharness.etcd.endpoints import open_connection

        return SetClientV3(key=f"{test['key_prefix']}/set", conn=open_connection(test, node),
                           serializable=_serializable(test))

    def close(self, test: Mapping[str, Any]) -> None:
        if self.conn is not None:
            self.conn.close()

    def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        from pyharness.etcd import v3 as etcd_v3

        assert self.conn is not None
        return run_steps(self.conn.call,
                         _set_steps(self.key, self.serializable, op, etcd_v3.classify))


@dataclass
class SetClientV3Async:
    """:class:`SetClientV3` on the event loop: the same steps."""

    key: str = ""
    conn: AsyncConnection | None = None
    serializable: bool = False

    async def open(self, test: Mapping[str, Any], node: str) -> SetClientV3Async:
        from pyharness.etcd.endpoints import open_async_connection

        return SetClientV3Async(key=f"{test['key_prefix']}/set",
                                conn=await open_async_connection(test, node),
                                serializable=_serializable(test))

    async def close(self, test: Mapping[str, Any]) -> None:
        if self.conn is not None:
            await self.conn.close()

    async def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        from pyharness.etcd.v3_async import classify

        assert self.conn is not None
        return await arun_steps(self.conn.call,
                                _set_steps(self.key, self.serializable, op, classify))


@dataclass
class RegisterClientV3:
    prefix: str = ""
    conn: etcd_v3.Connection | None = None
    serializable: bool = False

    def open(self, test: Mapping[str, Any], node: str) -> RegisterClientV3:
        from pyharness.etcd.endpoints import open_connection

        return RegisterClientV3(prefix=f"{test['key_prefix']}/register",
                                conn=open_connection(test, node),
                                serializable=_serializable(test))

    def close(self, test: Mapping[str, Any]) -> None:
        if self.conn is not None:
            self.conn.close()

    def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        from pyharness.etcd import v3 as etcd_v3

        assert self.conn is not None
        return run_steps(self.conn.call,
                         _register_steps(self.prefix, self.serializable, op, etcd_v3.classify))


@dataclass
class RegisterClientV3Async:
    """:class:`RegisterClientV3` on the event loop: the same steps."""

    prefix: str = ""
    conn: AsyncConnection | None = None
    serializable: bool = False

    async def open(self, test: Mapping[str, Any], node: str) -> RegisterClientV3Async:
        from pyharness.etcd.endpoints import open_async_connection

        return RegisterClientV3Async(prefix=f"{test['key_prefix']}/register",
                                     conn=await open_async_connection(test, node),
                                     serializable=_serializable(test))

    async def close(self, test: Mapping[str, Any]) -> None:
        if self.conn is not None:
            await self.conn.close()

    async def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        from pyharness.etcd.v3_async import classify

        assert self.conn is not None
        return await arun_steps(self.conn.call, _register_steps(self.prefix, self.serializable,
                                                                op, classify))
