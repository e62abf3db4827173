"""The KV interface (:mod:`pyharness.etcd.kv`) over etcd's v3 API.

Each request is one gateway call: a range (``serializable`` when stale reads
are allowed), a put, or a transaction whose compare is ``create_revision ==
0`` (create), ``mod_revision == r`` (swap) or ``value == v``. A create or
swap whose compare fails reads the key in the same transaction, so the
caller's retry needs no second request. The encoding is shared by the
blocking backend and the event-loop one; only the sending differs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyharness.etcd import kv
from pyharness.etcd import v3 as etcd_v3
from pyharness.etcd.triage import Triage

if TYPE_CHECKING:
    from pyharness.etcd.v3_async import AsyncConnection


def _entry(kv_: etcd_v3.KV | None) -> kv.Entry | None:
    return None if kv_ is None else kv.Entry(kv_.value.decode(), kv_.mod_revision)


def _prefix(prefix: str) -> dict[str, Any]:
    return etcd_v3.prefix_body(prefix.rstrip("/") + "/")


def encode(request: kv.Request) -> etcd_v3.Request:
    """The gateway call (path, body) that carries ``request``."""
    match request:
        case kv.Get(key, stale_ok):
            return etcd_v3.range_request(key, stale_ok)
        case kv.Put(key, value):
            return etcd_v3.put_request(key, value)
        case kv.Create(key, value):
            return etcd_v3.txn_request([etcd_v3.compare_absent(key)],
                                       [etcd_v3.put_op(key, value)], [etcd_v3.range_op(key)])
        case kv.Swap(key, value, revision):
            return etcd_v3.txn_request([etcd_v3.compare_mod_revision(key, revision)],
                                       [etcd_v3.put_op(key, value)], [etcd_v3.range_op(key)])
        case kv.SwapValue(key, expected, value):
            return etcd_v3.txn_request([etcd_v3.compare_value(key, expected)],
                                       [etcd_v3.put_op(key, value)])
        case kv.Scan(prefix):
            return "/kv/range", _prefix(prefix)
        case kv.Drop(prefix):
            return "/kv/deleterange", _prefix(prefix)
    raise TypeError(f"not a one-call KV request: {request!r}")


def decode(request: kv.Request, answer: dict[str, Any]) -> Any:
    """``request``'s answer, from the gateway's."""
    match request:
        case kv.Get():
            return _entry(etcd_v3.first_kv(answer))
        case kv.Create() | kv.Swap():
            r = etcd_v3.txn_result(answer)
            if r.succeeded:
                return kv.Swapped(True)
            return kv.Swapped(False, _entry(r.ranges[0][0] if r.ranges and r.ranges[0]
                                            else None), known=True)
        case kv.SwapValue():
            return etcd_v3.txn_result(answer).succeeded
        case kv.Scan():
            return {kv_.key.decode(): kv_.value.decode()
                    for kv_ in etcd_v3.kvs(answer)}
    return None  # Put, Drop


class V3(kv.KV):
    def __init__(self, conn: etcd_v3.Connection) -> None:
        self.conn = conn

    def do(self, request: kv.Request) -> Any:
        if isinstance(request, kv.Wait):  # a stream, not one call
            self.conn.watch(request.key, request.revision + 1, request.timeout)
            return None
        return decode(request, self.conn.call(*encode(request)))

    def classify(self, e: BaseException) -> Triage:
        return etcd_v3.classify(e)

    def close(self) -> None:
        self.conn.close()


class AsyncV3:
    """:class:`V3` on the event loop (no :class:`~pyharness.etcd.kv.Wait`)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def do(self, request: kv.Request) -> Any:
        return decode(request, await self.conn.call(*encode(request)))

    def classify(self, e: BaseException) -> Triage:
        from pyharness.etcd import v3_async

        return v3_async.classify(e)

    async def close(self) -> None:
        await self.conn.close()


def connect(address: str, port: int, timeout: float) -> V3:
    return V3(etcd_v3.connect(address, port, timeout=timeout))
