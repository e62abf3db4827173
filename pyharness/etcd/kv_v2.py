"""The KV interface (:mod:`pyharness.etcd.kv`) over etcd's v2 API.

v2 spells the requests ``quorum=true`` (or a plain, possibly stale read),
``prevExist=false``, ``prevIndex``, ``prevValue`` and a ``wait`` on
``waitIndex``. A failed compare raises in python-etcd; here it is the
answer "did not write". v2 cannot return the key's state with a failed
compare, so :class:`~pyharness.etcd.kv.Swapped` says it does not know it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import etcd

from pyharness.etcd import kv
from pyharness.etcd import v2 as etcd_v2
from pyharness.etcd.triage import Triage


class V2(kv.KV):
    def __init__(self, conn: etcd.Client) -> None:
        self.conn = conn

    def do(self, request: kv.Request) -> Any:
        c = self.conn
        match request:
            case kv.Get(key, stale_ok):
                try:
                    r = c.read(key, quorum=not stale_ok)
                except etcd.EtcdKeyNotFound:
                    return None
                return kv.Entry(str(r.value), int(r.modifiedIndex))
            case kv.Put(key, value):
                c.write(key, value)
                return None
            case kv.Create(key, value):
                return kv.Swapped(self._write_if(key, value, prevExist=False))
            case kv.Swap(key, value, revision):
                return kv.Swapped(self._write_if(key, value, prevIndex=revision))
            case kv.SwapValue(key, expected, value):
                # An absent key raises not-found, which the triage calls a
                # definite failure, as it is.
                return self._write_if(key, value, prevValue=expected)
            case kv.Wait(key, revision, timeout):
                with contextlib.suppress(etcd.EtcdWatchTimedOut, etcd.EtcdEventIndexCleared):
                    c.read(key, wait=True, waitIndex=revision + 1, timeout=timeout)
                return None
            case kv.Scan(prefix):
                try:
                    r = c.read(prefix, recursive=True, quorum=True)
                except etcd.EtcdKeyNotFound:
                    return {}
                return {n.key: str(n.value) for n in r.leaves if not n.dir and n.key != prefix}
            case kv.Drop(prefix):
                with contextlib.suppress(etcd.EtcdKeyNotFound):
                    c.delete(prefix, recursive=True, dir=True)
                return None
        raise TypeError(f"not a KV request: {request!r}")

    def _write_if(self, key: str, value: str, **compare: Any) -> bool:
        """Write under v2's compare; False when the compare refused it."""
        try:
            self.conn.write(key, value, **compare)
        except (etcd.EtcdCompareFailed, etcd.EtcdAlreadyExist):
            return False
        return True

    def classify(self, e: BaseException) -> Triage:
        return etcd_v2.classify(e)

    def close(self) -> None:
        self.conn.http.clear()


def connect(address: str, port: int, timeout: float) -> V2:
    return V2(etcd_v2.connect(address, port, timeout=timeout))
