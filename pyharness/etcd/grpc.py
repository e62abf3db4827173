"""One gRPC call etcd 3.4's JSON gateway cannot make: ``Maintenance.HashKV``.

etcd 3.4's ``rpc.proto`` maps both ``Hash`` and ``HashKV`` to the gateway
path ``/v3/maintenance/hash``, and the gateway answers it with ``Hash`` (a
hash of the whole backend file, no revision, not comparable across
members); ``/v3/maintenance/hashkv`` is 404 there. 3.5 fixed the path. So on
3.4, HashKV is asked over gRPC itself: one unary call over HTTP/2 (cleartext
with prior knowledge, or TLS with ALPN ``h2``), with the two small protobuf
messages encoded by hand:

- ``HashKVRequest {int64 revision = 1;}``
- ``HashKVResponse {ResponseHeader header = 1; uint32 hash = 2;
  int64 compact_revision = 3;}``, ``ResponseHeader {uint64 cluster_id = 1;
  uint64 member_id = 2; int64 revision = 3; uint64 raft_term = 4;}``

:func:`hashkv` returns the answer shaped as the 3.5 gateway's JSON (int64 as
strings, ``hash`` a number), so callers see one format. Read-only.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import h2.config
import h2.connection
import h2.events

from pyharness.etcd.v3 import TLS


class GrpcError(Exception):
    """A gRPC error status (``code``, ``message``) or a broken exchange."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"gRPC status {code}: {message}" if code is not None else message)
        self.code = code
        self.message = message


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 two's complement, as protobuf sends negatives
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(data: bytes) -> dict[int, Any]:
    """The fields of a protobuf message: varints as int, length-delimited as bytes."""
    out: dict[int, Any] = {}
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            out[field], i = _read_varint(data, i)
        elif wire == 2:
            n, i = _read_varint(data, i)
            out[field] = data[i:i + n]
            i += n
        elif wire == 5:
            out[field] = int.from_bytes(data[i:i + 4], "little")
            i += 4
        elif wire == 1:
            out[field] = int.from_bytes(data[i:i + 8], "little")
            i += 8
        else:
            raise GrpcError(None, f"unexpected protobuf wire type {wire}")
    return out


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if i >= len(data):
            raise GrpcError(None, "truncated protobuf varint")
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _signed(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


def encode_hashkv_request(revision: int) -> bytes:
    return b"\x08" + _varint(revision) if revision else b""


def decode_hashkv_response(msg: bytes) -> dict[str, Any]:
    f = _fields(msg)
    h = _fields(f.get(1, b""))
    header = {"cluster_id": str(h.get(1, 0)), "member_id": str(h.get(2, 0)),
              "revision": str(_signed(h.get(3, 0))), "raft_term": str(h.get(4, 0))}
    return {"header": header, "hash": int(f.get(2, 0)),
            "compact_revision": str(_signed(f.get(3, 0)))}


def unary(address: str, port: int, method: str, request: bytes, timeout: float = 5.0,
          tls: TLS | None = None, token: str | None = None) -> bytes:
    """One unary gRPC call, e.g. ``/etcdserverpb.Maintenance/HashKV``; the response message."""
    sock: socket.socket = socket.create_connection((address, port), timeout=timeout)
    try:
        if tls is not None:
            ctx = ssl.create_default_context(cafile=tls.ca)
            if tls.cert:
                ctx.load_cert_chain(tls.cert, tls.key)
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname=address)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        sid = conn.get_next_available_stream_id()
        headers = [
            (":method", "POST"), (":scheme", "https" if tls is not None else "http"),
            (":path", method), (":authority", f"{address}:{port}"),
            ("content-type", "application/grpc"), ("te", "trailers")]
        if token is not None:  # an auth-enabled cluster's token, as etcd's clients send it
            headers.append(("token", token))
        conn.send_headers(sid, headers)
        conn.send_data(sid, b"\x00" + len(request).to_bytes(4, "big") + request,
                       end_stream=True)
        sock.sendall(conn.data_to_send())
        body = bytearray()
        status: dict[str, str] = {}
        done = False
        while not done:
            chunk = sock.recv(65536)
            if not chunk:
                raise GrpcError(None, "connection closed before the gRPC answer ended")
            for ev in conn.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived | h2.events.TrailersReceived):
                    for k, v in ev.headers:
                        key = k.decode() if isinstance(k, bytes) else k
                        status[key] = v.decode() if isinstance(v, bytes) else v
                elif isinstance(ev, h2.events.DataReceived):
                    body += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded | h2.events.StreamReset):
                    done = True
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
        code = int(status.get("grpc-status", "-1"))
        if code != 0:
            raise GrpcError(code if code >= 0 else None,
                            status.get("grpc-message", f"HTTP {status.get(':status')}"))
        if len(body) < 5:
            raise GrpcError(None, "empty gRPC answer")
        n = int.from_bytes(body[1:5], "big")
        return bytes(body[5:5 + n])
    finally:
        sock.close()


def hashkv(address: str, port: int, revision: int, timeout: float = 5.0,
           tls: TLS | None = None, token: str | None = None) -> dict[str, Any]:
    """``Maintenance.HashKV`` at ``revision`` (0: the member's current one)."""
    msg = unary(address, port, "/etcdserverpb.Maintenance/HashKV",
                encode_hashkv_request(revision), timeout, tls, token)
    return decode_hashkv_response(msg)
