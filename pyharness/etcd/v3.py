"""etcd's v3 API through its JSON gateway, one request per call, and error triage.

etcd serves its v3 gRPC API on the client port, and beside it a JSON gateway:
``POST /v3/kv/range``, ``/v3/kv/put``, ``/v3/kv/txn`` with base64 keys and
values. The gateway is inside the etcd process and forwards each request once
to the local gRPC server, so a request here is exactly one KV call. etcd 3.4
serves it at ``/v3/`` (and the older ``/v3beta/``), 3.5 and 3.6 at ``/v3/``
only: ``/v3`` is right for every release this suite installs.

Why HTTP and not a gRPC client: to tell *definite* from *indeterminate*
failures we must know whether the request reached etcd. Over HTTP we see it
directly (refused or connect timeout: it never left; read timeout or reset:
it may have been applied). A gRPC client folds both into ``UNAVAILABLE`` and
retries underneath. Every request is sent once, with urllib3's retries off
(as in :mod:`pyharness.etcd.v2`); retrying is the caller's recorded decision.

The v3 data model in three lines: every write bumps the store's
``revision``; each key remembers ``create_revision`` (0 when absent),
``mod_revision`` (revision of its last write) and ``version``. A transaction
(``txn``) checks a list of compares, then runs ``success`` or ``failure``
ops atomically: compare-and-set is a txn on ``mod_revision`` or on the value.

Reads are linearizable unless ``serializable=True``, which answers from the
member's local state without consulting the leader: faster, possibly stale.

:func:`classify` sorts what can go wrong, as :func:`etcd_v2.classify` does:

- ``definite``: the request certainly had no effect (refused, connect
  timeout, TLS verification failure, a request etcd rejected before or at
  apply: bad argument, permission, quota);
- otherwise it may have had an effect (read timeout, connection lost,
  ``etcdserver: request timed out``, leader changes, anything unknown).
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from pyharness.etcd.triage import Triage

API_PREFIX = "/v3"

# gRPC status codes (the gateway's JSON errors carry them as "code") for
# which etcd refuses the request before proposing it or rejects it when
# applying: either way the store is unchanged.
_DEFINITE_CODES = {
    3: "invalid-argument",     # e.g. "key is not provided", "request is too large"
    5: "not-found",
    7: "permission-denied",    # auth is checked when the entry is applied
    8: "resource-exhausted",   # "too many requests" (before proposing), "no space"
    9: "failed-precondition",
    11: "out-of-range",        # "required revision has been compacted"
    12: "unimplemented",
    16: "unauthenticated",     # "invalid auth token"
}


@dataclass(frozen=True)
class TLS:
    """Client-side TLS: the CA that signed etcd's certificate, and optionally
    this client's certificate and key (for ``--client-cert-auth`` clusters)."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class KV:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int


@dataclass(frozen=True)
class TxnResult:
    succeeded: bool
    revision: int
    # For each op of the branch that ran, the kvs a range returned ([] for puts).
    ranges: list[list[KV]]


@dataclass
class WatchEvent:
    revision: int  # the event's mod_revision (a delete's: the deleting revision)
    type: str  # PUT or DELETE
    key: bytes
    value: bytes
    create_revision: int
    version: int
    prev_value: bytes | None = None


@dataclass
class WatchAnswer:
    """What one watch delivered: its events in arrival order, the store's
    revision when it was created, and the compacted revision if etcd refused
    the start revision as compacted (the documented answer, not an error)."""

    start_revision: int
    created_revision: int | None = None
    events: list[WatchEvent] = field(default_factory=list)
    compact_revision: int | None = None
    # Progress notifications, as (events delivered before it, its revision).
    progress: list[tuple[int, int]] = field(default_factory=list)
    splits: list[int] = field(default_factory=list)  # where each response's events begin
    arrived_ms: list[int] = field(default_factory=list)  # each of those, since the watch began


def _watch_message(msg: dict[str, Any], answer: WatchAnswer, status: int) -> bool:
    """Fold one streamed message into ``answer``; True when the watch ended."""
    if "error" in msg:
        err = msg["error"]
        raise EtcdV3Error(status, err.get("grpc_code") or err.get("code"),
                          str(err.get("message", "")))
    result = msg.get("result", {})
    header_rev = int(result.get("header", {}).get("revision", 0))
    if result.get("created"):
        answer.created_revision = header_rev
    compacted = int(result.get("compact_revision", 0))
    if compacted:
        answer.compact_revision = compacted
        return True
    events = result.get("events") or []
    if events:
        answer.splits.append(len(answer.events))
    for ev in events:
        kv = ev.get("kv", {})
        prev = ev.get("prev_kv")
        answer.events.append(WatchEvent(
            revision=int(kv.get("mod_revision", 0)), type=ev.get("type", "PUT"),
            key=base64.b64decode(kv.get("key", "")), value=base64.b64decode(kv.get("value", "")),
            create_revision=int(kv.get("create_revision", 0)),
            version=int(kv.get("version", 0)),
            prev_value=base64.b64decode(prev.get("value", "")) if prev else None))
    if not events and not result.get("created") and not result.get("canceled") and header_rev:
        answer.progress.append((len(answer.events), header_rev))
    return bool(result.get("canceled"))


