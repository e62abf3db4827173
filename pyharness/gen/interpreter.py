"""The interpreter: runs a generator against workers and records.

One worker per client (each bound to one node) plus one nemesis thread. A
worker is a thread for a blocking :class:`~pyharness.gen.client.Client`; for an
:class:`~pyharness.gen.client.AsyncClient` every worker is a coroutine on one
event loop, in one background thread, so that hundreds of ops in flight cost
no more threads. The main thread alone asks the generator for ops, stamps and records
every invocation and completion, and feeds completions back to the generator
with ``update``. Because only the main thread touches the generator and the
history order, the history is a faithful total order of what the driver saw.

An op that completes ``info`` retires its process: the worker reopens its
client and continues as process ``p + concurrency``, as in Jepsen, because an
op of unknown outcome stays concurrent with everything after it.

A worker whose op failed because its member refused the connection (a killed
member: ``error`` ``["connect-failed", ...]``) backs off before its next op,
with jittered exponential delays up to ``connect_backoff_s``: otherwise it
retries at once, and a dead member's instant failures drown the real load.
The backoff happens between ops, in the main thread's scheduling, so every
op in the history was really sent when its invoke says.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from pyharness.gen.client import AsyncClient, Client, Nemesis, exception_error, is_async
from pyharness.gen.generator import LOG, PENDING, SLEEP, Context, Generator, Thread
from pyharness.history import INFO, INVOKE, NEMESIS, HistoryWriter, Op

log = logging.getLogger(__name__)

NS = 1_000_000_000
_POLL_S = 0.5  # longest the main loop blocks without re-checking for a stop
_NEMESIS_JOIN_S = 180.0  # a playbook has its own timeouts; this is a backstop


_BACKOFF_FIRST_S = 0.05


def refused(op: Op) -> bool:
    """A definite failure because the member could not be reached at all."""
    e = op.error
    return op.type == "fail" and isinstance(e, list | tuple) and bool(e) \
        and e[0] == "connect-failed"


class Backoff:
    """Per-thread delays after refused connections: 50 ms doubling up to
    ``max_s``, each drawn at random from its upper half (jitter, so workers on
    one dead member don't retry in lockstep); reset by any other outcome."""

    def __init__(self, max_s: float, rng: random.Random) -> None:
        self.max_s = max_s
        self.rng = rng
        self.streak: dict[Thread, int] = {}

    def after(self, thread: Thread, op: Op) -> float:
        """Seconds ``thread`` waits before its next op, given how ``op`` ended."""
        if self.max_s <= 0 or not refused(op):
            self.streak.pop(thread, None)
            return 0.0
        n = self.streak.get(thread, 0)
        self.streak[thread] = n + 1
        cap = min(self.max_s, _BACKOFF_FIRST_S * 2 ** n)
        return self.rng.uniform(cap / 2, cap)


class GeneratorStuck(RuntimeError):
    """The generator is PENDING with nothing in flight: it can never proceed."""


class _Worker:
    """A thread running one client's ops, one at a time."""

    def __init__(self, thread: Thread, run: Callable[[Op], Op],
                 completions: queue.Queue[tuple[Thread, Op]], stop: threading.Event,
                 clock: Callable[[], int]) -> None:
        self.thread = thread
        self.inbox: queue.Queue[Op | None] = queue.Queue()
        self._run = run
        self._completions = completions
        self._stop = stop
        self._clock = clock
        self._t = threading.Thread(target=self._loop, name=f"worker-{thread}", daemon=True)
        self._t.start()

    def _loop(self) -> None:
        while True:
            op = self.inbox.get()
            if op is None:
                return
            if op.type == SLEEP:
                self._stop.wait(float(op.value))
                done = dataclasses.replace(op)
            else:
                try:
                    done = self._run(op)
                except Exception as e:  # the client didn't classify it: outcome unknown
                    log.exception("worker %s: unhandled error on %s", self.thread, op.f)
                    done = op.completion(INFO, error=exception_error(e))
            done.time = self._clock()
            self._completions.put((self.thread, done))

    def submit(self, op: Op) -> None:
        self.inbox.put(op)

    def stop(self) -> None:
        self.inbox.put(None)

    def join(self, timeout: float) -> None:
        self._t.join(timeout)


class _EventLoop:
    """One asyncio loop in a background thread: the async workers' home."""

    def __init__(self) -> None:
        try:
            import uvloop  # a faster loop where it is installed
            self.loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        except ImportError:
            self.loop = asyncio.new_event_loop()
        self.tasks: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()
        self._pending: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._t = threading.Thread(target=self.loop.run_forever, name="client-loop",
                                   daemon=True)
        self._t.start()

    def spawn(self, coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
        # Ops handed over while the loop has not yet taken the last ones go
        # in the same batch: one wake-up of the loop for them all.
        with self._lock:
            self._pending.append(coro)
            first = len(self._pending) == 1
        if first:
            self.loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        for coro in batch:
            task = self.loop.create_task(coro())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def close(self, runners: list[AsyncClientRunner], timeout: float = 10.0) -> None:
        """Cancel what is in flight (its outcome stays unknown in the
        history), close the clients, and stop the loop."""
        async def shutdown() -> None:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            for r in runners:
                try:
                    await r.close()
                except Exception:  # closing must not mask the real outcome
                    log.debug("closing client failed", exc_info=True)
        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout)
        except Exception:
            log.debug("client loop shutdown", exc_info=True)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._t.join(timeout)
        if not self.loop.is_running():
            self.loop.close()


class _AsyncWorker:
    """A logical client on the event loop: one op at a time, like a thread."""

    def __init__(self, thread: Thread, run: AsyncClientRunner, loop: _EventLoop,
                 completions: queue.Queue[tuple[Thread, Op]],
                 clock: Callable[[], int]) -> None:
        self.thread, self._run, self._loop = thread, run, loop
        self._completions, self._clock = completions, clock

    def submit(self, op: Op) -> None:
        self._loop.spawn(lambda: self._do(op))

    async def _do(self, op: Op) -> None:
        if op.type == SLEEP:
            await asyncio.sleep(float(op.value))
            done = dataclasses.replace(op)
        else:
            try:
                done = await self._run(op)
            except Exception as e:  # the client didn't classify it: outcome unknown
                log.exception("worker %s: unhandled error on %s", self.thread, op.f)
                done = op.completion(INFO, error=exception_error(e))
        done.time = self._clock()
        self._completions.put((self.thread, done))

    def stop(self) -> None:
        pass  # the loop's close cancels what is in flight

    def join(self, timeout: float) -> None:
        pass


class ClientRunner:
    """Owns one thread's client, reopening it when the process changes."""

    def __init__(self, test: Mapping[str, Any], proto: Client, node: str) -> None:
        self.test, self.proto, self.node = test, proto, node
        self.client: Client | None = None
        self.process: int | str | None = None

    def __call__(self, op: Op) -> Op:
        if self.client is None or op.process != self.process:
            if self.client is not None:
                self.client.close(self.test)
            self.client = self.proto.open(self.test, self.node)
            self.process = op.process
        done = self.client.invoke(self.test, op)
        done.node = self.node
        return done

    def close(self) -> None:
        if self.client is not None:
            self.client.close(self.test)


class AsyncClientRunner:
    """:class:`ClientRunner` for an :class:`~pyharness.gen.client.AsyncClient`."""

    def __init__(self, test: Mapping[str, Any], proto: AsyncClient, node: str) -> None:
        self.test, self.proto, self.node = test, proto, node
        self.client: AsyncClient | None = None
        self.process: int | str | None = None

    async def __call__(self, op: Op) -> Op:
        if self.client is None or op.process != self.process:
            if self.client is not None:
                await self.client.close(self.test)
            self.client = await self.proto.open(self.test, self.node)
            self.process = op.process
        done = await self.client.invoke(self.test, op)
        done.node = self.node
        return done

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close(self.test)


def run(test: Mapping[str, Any], gen: Generator, client: Client | AsyncClient,
        nemesis: Nemesis | None,
        nodes: list[str], concurrency: int, history: HistoryWriter, *,
        rng: random.Random, start_ns: int | None = None,
        on_op: Callable[[Op], None] | None = None,
        on_log: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
        connect_backoff_s: float = 1.0) -> None:
    """Run ``gen`` to exhaustion. Returns normally when it is exhausted and
    every op has completed, or raises (KeyboardInterrupt included) leaving
    in-flight ops open in the history: their outcome is unknown."""
    stop = stop or threading.Event()
    t0 = start_ns if start_ns is not None else time.monotonic_ns()

    def clock() -> int:
        return time.monotonic_ns() - t0

    completions: queue.Queue[tuple[Thread, Op]] = queue.Queue()
    runners: list[ClientRunner] = []
    async_runners: list[AsyncClientRunner] = []
    workers: dict[Thread, _Worker | _AsyncWorker] = {}
    event_loop = _EventLoop() if is_async(client) else None
    for i in range(concurrency):
        node = nodes[i % len(nodes)]
        if event_loop is not None:
            ar = AsyncClientRunner(test, client, node)  # type: ignore[arg-type]
            async_runners.append(ar)
            workers[i] = _AsyncWorker(i, ar, event_loop, completions, clock)
        else:
            r = ClientRunner(test, client, node)  # type: ignore[arg-type]
            runners.append(r)
            workers[i] = _Worker(i, r, completions, stop, clock)
    if nemesis is not None:
        nem = nemesis
        workers[NEMESIS] = _Worker(NEMESIS, lambda op: nem.invoke(test, op), completions, stop,
                                   clock)

    processes: dict[Thread, int | str] = {t: t for t in workers}
    owners: dict[int | str, Thread] = {p: t for t, p in processes.items()}
    free: set[Thread] = set(workers)
    backoff = Backoff(connect_backoff_s, random.Random(rng.random()))
    resting: dict[Thread, int] = {}  # thread -> clock() at which it may run again

    def wake() -> float | None:
        """Free the threads whose backoff is over; seconds to the next one."""
        now = clock()
        for t in [t for t, until in resting.items() if until <= now]:
            del resting[t]
            free.add(t)
        return (min(resting.values()) - now) / NS if resting else None

    def wait_s() -> float:
        nxt = wake()
        return _POLL_S if nxt is None else max(0.001, min(_POLL_S, nxt))

    def ctx() -> Context:
        # Live views, not copies (see Context): O(1) however many threads.
        return Context(time=clock(), free_threads=free, workers=processes, rng=rng,
                       owners=owners)

    def record(op: Op) -> None:
        history.append(op)
        if on_op is not None:
            on_op(op)

    def complete(thread: Thread, op: Op) -> None:
        nonlocal gen
        if op.type == SLEEP:
            free.add(thread)
            return
        pause = backoff.after(thread, op) if thread != NEMESIS else 0.0
        if pause > 0:
            resting[thread] = clock() + int(pause * NS)
        else:
            free.add(thread)
        record(op)
        gen = gen.update(ctx(), op)
        if op.type == INFO and thread != NEMESIS:
            # Retire the process only after the generator has seen its crash,
            # so that it can still tell which thread the op came from.
            old = processes[thread]
            processes[thread] = int(old) + concurrency
            del owners[old]
            owners[processes[thread]] = thread

    def drain(timeout: float | None) -> bool:
        """Handle completions; block up to ``timeout`` for the first."""
        try:
            thread, op = completions.get(timeout=timeout) if timeout else completions.get_nowait()
        except queue.Empty:
            return False
        complete(thread, op)
        while True:
            try:
                thread, op = completions.get_nowait()
            except queue.Empty:
                return True
            complete(thread, op)

    try:
        while not stop.is_set():
            drain(None)
            wake()
            c = ctx()
            res = gen.op(c)
            if res is None:
                if len(free) + len(resting) == len(workers):
                    return
                drain(wait_s())
                continue
            if res is PENDING:
                if len(free) == len(workers):
                    raise GeneratorStuck(f"generator {gen!r} is pending with nothing in flight")
                drain(wait_s())
                continue
            op, nxt = res  # type: ignore[misc]
            wait_ns = op.time - c.time
            if wait_ns > 0:
                # Wake early for a completion: it may change what to do next.
                drain(min(wait_ns / NS, wait_s()))
                continue
            if op.type == LOG:
                log.info("%s", op.value)
                if on_log is not None:
                    on_log(str(op.value))
                gen = nxt
                continue
            thread = c.thread_of(op.process)
            if thread is None or thread not in free:
                raise RuntimeError(f"generator chose busy or unknown process {op.process}")
            free.discard(thread)
            gen = nxt
            if op.type != SLEEP:
                op.time = clock()
                op.node = nodes[thread % len(nodes)] if isinstance(thread, int) else None
                record(op)
                gen = gen.update(ctx(), op)
            workers[thread].submit(op)
        raise KeyboardInterrupt("stopped")
    finally:
        stop.set()
        for w in workers.values():
            w.stop()
        if event_loop is not None:
            event_loop.close(async_runners)
        # A fault being applied right now must finish before anyone heals,
        # or the heal could run first and the fault outlive the test.
        if NEMESIS in workers:
            workers[NEMESIS].join(_NEMESIS_JOIN_S)
        while True:  # keep whatever finished meanwhile: nothing completed is lost
            try:
                _thread, done = completions.get_nowait()
            except queue.Empty:
                break
            if done.type != SLEEP:
                record(done)
        for r in runners:
            try:
                r.close()
            except Exception:  # closing a client must not mask the real outcome
                log.debug("closing client failed", exc_info=True)


__all__ = ["INVOKE", "GeneratorStuck", "run"]
