"""etcd's v3 JSON gateway from an event loop: the same requests as
:mod:`pyharness.etcd.v3`, for clients that run hundreds of ops at once.

A thread per client with blocking HTTP spends its CPU on thread switches and
the GIL, and slows down as workers are added. Here every logical client is a
coroutine on one event loop with one kept-alive connection of its own to its
member (:mod:`pyharness.etcd.http1`), so a client still means one
connection, as in the threaded clients.

What "maybe happened" means does not change. Nothing is retried, and
:func:`classify` sorts the failures the way :func:`pyharness.etcd.v3.classify`
sorts urllib3's:

- connecting failed (refused, unreachable, connect timeout, the server's
  certificate rejected): the request never left, ``definite``;
- a timeout waiting for the answer, a connection closed or reset
  mid-request, a broken answer: it may have been applied, not definite;
- an error answer from etcd: exactly as in :mod:`pyharness.etcd.v3`.
"""

from __future__ import annotations

import ssl
from typing import Any

import orjson

from pyharness.etcd import http1
from pyharness.etcd import v3 as etcd_v3
from pyharness.etcd.triage import Triage
from pyharness.etcd.v3 import API_PREFIX, KV, TLS, EtcdV3Error, TxnResult


def _ssl_context(tls: TLS) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=tls.ca)
    if tls.cert:
        ctx.load_cert_chain(tls.cert, tls.key)
    return ctx


class AsyncConnection:
    """A v3 connection bound to one member, for one coroutine at a time.
    Each method sends one request and raises on any error."""

    def __init__(self, address: str, port: int = 2379, timeout: float = 1.0,
                 tls: TLS | None = None, prefix: str = API_PREFIX) -> None:
        self.prefix = prefix.rstrip("/")
        self.token: str | None = None
        self._auth = b""
        self._http = http1.Connection(address, port, timeout=timeout, connect_timeout=timeout,
                                      ssl_context=_ssl_context(tls) if tls is not None else None)

    async def close(self) -> None:
        self._http.close()

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, data = await self._http.post(self.prefix + path, orjson.dumps(body),
                                             self._auth)
        try:
            answer = orjson.loads(data) if data else {}
        except orjson.JSONDecodeError:
            answer = None
        if status != 200 or not isinstance(answer, dict):
            if isinstance(answer, dict):
                code = answer.get("code")
                msg = str(answer.get("message") or answer.get("error") or "")
                raise EtcdV3Error(status, int(code) if code is not None else None, msg)
            raise EtcdV3Error(status, None, data[:200].decode(errors="replace"))
        return answer

    async def authenticate(self, user: str, password: str) -> None:
        self.token = str((await self.call("/auth/authenticate",
                                          {"name": user, "password": password}))["token"])
        if "\r" in self.token or "\n" in self.token:
            raise EtcdV3Error(200, None, "the auth token holds a line break")
        self._auth = f"Authorization: {self.token}\r\n".encode()

    async def get(self, key: etcd_v3.Bytes, serializable: bool = False) -> KV | None:
        return etcd_v3.first_kv(await self.call(*etcd_v3.range_request(key, serializable)))

    async def put(self, key: etcd_v3.Bytes, value: etcd_v3.Bytes) -> int:
        return etcd_v3.revision_of(await self.call(*etcd_v3.put_request(key, value)))

    async def txn(self, compare: list[dict[str, Any]], success: list[dict[str, Any]],
                  failure: list[dict[str, Any]] | None = None) -> TxnResult:
        return etcd_v3.txn_result(await self.call(*etcd_v3.txn_request(compare, success,
                                                                       failure)))


def classify(e: BaseException) -> Triage:
    """Did a failed request certainly have no effect? See the module docstring."""
    if isinstance(e, http1.CertificateRejected):
        return Triage(True, ["tls-failed", str(e)[:200]])
    if isinstance(e, http1.ConnectFailed):
        return Triage(True, ["connect-failed", str(e)[:200]])
    if isinstance(e, http1.ResponseTimeout | TimeoutError):
        return Triage(False, ["timeout"])
    if isinstance(e, http1.ConnectionLost | http1.BadResponse | OSError):
        return Triage(False, ["connection-lost", str(e)[:200]])
    if isinstance(e, EtcdV3Error):
        return etcd_v3.classify(e)
    return Triage(False, [type(e).__name__, str(e)[:200]])
