"""Where a client finds a member, and how it opens a connection to it: a v3
connection, or a backend of the KV interface (:mod:`pyharness.etcd.kv`) on
the test's API.

Below both :mod:`pyharness.workloads` and :mod:`pyharness.varstore`, which
both open connections from a test's ``nodes`` and ``options``: living in
either would make the two import each other.

Test options read here: ``tls_ca``, ``tls_cert``, ``tls_key`` (paths on the
driver's machine; any of them switches the scheme to https), and
``auth_user`` with ``auth_password_file``; ``api``; ``serializable``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyharness.etcd import v3 as etcd_v3

if TYPE_CHECKING:
    from pyharness.etcd import kv
    from pyharness.etcd.v3_async import AsyncConnection


def node_endpoint(test: Mapping[str, Any], node: str) -> tuple[str, int]:
    """The member's client address and port, from ``test["nodes"]``."""
    n = test["nodes"][node]
    return n["address"], int(n["client_port"])


def tls_options(options: Mapping[str, Any]) -> etcd_v3.TLS | None:
    ca, cert, key = (options.get(k) for k in ("tls_ca", "tls_cert", "tls_key"))
    if not (ca or cert or key):
        return None
    return etcd_v3.TLS(ca=ca, cert=cert, key=key)


def open_connection(test: Mapping[str, Any], node: str) -> etcd_v3.Connection:
    """A v3 connection to ``node`` with the test's TLS and authentication."""
    options = test.get("options", {})
    address, port = node_endpoint(test, node)
    conn = etcd_v3.connect(address, port, timeout=test["op_timeout"], tls=tls_options(options))
    if options.get("auth_user"):
        # The password stays in its file: test.json records only the path.
        password = Path(options["auth_password_file"]).read_text().strip()
        conn.authenticate(str(options["auth_user"]), password)
    return conn


async def open_async_connection(test: Mapping[str, Any], node: str) -> AsyncConnection:
    """:func:`open_connection` for the event loop's clients."""
    from pyharness.etcd.v3_async import AsyncConnection

    options = test.get("options", {})
    address, port = node_endpoint(test, node)
    conn = AsyncConnection(address, port, timeout=test["op_timeout"], tls=tls_options(options))
    if options.get("auth_user"):
        password = Path(options["auth_password_file"]).read_text().strip()
        await conn.authenticate(str(options["auth_user"]), password)
    return conn


def serializable(test: Mapping[str, Any]) -> bool:
    """``--serializable``: v3 reads may be answered from a member's own state."""
    return bool(test.get("options", {}).get("serializable", False))


def connect_kv(api: str, address: str, port: int, timeout: float) -> kv.KV:
    """A plain (no TLS, no auth) KV backend bound to one member."""
    if api == "v2":
        from pyharness.etcd import kv_v2

        return kv_v2.connect(address, port, timeout)
    if api == "v3":
        from pyharness.etcd import kv_v3

        return kv_v3.connect(address, port, timeout)
    raise ValueError(f"api must be v2 or v3, got {api!r}")


def open_kv(test: Mapping[str, Any], node: str, api: str | None = None) -> kv.KV:
    """The KV backend a client uses on ``node``: on ``api`` (by default the
    test's), and on v3 with the TLS and authentication of :func:`open_connection`."""
    if (api or test.get("options", {}).get("api", "v2")) == "v3":
        from pyharness.etcd import kv_v3

        return kv_v3.V3(open_connection(test, node))
    address, port = node_endpoint(test, node)
    return connect_kv("v2", address, port, test["op_timeout"])


async def open_async_kv(test: Mapping[str, Any], node: str) -> kv.AsyncKV:
    """:func:`open_kv` for the event loop (v3 only)."""
    from pyharness.etcd import kv_v3

    return kv_v3.AsyncV3(await open_async_connection(test, node))
