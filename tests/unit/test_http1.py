"""The event loop's HTTP/1.1 client, held to aiohttp.

Against a real etcd, the same requests give the same status and the same
answer through both. Against scripted servers, the shapes an HTTP/1.1 server
may use (chunked bodies, answers split anywhere, ``Connection: close``, an
idle connection closed by the server) are read as aiohttp reads them, and
each failure lands on the side of "maybe happened" that its timing says.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from pyharness.etcd import http1
from tests.conftest import LocalEtcd, free_port


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


async def _aiohttp_post(port: int, path: str, body: bytes,
                        headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as s, \
            s.post(f"http://127.0.0.1:{port}{path}", data=body,
                   headers={"Content-Type": "application/json", **(headers or {})}) as r:
        return r.status, await r.read()


def _answer(body: bytes) -> Any:
    """An answer with the parts that differ between two requests (the
    revision, the raft term) taken out; a text answer as it is."""
    try:
        d = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(d, dict):
        return d
    d.pop("header", None)
    for kv in d.get("kvs", []):
        for k in ("create_revision", "mod_revision", "version"):
            kv.pop(k, None)
    return d


# etcd's own answers: ok, an etcd error (bad base64), a gateway 404, a txn.
REQUESTS = [
    ("/v3/kv/put", {"key": _b64("k1"), "value": _b64("v1")}),
    ("/v3/kv/range", {"key": _b64("k1")}),
    ("/v3/kv/range", {"key": "not base64!"}),
    ("/v3/kv/txn", {"compare": [{"key": _b64("k1"), "result": "EQUAL", "target": "VALUE",
                                 "value": _b64("v1")}],
                    "success": [{"request_range": {"key": _b64("k1")}}]}),
    ("/v3/no/such/path", {}),
    ("/v3/kv/range", {"key": _b64("k"), "range_end": _b64("l")}),
]


def test_same_answers_as_aiohttp_from_a_real_etcd(local_etcd: LocalEtcd) -> None:
    async def go() -> list[tuple[tuple[int, Any], tuple[int, Any]]]:
        c = http1.Connection("127.0.0.1", local_etcd.port, timeout=5, connect_timeout=5)
        pairs = []
        try:
            for path, body in REQUESTS:
                raw = orjson.dumps(body)
                ours = await c.post(path, raw)
                theirs = await _aiohttp_post(local_etcd.port, path, raw)
                pairs.append(((ours[0], _answer(ours[1])), (theirs[0], _answer(theirs[1]))))
        finally:
            c.close()
        return pairs
    pairs = _run(go())
    for ours, theirs in pairs:
        assert ours == theirs
    assert {p[0][0] for p in pairs} >= {200, 400, 404}  # error answers are read too


def test_many_requests_on_one_connection(local_etcd: LocalEtcd) -> None:
    async def go() -> tuple[list[bytes], int]:
        c = http1.Connection("127.0.0.1", local_etcd.port, timeout=5, connect_timeout=5)
        got = []
        for i in range(200):
            await c.post("/v3/kv/put", orjson.dumps({"key": _b64("many"),
                                                     "value": _b64(str(i))}))
            proto = c._proto
            _, body = await c.post("/v3/kv/range", orjson.dumps({"key": _b64("many")}))
            assert c._proto is proto  # kept alive: no reconnect
            got.append(base64.b64decode(orjson.loads(body)["kvs"][0]["value"]))
        c.close()
        return got, len(got)
    got, n = _run(go())
    assert got == [str(i).encode() for i in range(n)]


# --- scripted servers --------------------------------------------------------

Script = Callable[[socket.socket], None]


@pytest.fixture
def server() -> Iterator[Callable[[Script], int]]:
    """Serve each accepted connection with a script, in a thread; the port."""
    socks: list[socket.socket] = []

    def start(script: Script) -> int:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        socks.append(s)

        def accept() -> None:
            while True:
                try:
                    peer, _ = s.accept()
                except OSError:
                    return
                threading.Thread(target=_serve, args=(script, peer), daemon=True).start()
        threading.Thread(target=accept, daemon=True).start()
        return int(s.getsockname()[1])
    yield start
    for s in socks:
        s.close()


def _serve(script: Script, peer: socket.socket) -> None:
    with peer, contextlib.suppress(OSError):  # a script may leave a broken socket
        script(peer)


def _read_request(peer: socket.socket) -> bytes:
    """One request, read up to the end of its body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = peer.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += peer.recv(65536)
    return data


BODY = b'{"header":{"revision":"7"},"kvs":[{"key":"aw==","value":"dg=="}],"count":"1"}'


