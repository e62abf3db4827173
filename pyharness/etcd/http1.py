"""HTTP/1.1 for clients on the event loop: one connection, one request at a
time, kept alive.

aiohttp spent about 0.1 ms of CPU on every request (request and response
objects, header multidicts, payloads, timers), which was most of what the
driver paid for an op at thousands of ops/s. The v3 gateway needs none of
it: a client owns one connection and sends a POST with a JSON body, one at a
time. So this module writes the request's bytes itself and leaves reading the
answer to httptools (llhttp, the parser of Node.js and uvicorn), which
handles Content-Length and chunked bodies and says whether the connection
stays open. ``tests/unit/test_http1.py`` holds it to aiohttp on the same
requests.

It never retries and never sends a request twice. What went wrong is told
apart by when it happened, which is what "maybe happened" needs:

- :class:`ConnectFailed` (:class:`CertificateRejected` for a server
  certificate that TLS rejects): no connection, so the request never left;
- :class:`ResponseTimeout`: sent, and no complete answer in time;
- :class:`ConnectionLost`: sent, and the connection closed or broke before
  the answer was complete;
- :class:`BadResponse`: the answer is not HTTP.

A connection that the server closed while idle is reopened before the next
request is written, so that case is a connect, not a lost request.
"""

from __future__ import annotations

import asyncio
import ssl

import httptools


class HTTPError(Exception):
    """A request that got no answer; the subclass says why."""


class ConnectFailed(HTTPError):
    """The connection could not be made: the request was not sent."""


class CertificateRejected(ConnectFailed):
    """TLS rejected the server's certificate: the request was not sent."""


class ResponseTimeout(HTTPError):
    """The request was sent and no complete answer came in time."""


class ConnectionLost(HTTPError):
    """The request was sent and the connection ended before the answer did."""


class BadResponse(HTTPError):
    """What came back is not an HTTP answer."""


class _Protocol(asyncio.Protocol):
    """Feeds what arrives to the parser and hands the finished answer to
    the request waiting for it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.chunks: list[bytes] = []
        self.reusable = True  # until the server says close, or anything goes wrong

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(BadResponse(f"not an HTTP answer: {e}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionLost(f"connection closed: {exc}" if exc is not None
                                  else "connection closed by the server"))

    # httptools' callbacks
    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self.chunks)
        self.chunks = []
        if not self.parser.should_keep_alive():
            self.reusable = False
        waiter, self.waiter = self.waiter, None
        if waiter is None:  # an answer nobody asked for: the stream is out of step
            self._fail(BadResponse("an answer with no request"))
        elif not waiter.done():
            waiter.set_result((self.parser.get_status_code(), body))

    def _fail(self, e: HTTPError) -> None:
        self.reusable = False
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(e)
        if self.transport is not None:
            self.transport.close()


class Connection:
    """One HTTP/1.1 connection to ``host:port`` for one coroutine at a time.

    ``connect_timeout`` bounds making the connection (and the TLS handshake);
    ``timeout`` bounds the wait for each answer after the request is sent."""

    def __init__(self, host: str, port: int, *, timeout: float, connect_timeout: float,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.host, self.port = host, port
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.ssl_context = ssl_context
        self._proto: _Protocol | None = None
        self._host_header = f"Host: {host}:{port}\r\n".encode()

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(_Protocol, self.host, self.port, ssl=self.ssl_context),
                self.connect_timeout)
        except ssl.SSLCertVerificationError as e:
            raise CertificateRejected(f"server certificate rejected: {e}") from e
        except TimeoutError as e:
            raise ConnectFailed(f"connect timed out after {self.connect_timeout:g} s") from e
        except OSError as e:  # refused, unreachable, reset, another TLS failure
            raise ConnectFailed(f"{type(e).__name__}: {e}") from e
        return proto

    async def post(self, path: str, body: bytes, headers: bytes = b"") -> tuple[int, bytes]:
        """Send one POST; its (status, body). ``headers``: extra header lines,
        each ending in CRLF."""
        proto = self._proto
        if proto is None or not proto.reusable or proto.transport is None \
                or proto.transport.is_closing():
            self.close()
            proto = self._proto = await self._connect()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        proto.waiter = waiter
        assert proto.transport is not None
        proto.transport.write(b"".join((
            b"POST ", path.encode(), b" HTTP/1.1\r\n", self._host_header,
            b"Content-Type: application/json\r\nContent-Length: ",
            str(len(body)).encode(), b"\r\n", headers, b"\r\n", body)))
        timer = loop.call_later(self.timeout, _time_out, proto, waiter, self.timeout)
        try:
            return await waiter
        except BaseException:
            # A timeout, a break, or this coroutine cancelled: an answer may
            # still arrive, and would be taken for the next request's.
            proto.reusable = False
            self.close()
            raise
        finally:
            timer.cancel()

    def close(self) -> None:
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.close()


def _time_out(proto: _Protocol, waiter: asyncio.Future[tuple[int, bytes]],
              timeout: float) -> None:
    if not waiter.done():
        proto.waiter = None
        waiter.set_exception(ResponseTimeout(f"no answer in {timeout:g} s"))
