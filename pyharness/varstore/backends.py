"""The few etcd calls the variable store needs, over either API.

:class:`~pyharness.varstore.store.VarStore` keeps every variable as one key
holding a JSON document and needs exactly this from etcd:

- ``create``: write a key only if it is absent;
- ``get``: a linearizable read of one key and the revision of its last write;
- ``swap``: write a key only if its last write is still that revision;
- ``put``: write unconditionally (only the ``bind-without-cas`` bug does);
- ``wait``: block until a key changes after a revision, or a timeout;
- ``scan`` / ``drop``: read or delete every key under a prefix.

v2 spells these ``prevExist=false``, ``quorum=true``, ``prevIndex`` and a
``wait`` on ``waitIndex``; v3 spells them as transactions comparing
``create_revision`` or ``mod_revision``, a default (linearizable) range and a
watch from ``start_revision``. Each backend also says, through ``classify``,
whether a failed request certainly had no effect, since the two APIs fail in
different ways.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Protocol

import etcd

from pyharness.etcd import v2 as etcd_v2
from pyharness.etcd import v3 as etcd_v3
from pyharness.etcd.endpoints import node_endpoint, open_connection
from pyharness.etcd.triage import Triage


class Backend(Protocol):
    def create(self, key: str, doc: str) -> bool:
        """Write ``doc`` if ``key`` is absent; False (and no write) if present."""
        ...

    def get(self, key: str) -> tuple[str, int] | None:
        """``(doc, revision of its last write)``, or None when absent."""
        ...

    def swap(self, key: str, doc: str, revision: int) -> bool:
        """Write ``doc`` if the key's last write is still ``revision``."""
        ...

    def put(self, key: str, doc: str) -> None: ...

    def wait(self, key: str, revision: int, timeout: float) -> None:
        """Return once ``key`` was written after ``revision`` (at once if it
        already was), or after ``timeout`` seconds."""
        ...

    def scan(self, prefix: str) -> dict[str, str]:
        """Key -> doc for every key under ``prefix/``, in one read."""
        ...

    def drop(self, prefix: str) -> None: ...

    def classify(self, e: BaseException) -> Triage: ...

    def close(self) -> None: ...


class V2:
    def __init__(self, conn: etcd.Client) -> None:
        self.conn = conn

    def create(self, key: str, doc: str) -> bool:
        try:
            self.conn.write(key, doc, prevExist=False)
        except etcd.EtcdAlreadyExist:
            return False
        return True

    def get(self, key: str) -> tuple[str, int] | None:
        try:
            r = self.conn.read(key, quorum=True)
        except etcd.EtcdKeyNotFound:
            return None
        return str(r.value), int(r.modifiedIndex)

    def swap(self, key: str, doc: str, revision: int) -> bool:
        try:
            self.conn.write(key, doc, prevIndex=revision)
        except etcd.EtcdCompareFailed:
            return False
        return True

    def put(self, key: str, doc: str) -> None:
        self.conn.write(key, doc)

    def wait(self, key: str, revision: int, timeout: float) -> None:
        with contextlib.suppress(etcd.EtcdWatchTimedOut, etcd.EtcdEventIndexCleared):
            self.conn.read(key, wait=True, waitIndex=revision + 1, timeout=timeout)

    def scan(self, prefix: str) -> dict[str, str]:
        try:
            r = self.conn.read(prefix, recursive=True, quorum=True)
        except etcd.EtcdKeyNotFound:
            return {}
        return {n.key: str(n.value) for n in r.leaves if not n.dir and n.key != prefix}

    def drop(self, prefix: str) -> None:
        with contextlib.suppress(etcd.EtcdKeyNotFound):
            self.conn.delete(prefix, recursive=True, dir=True)

    def classify(self, e: BaseException) -> Triage:
        return etcd_v2.classify(e)

    def close(self) -> None:
        self.conn.http.clear()


class V3:
    def __init__(self, conn: etcd_v3.Connection) -> None:
        self.conn = conn

    def create(self, key: str, doc: str) -> bool:
        r = self.conn.txn([etcd_v3.compare_absent(key)], [etcd_v3.put_op(key, doc)])
        return r.succeeded

    def get(self, key: str) -> tuple[str, int] | None:
        kv = self.conn.get(key)
        return None if kv is None else (kv.value.decode(), kv.mod_revision)

    def swap(self, key: str, doc: str, revision: int) -> bool:
        r = self.conn.txn([etcd_v3.compare_mod_revision(key, revision)],
                          [etcd_v3.put_op(key, doc)])
        return r.succeeded

    def put(self, key: str, doc: str) -> None:
        self.conn.put(key, doc)

    def wait(self, key: str, revision: int, timeout: float) -> None:
        self.conn.watch(key, revision + 1, timeout)

    def scan(self, prefix: str) -> dict[str, str]:
        return {kv.key.decode(): kv.value.decode()
                for kv in self.conn.get_prefix(prefix.rstrip("/") + "/")}

    def drop(self, prefix: str) -> None:
        self.conn.delete_prefix(prefix.rstrip("/") + "/")

    def classify(self, e: BaseException) -> Triage:
        return etcd_v3.classify(e)

    def close(self) -> None:
        self.conn.close()


def connect(api: str, address: str, port: int, timeout: float) -> Backend:
    """A plain (no TLS, no auth) backend bound to one member."""
    if api == "v2":
        return V2(etcd_v2.connect(address, port, timeout=timeout))
    if api == "v3":
        return V3(etcd_v3.connect(address, port, timeout=timeout))
    raise ValueError(f"api must be v2 or v3, got {api!r}")


def for_test(test: Mapping[str, Any], node: str) -> Backend:
    """The backend a workload client uses on ``node``, from the test's
    options: its API, and on v3 the TLS and auth the other clients use."""
    if test.get("options", {}).get("api", "v2") == "v3":
        return V3(open_connection(test, node))
    address, port = node_endpoint(test, node)
    return V2(etcd_v2.connect(address, port, timeout=test["op_timeout"]))