class EtcdV3Error(Exception):
    """An error answer from etcd (or something at its address that is not
    the gateway). ``code`` is the gRPC status code when etcd sent one."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"HTTP {status}, code {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


Bytes = str | bytes


def _b(x: Bytes) -> bytes:
    return x.encode() if isinstance(x, str) else x


def _enc(x: Bytes) -> str:
    return base64.b64encode(_b(x)).decode("ascii")


def _kv(d: dict[str, Any]) -> KV:
    # The gateway omits zero values: an empty value or version 0 is absent.
    return KV(key=base64.b64decode(d.get("key", "")),
              value=base64.b64decode(d.get("value", "")),
              create_revision=int(d.get("create_revision", 0)),
              mod_revision=int(d.get("mod_revision", 0)),
              version=int(d.get("version", 0)))


# Transaction building blocks, as the gateway's JSON spells them. Numbers are
# sent as strings: proto3 JSON encodes int64 that way and accepts it back.

def prefix_end(prefix: bytes) -> bytes:
    """The smallest key after every key starting with ``prefix`` (etcd's
    ``range_end`` for a prefix read)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"  # every key


def compare_mod_revision(key: Bytes, revision: int) -> dict[str, Any]:
    return {"key": _enc(key), "result": "EQUAL", "target": "MOD",
            "mod_revision": str(revision)}


def compare_absent(key: Bytes) -> dict[str, Any]:
    """True iff the key does not exist (it was never created, or deleted)."""
    return {"key": _enc(key), "result": "EQUAL", "target": "CREATE", "create_revision": "0"}


def compare_value(key: Bytes, value: Bytes) -> dict[str, Any]:
    """True iff the key exists and holds ``value`` (false when absent)."""
    return {"key": _enc(key), "result": "EQUAL", "target": "VALUE", "value": _enc(value)}


def put_op(key: Bytes, value: Bytes) -> dict[str, Any]:
    return {"request_put": {"key": _enc(key), "value": _enc(value)}}


def range_op(key: Bytes) -> dict[str, Any]:
    return {"request_range": {"key": _enc(key)}}


# Requests as data (gateway path, JSON body) and their answers parsed: one
# spelling for the blocking connection, the event-loop one, and the clients
# that yield requests for either to send (see pyharness.gen.client.run_steps).
Request = tuple[str, dict[str, Any]]


def range_request(key: Bytes, serializable: bool = False) -> Request:
    body: dict[str, Any] = {"key": _enc(key)}
    if serializable:
        body["serializable"] = True
    return "/kv/range", body


def prefix_body(prefix: Bytes) -> dict[str, Any]:
    """A range or deleterange body covering every key starting with ``prefix``."""
    return {"key": _enc(prefix), "range_end": _enc(prefix_end(_b(prefix)))}


def kvs(answer: dict[str, Any]) -> list[KV]:
    """A range answer's keys."""
    return [_kv(kv) for kv in answer.get("kvs", [])]


def first_kv(answer: dict[str, Any]) -> KV | None:
    """A range answer's only key, or None when absent."""
    kvs = answer.get("kvs", [])
    return _kv(kvs[0]) if kvs else None


def put_request(key: Bytes, value: Bytes) -> Request:
    return "/kv/put", {"key": _enc(key), "value": _enc(value)}


def revision_of(answer: dict[str, Any]) -> int:
    return int(answer["header"]["revision"])


def txn_request(compare: list[dict[str, Any]], success: list[dict[str, Any]],
                failure: list[dict[str, Any]] | None = None) -> Request:
    return "/kv/txn", {"compare": compare, "success": success, "failure": failure or []}


def txn_result(answer: dict[str, Any]) -> TxnResult:
    ranges = [[_kv(kv) for kv in resp.get("response_range", {}).get("kvs", [])]
              for resp in answer.get("responses", [])]
    return TxnResult(succeeded=bool(answer.get("succeeded", False)),
                     revision=revision_of(answer), ranges=ranges)