def _both(port: int) -> tuple[tuple[int, bytes], tuple[int, bytes]]:
    async def go() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        c = http1.Connection("127.0.0.1", port, timeout=5, connect_timeout=5)
        try:
            ours = await c.post("/v3/kv/range", b"{}")
        finally:
            c.close()
        return ours, await _aiohttp_post(port, "/v3/kv/range", b"{}")
    return _run(go())  # type: ignore[no-any-return]


def test_chunked_answer_split_byte_by_byte(server: Callable[[Script], int]) -> None:
    def chunked(peer: socket.socket) -> None:
        _read_request(peer)
        parts = [BODY[:10], BODY[10:11], BODY[11:]]
        raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" \
              b"Transfer-Encoding: chunked\r\n\r\n" + \
              b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
        for i in range(len(raw)):  # every byte its own segment
            peer.sendall(raw[i:i + 1])
    ours, theirs = _both(server(chunked))
    assert ours == theirs == (200, BODY)


def test_connection_close_answer_then_a_fresh_connection(
        server: Callable[[Script], int]) -> None:
    served: list[int] = []

    def close_after(peer: socket.socket) -> None:
        _read_request(peer)
        served.append(1)
        peer.sendall(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY))

    port = server(close_after)

    async def go() -> list[tuple[int, bytes]]:
        c = http1.Connection("127.0.0.1", port, timeout=5, connect_timeout=5)
        got = [await c.post("/x", b"{}"), await c.post("/x", b"{}")]
        c.close()
        return got
    assert _run(go()) == [(503, BODY), (503, BODY)]
    assert len(served) == 2  # the second request went on a new connection


def test_idle_connection_closed_by_the_server_is_reopened(
        server: Callable[[Script], int]) -> None:
    def one_then_close(peer: socket.socket) -> None:
        _read_request(peer)
        peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
        # keep-alive was promised; the server closes while the client is idle

    port = server(one_then_close)

    async def go() -> list[tuple[int, bytes]]:
        c = http1.Connection("127.0.0.1", port, timeout=5, connect_timeout=5)
        first = await c.post("/x", b"{}")
        await asyncio.sleep(0.2)  # the close arrives while idle
        second = await c.post("/x", b"{}")
        c.close()
        return [first, second]
    assert _run(go()) == [(200, BODY), (200, BODY)]


def _failure(port: int, timeout: float = 5.0) -> BaseException:
    async def go() -> BaseException:
        c = http1.Connection("127.0.0.1", port, timeout=timeout, connect_timeout=timeout)
        try:
            await c.post("/x", b"{}")
        except Exception as e:
            return e
        finally:
            c.close()
        raise AssertionError("the request succeeded")
    return _run(go())  # type: ignore[no-any-return]


def test_each_failure_is_told_apart_by_when_it_happened(
        server: Callable[[Script], int]) -> None:
    assert isinstance(_failure(free_port()), http1.ConnectFailed)

    def hang(peer: socket.socket) -> None:
        _read_request(peer)
        threading.Event().wait(3)
    assert isinstance(_failure(server(hang), timeout=0.3), http1.ResponseTimeout)

    def half(peer: socket.socket) -> None:
        _read_request(peer)
        peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\":")
    assert isinstance(_failure(server(half)), http1.ConnectionLost)

    def reset(peer: socket.socket) -> None:
        _read_request(peer)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert isinstance(_failure(server(reset)), http1.ConnectionLost)

    def garbage(peer: socket.socket) -> None:
        _read_request(peer)
        peer.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        threading.Event().wait(1)
    assert isinstance(_failure(server(garbage)), http1.BadResponse)


def test_a_timed_out_connection_is_not_reused(server: Callable[[Script], int]) -> None:
    """A late answer to a timed-out request must never be taken for the next one's."""
    def slow_first(peer: socket.socket) -> None:
        _read_request(peer)
        threading.Event().wait(0.5)
        peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate")
        _read_request(peer)
        peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")

    def fast(peer: socket.socket) -> None:
        _read_request(peer)
        peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")

    scripts = iter([slow_first, fast])
    port = server(lambda peer: next(scripts)(peer))

    async def go() -> tuple[BaseException | None, tuple[int, bytes]]:
        c = http1.Connection("127.0.0.1", port, timeout=0.2, connect_timeout=1)
        err: BaseException | None = None
        try:
            await c.post("/x", b"{}")
        except http1.ResponseTimeout as e:
            err = e
        c.timeout = 2  # asked again before the late answer comes
        got = await c.post("/x", b"{}")
        c.close()
        return err, got
    err, got = _run(go())
    assert isinstance(err, http1.ResponseTimeout)
    assert got == (200, b"fresh")