class Connection:
    """A v3 connection bound to one member. Each method sends one request
    and raises on any error; nothing is retried. Not thread-safe: one per
    client thread, as the interpreter uses them."""

    def __init__(self, address: str, port: int = 2379, timeout: float = 1.0,
                 connect_timeout: float | None = None, tls: TLS | None = None,
                 prefix: str = API_PREFIX) -> None:
        self.prefix = prefix.rstrip("/")
        self.token: str | None = None
        t = urllib3.Timeout(connect=connect_timeout or timeout, read=timeout)
        self.pool: urllib3.HTTPConnectionPool
        if tls is None:
            self.pool = urllib3.HTTPConnectionPool(address, port, timeout=t, maxsize=1,
                                                   retries=False)
        else:
            self.pool = urllib3.HTTPSConnectionPool(
                address, port, timeout=t, maxsize=1, retries=False,
                cert_reqs="CERT_REQUIRED", ca_certs=tls.ca, cert_file=tls.cert,
                key_file=tls.key)

    def close(self) -> None:
        self.pool.close()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.token is not None:
            headers["Authorization"] = self.token
        return headers

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST one gateway request, e.g. ``call("/kv/range", {...})``."""
        r = self.pool.urlopen("POST", self.prefix + path, body=json.dumps(body).encode(),
                              headers=self._headers(), retries=False, redirect=False)
        try:
            answer = json.loads(r.data) if r.data else {}
        except ValueError:
            answer = None
        if r.status != 200 or not isinstance(answer, dict):
            if isinstance(answer, dict):
                code = answer.get("code")
                msg = str(answer.get("message") or answer.get("error") or "")
                raise EtcdV3Error(r.status, int(code) if code is not None else None, msg)
            raise EtcdV3Error(r.status, None, r.data[:200].decode(errors="replace"))
        return answer

    def metrics(self) -> str:
        """The member's Prometheus text (``GET /metrics``, beside the API)."""
        r = self.pool.urlopen("GET", "/metrics", retries=False, redirect=False)
        if r.status != 200:
            raise EtcdV3Error(r.status, None, r.data[:200].decode(errors="replace"))
        return r.data.decode(errors="replace")

    def authenticate(self, user: str, password: str) -> None:
        """Get a token for an auth-enabled cluster; later calls send it."""
        self.token = str(self.call("/auth/authenticate",
                                   {"name": user, "password": password})["token"])

    def get(self, key: Bytes, serializable: bool = False) -> KV | None:
        """The key's current state, or None when absent."""
        return first_kv(self.call(*range_request(key, serializable)))

    def put(self, key: Bytes, value: Bytes) -> int:
        """Set the key; returns the store revision of the write."""
        return revision_of(self.call(*put_request(key, value)))

    def get_prefix(self, prefix: Bytes) -> list[KV]:
        """Every key starting with ``prefix``, in one linearizable read."""
        return kvs(self.call("/kv/range", prefix_body(prefix)))

    def delete_prefix(self, prefix: Bytes) -> int:
        """Delete every key starting with ``prefix``; returns how many."""
        return int(self.call("/kv/deleterange", prefix_body(prefix)).get("deleted", 0))

    def watch(self, key: Bytes, start_revision: int, timeout: float) -> bool:
        """Wait until ``key`` changes at or after ``start_revision``; False if
        ``timeout`` passed first. True also when that revision was compacted
        away: the caller re-reads either way."""
        body = {"create_request": {"key": _enc(key), "start_revision": str(start_revision)}}
        answer = WatchAnswer(start_revision=start_revision)
        with contextlib.closing(self._stream(body, timeout)) as messages:
            for msg, status in messages:
                if _watch_message(msg, answer, status) or answer.events:
                    return True
        return False

    def _stream(self, body: dict[str, Any], window_s: float
                ) -> Iterator[tuple[dict[str, Any], int]]:
        """One watch's messages as they arrive, with the HTTP status, until
        ``window_s`` is over (the whole window, not one read, is bounded).

        The gateway streams one JSON object per line on a chunked response
        that never ends by itself: a stream that ends raises, and the
        connection is closed when the caller is done."""
        t = self.pool.timeout
        assert isinstance(t, urllib3.Timeout)
        deadline = time.monotonic() + window_s
        r = self.pool.urlopen("POST", self.prefix + "/watch", body=json.dumps(body).encode(),
                              headers=self._headers(), retries=False, redirect=False,
                              preload_content=False,
                              timeout=urllib3.Timeout(connect=t.connect_timeout,
                                                      read=max(window_s, 0.01)))
        try:
            if r.status != 200:
                raise EtcdV3Error(r.status, None, r.read(200).decode(errors="replace"))
            buf = b""
            sock = getattr(r.connection, "sock", None)
            while (left := deadline - time.monotonic()) > 0:
                if sock is not None:
                    sock.settimeout(max(left, 0.001))
                try:
                    chunk = r.read1(65536)
                except ReadTimeoutError:
                    return  # a read that timed out ends the stream: the window is over
                if not chunk:
                    raise ProtocolError("watch stream ended")
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    yield json.loads(line), r.status
        finally:
            r.close()
            r.release_conn()

    def delete(self, key: Bytes) -> tuple[int, int]:
        """Delete one key: (how many were deleted, the store revision)."""
        r = self.call("/kv/deleterange", {"key": _enc(key)})
        return int(r.get("deleted", 0)), revision_of(r)

    def compact(self, revision: int, physical: bool = True) -> None:
        """Drop every revision below ``revision`` (physical: wait until it is
        done on this member, as ``etcdctl compact --physical``)."""
        self.call("/kv/compaction", {"revision": str(revision), "physical": physical})

    def watch_events(self, prefix: Bytes, start_revision: int, window_s: float,
                     prev_kv: bool = False, progress_notify: bool = False,
                     filters: Sequence[str] = ()) -> WatchAnswer:
        """Every event on keys under ``prefix`` from ``start_revision`` (0:
        from now) that arrives within ``window_s``, in arrival order.

        A stream that breaks raises, after the events it delivered are kept
        in the exception's ``answer``: what arrived is never hidden."""
        body: dict[str, Any] = {"create_request": {
            "key": _enc(prefix), "range_end": _enc(prefix_end(_b(prefix))),
            "start_revision": str(start_revision), "prev_kv": prev_kv,
            "progress_notify": progress_notify}}
        if filters:  # NOPUT, NODELETE: event types etcd leaves out
            body["create_request"]["filters"] = list(filters)
        answer = WatchAnswer(start_revision=start_revision)
        t0 = time.monotonic()
        try:
            with contextlib.closing(self._stream(body, window_s)) as messages:
                for msg, status in messages:
                    done = _watch_message(msg, answer, status)
                    while len(answer.arrived_ms) < len(answer.splits):
                        answer.arrived_ms.append(round((time.monotonic() - t0) * 1000))
                    if done:
                        break
            return answer
        except Exception as e:
            e.answer = answer  # type: ignore[attr-defined]
            raise

    def txn(self, compare: list[dict[str, Any]], success: list[dict[str, Any]],
            failure: list[dict[str, Any]] | None = None) -> TxnResult:
        return txn_result(self.call(*txn_request(compare, success, failure)))


def connect(address: str, port: int = 2379, timeout: float = 1.0,
            connect_timeout: float | None = None, tls: TLS | None = None) -> Connection:
    """A connection bound to one member (opened lazily, on the first call)."""
    return Connection(address, port, timeout=timeout, connect_timeout=connect_timeout, tls=tls)


def classify(e: BaseException) -> Triage:
    """Did a failed request certainly have no effect? See the module docstring."""
    # NewConnectionError (refused, unreachable, DNS) subclasses ConnectTimeoutError.
    if isinstance(e, ConnectTimeoutError):
        return Triage(True, ["connect-failed", type(e).__name__])
    if isinstance(e, ReadTimeoutError):
        return Triage(False, ["timeout"])
    if isinstance(e, SSLError):
        # Verifying the server's certificate fails in the handshake, before
        # any request is written. Other TLS errors may come mid-response.
        cause = e.args[0] if e.args else None
        if isinstance(cause, ssl.SSLCertVerificationError | ssl.CertificateError):
            return Triage(True, ["tls-failed", str(e)[:200]])
        return Triage(False, ["tls-error", str(e)[:200]])
    if isinstance(e, ProtocolError):
        return Triage(False, ["connection-lost", str(e)[:200]])
    if isinstance(e, EtcdV3Error):
        if e.code in _DEFINITE_CODES:
            return Triage(True, [_DEFINITE_CODES[e.code], e.message[:200]])
        if e.code is None and 400 <= e.status < 500:
            # Not a gateway answer (wrong path, wrong server): nothing ran.
            return Triage(True, [f"http-{e.status}", e.message[:200]])
        # "request timed out", "leader changed", "no leader", "stopped"...:
        # the proposal may still be committed later.
        return Triage(False, ["etcd-error", e.code, e.message[:200]])
    return Triage(False, [type(e).__name__, str(e)[:200]])
