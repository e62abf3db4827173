"""The interpreter: runs a generator against workers and records.

One worker per client (each bound to one node) plus one nemesis thread. A
worker is a thread for a blocking :class:`~pyharness.gen.client.Client`. For
an :class:`~pyharness.gen.client.AsyncClient` every worker is a coroutine on
one event loop, which runs in the calling thread together with the
scheduling: a completion goes from the client to the generator without
crossing a thread, so hundreds of ops in flight cost neither threads nor
hand-offs. Either way one thread alone asks the generator for ops, stamps and
records every invocation and completion, and feeds completions back to the
generator with ``update``. Because only that thread touches the generator and
the history order, the history is a faithful total order of what the driver
saw.

An op that completes ``info`` retires its process: the worker reopens its
client and continues as process ``p + concurrency``, as in Jepsen, because an
op of unknown outcome stays concurrent with everything after it.

A worker whose op failed because its member refused the connection (a killed
member: ``error`` ``["connect-failed", ...]``) backs off before its next op,
with jittered exponential delays up to ``connect_backoff_s``: otherwise it
retries at once, and a dead member's instant failures drown the real load.
The backoff happens between ops, in the scheduling, so every op in the
history was really sent when its invoke says.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import math
import queue
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from pyharness.gen.client import AsyncClient, Client, Nemesis, exception_error, is_async
from pyharness.gen.generator import LOG, PENDING, SLEEP, Context, Generator, Thread
from pyharness.history import FAIL, INFO, INVOKE, NEMESIS, HistoryWriter, Op

log = logging.getLogger(__name__)

NS = 1_000_000_000
_POLL_S = 0.5  # longest the scheduling waits without re-checking for a stop
_NEMESIS_JOIN_S = 180.0  # a playbook has its own timeouts; this is a backstop
_SHUTDOWN_S = 10.0  # for in-flight async ops to be cancelled and clients closed


_BACKOFF_FIRST_S = 0.05

Deliver = Callable[[Thread, Op], None]


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
        if op.type != FAIL or self.max_s <= 0 or not refused(op):
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

    def __init__(self, thread: Thread, run: Callable[[Op], Op], deliver: Deliver,
                 stop: threading.Event, clock: Callable[[], int]) -> None:
        self.thread = thread
        self.inbox: queue.Queue[Op | None] = queue.Queue()
        self._run = run
        self._deliver = deliver
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
            self._deliver(self.thread, done)

    def submit(self, op: Op) -> None:
        self.inbox.put(op)

    def stop(self) -> None:
        self.inbox.put(None)

    def join(self, timeout: float) -> None:
        self._t.join(timeout)


class _AsyncWorker:
    """A logical client on the event loop: one op at a time, like a thread."""

    def __init__(self, thread: Thread, run: AsyncClientRunner,
                 loop: asyncio.AbstractEventLoop, deliver: Deliver,
                 clock: Callable[[], int]) -> None:
        self.thread, self._run, self._loop = thread, run, loop
        self._deliver, self._clock = deliver, clock
        self.task: asyncio.Task[None] | None = None

    def submit(self, op: Op) -> None:
        self.task = self._loop.create_task(self._do(op))

    async def _do(self, op: Op) -> None:
        if op.type == SLEEP:
            await asyncio.sleep(float(op.value))
            done = dataclasses.replace(op)
        else:
            try:
                done = await self._run(op)
                done.node = self._run.node
            except Exception as e:  # the client didn't classify it: outcome unknown
                log.exception("worker %s: unhandled error on %s", self.thread, op.f)
                done = op.completion(INFO, error=exception_error(e))
        done.time = self._clock()
        self._deliver(self.thread, done)

    def stop(self) -> None:
        pass  # the shutdown cancels what is in flight

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

    def __call__(self, op: Op) -> Awaitable[Op]:
        """The client's answer to ``op``, with ``node`` left to the caller. Not
        a coroutine of its own: with the process's client open, the client's
        invoke is the awaitable, one coroutine layer less per op."""
        if self.client is None or op.process != self.process:
            return self._reopen_invoke(op)
        return self.client.invoke(self.test, op)

    async def _reopen_invoke(self, op: Op) -> Op:
        if self.client is not None:
            await self.client.close(self.test)
        self.client = await self.proto.open(self.test, self.node)
        self.process = op.process
        return await self.client.invoke(self.test, op)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close(self.test)


class _Scheduler:
    """What both engines share: the threads' tables, the generator, the
    history, and the one step that hands out an op."""

    def __init__(self, gen: Generator, workers: Mapping[Thread, _Worker | _AsyncWorker],
                 nodes: list[str], concurrency: int, history: HistoryWriter,
                 rng: random.Random, clock: Callable[[], int], backoff: Backoff,
                 on_op: Callable[[Op], None] | None,
                 on_log: Callable[[str], None] | None) -> None:
        self.gen, self.workers, self.nodes = gen, workers, nodes
        self.concurrency, self.history, self.rng = concurrency, history, rng
        self.clock, self.backoff = clock, backoff
        self.on_op, self.on_log = on_op, on_log
        self.processes: dict[Thread, int | str] = {}
        self.owners: dict[int | str, Thread] = {}
        self.free: set[Thread] = set()
        self.resting: dict[Thread, int] = {}  # thread -> clock() at which it may run again
        self.closing = False  # past the end: completions are recorded, nothing else
        self.node_of: dict[Thread, str] = {}  # the member each client thread talks to

    def begin(self) -> None:
        """Every worker is in place: each thread starts free, as its own process."""
        self.processes = {t: t for t in self.workers}
        self.owners = {p: t for t, p in self.processes.items()}
        self.free = set(self.workers)
        self.node_of = {t: self.nodes[t % len(self.nodes)] for t in self.workers
                        if isinstance(t, int)}

    def ctx(self) -> Context:
        # Live views, not copies (see Context): O(1) however many threads.
        return Context(self.clock(), self.free, self.processes, self.rng, self.owners)

    def record(self, op: Op) -> None:
        self.history.append(op)
        if self.on_op is not None:
            self.on_op(op)

    def wake(self) -> float | None:
        """Free the threads whose backoff is over; seconds to the next one."""
        resting = self.resting
        if not resting:
            return None
        now = self.clock()
        for t in [t for t, until in resting.items() if until <= now]:
            del resting[t]
            self.free.add(t)
        return (min(resting.values()) - now) / NS if resting else None

    def wait_s(self) -> float:
        nxt = self.wake()
        return _POLL_S if nxt is None else max(0.001, min(_POLL_S, nxt))

    def complete(self, thread: Thread, op: Op) -> None:
        if op.type == SLEEP:
            self.free.add(thread)
            return
        if self.closing:
            self.record(op)
            return
        pause = self.backoff.after(thread, op) if thread != NEMESIS else 0.0
        if pause > 0:
            self.resting[thread] = self.clock() + int(pause * NS)
        else:
            self.free.add(thread)
        self.record(op)
        if not self.gen.ignores_updates():  # skip the context too
            self.gen = self.gen.update(self.ctx(), op)
        if op.type == INFO and thread != NEMESIS:
            # Retire the process only after the generator has seen its crash,
            # so that it can still tell which thread the op came from.
            old = self.processes[thread]
            new = int(old) + self.concurrency
            self.processes[thread] = new
            del self.owners[old]
            self.owners[new] = thread

    def step(self) -> float | None:
        """Hand out at most one op. None: the run is over (the generator is
        exhausted and nothing is in flight); 0: ask again now; otherwise how
        many seconds to wait, at most, for a completion or a due op."""
        if self.resting:
            self.wake()
        c = self.ctx()
        res = self.gen.op(c)
        if res is None:
            if len(self.free) + len(self.resting) == len(self.workers):
                return None
            return self.wait_s()
        if res is PENDING:
            if len(self.free) == len(self.workers):
                raise GeneratorStuck(f"generator {self.gen!r} is pending with nothing in flight")
            return self.wait_s()
        op, nxt = res  # type: ignore[misc]
        wait_ns = op.time - c.time
        if wait_ns > 0:
            # Wake early for a completion: it may change what to do next.
            return min(wait_ns / NS, self.wait_s())
        if op.type == LOG:
            log.info("%s", op.value)
            if self.on_log is not None:
                self.on_log(str(op.value))
            self.gen = nxt
            return 0.0
        # owners and processes change together (complete), and a free thread
        # is a worker: Context.thread_of's checks, at a lookup's cost
        thread = self.owners.get(op.process)
        if thread is None or thread not in self.free:
            raise RuntimeError(f"generator chose busy or unknown process {op.process}")
        self.free.discard(thread)
        self.gen = nxt
        if op.type != SLEEP:
            op.time = self.clock()
            op.node = self.node_of.get(thread)
            self.record(op)
            if not self.gen.ignores_updates():
                self.gen = self.gen.update(self.ctx(), op)
        self.workers[thread].submit(op)
        return 0.0


class _LoopDriver:
    """Runs the scheduling on the event loop: a turn of the loop hands out
    every op that is due, after the completions that arrived in that turn."""

    def __init__(self, sched: _Scheduler, loop: asyncio.AbstractEventLoop,
                 stop: threading.Event, completions: queue.Queue[tuple[Thread, Op]]) -> None:
        self.sched, self.loop, self.stop = sched, loop, stop
        self.completions = completions  # from the nemesis thread
        self.done: asyncio.Future[None] = loop.create_future()
        self.error: BaseException | None = None
        self._poked = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def completed(self, thread: Thread, op: Op) -> None:
        """An async worker's completion, on the loop."""
        self.sched.complete(thread, op)
        self.poke()

    def deliver_threadsafe(self, thread: Thread, op: Op) -> None:
        """A thread worker's completion: queued, so that none is lost even
        when the loop is no longer running, then the loop is woken."""
        self.completions.put((thread, op))
        with contextlib.suppress(RuntimeError):  # a closed loop: the final drain records it
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        while True:
            try:
                thread, op = self.completions.get_nowait()
            except queue.Empty:
                break
            self.sched.complete(thread, op)
        self.poke()

    def poke(self) -> None:
        """Something changed: ask the generator again, once per loop turn."""
        if not self._poked:
            self._poked = True
            self.loop.call_soon(self._pump)

    def _on_timer(self) -> None:
        self._timer, self._timer_at = None, math.inf
        self._pump()

    def _pump(self) -> None:
        self._poked = False
        if self.done.done() or self.sched.closing:
            return
        try:
            while True:
                if self.stop.is_set():
                    raise KeyboardInterrupt("stopped")
                w = self.sched.step()
                if w is None:
                    self.done.set_result(None)
                    return
                if w > 0:
                    break
        except BaseException as e:  # handed to run(), which raises it
            self.error = e
            self.done.set_result(None)
            return
        at = self.loop.time() + w
        # Keep an earlier timer: a spurious turn costs one step.
        if self._timer is None or self._timer_at > at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_at = self.loop.call_at(at, self._on_timer), at


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed, else asyncio's."""
    try:
        import uvloop  # a faster loop where it is installed
        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


# The collector's full passes walk every object alive, and the history kept
# in memory grows all run long (it holds no reference cycles). While ops run,
# a full pass waits for this many passes of the younger generations rather
# than 10: at 50k ops/s they were a sixth of the engine's CPU, and each one
# a pause that grows with the run. Young objects are collected as before,
# and one full pass comes before the run.
_FULL_GC_AFTER = 1000
_gc_lock = threading.Lock()
_gc_runs = 0  # runs under way, which share the setting
_gc_saved: tuple[int, int, int] = (0, 0, 0)


@contextlib.contextmanager
def _rare_full_collections() -> Iterator[None]:
    global _gc_runs, _gc_saved
    with _gc_lock:
        if _gc_runs == 0:
            # What an earlier run left (its tables, tasks and loop hold cycles,
            # and through them its history) goes now, before the first op,
            # not in a full pass in the middle of this run.
            gc.collect()
            _gc_saved = gc.get_threshold()
            g0, g1, g2 = _gc_saved
            gc.set_threshold(g0, g1, max(g2, _FULL_GC_AFTER))
        _gc_runs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0:
                gc.set_threshold(*_gc_saved)


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
    with _rare_full_collections():
        _run(test, gen, client, nemesis, nodes, concurrency, history, rng=rng,
             start_ns=start_ns, on_op=on_op, on_log=on_log, stop=stop,
             connect_backoff_s=connect_backoff_s)


def _run(test: Mapping[str, Any], gen: Generator, client: Client | AsyncClient,
         nemesis: Nemesis | None,
         nodes: list[str], concurrency: int, history: HistoryWriter, *,
         rng: random.Random, start_ns: int | None,
         on_op: Callable[[Op], None] | None,
         on_log: Callable[[str], None] | None,
         stop: threading.Event | None,
         connect_backoff_s: float) -> None:
    stop = stop or threading.Event()
    t0 = start_ns if start_ns is not None else time.monotonic_ns()

    def clock() -> int:
        return time.monotonic_ns() - t0

    completions: queue.Queue[tuple[Thread, Op]] = queue.Queue()
    workers: dict[Thread, _Worker | _AsyncWorker] = {}
    backoff = Backoff(connect_backoff_s, random.Random(rng.random()))
    sched = _Scheduler(gen, workers, nodes, concurrency, history, rng, clock, backoff,
                       on_op, on_log)

    def start_nemesis(deliver: Deliver) -> None:
        if nemesis is not None:
            nem = nemesis
            workers[NEMESIS] = _Worker(NEMESIS, lambda op: nem.invoke(test, op), deliver,
                                       stop, clock)

    def finish() -> None:
        """Let a fault being applied finish, then keep whatever completed
        meanwhile: nothing completed is lost."""
        sched.closing = True
        for w in workers.values():
            w.stop()
        # A fault being applied right now must finish before anyone heals,
        # or the heal could run first and the fault outlive the test.
        if NEMESIS in workers:
            workers[NEMESIS].join(_NEMESIS_JOIN_S)
        while True:
            try:
                thread, done = completions.get_nowait()
            except queue.Empty:
                break
            sched.complete(thread, done)

    if is_async(client):
        _run_async(test, client, sched, workers, nodes, concurrency, stop, clock, completions,
                   start_nemesis, finish)
        return
    runners: list[ClientRunner] = []

    def put(thread: Thread, op: Op) -> None:
        completions.put((thread, op))

    for i in range(concurrency):
        r = ClientRunner(test, client, nodes[i % len(nodes)])  # type: ignore[arg-type]
        runners.append(r)
        workers[i] = _Worker(i, r, put, stop, clock)
    start_nemesis(put)
    sched.begin()

    def drain(timeout: float | None) -> bool:
        """Handle completions; block up to ``timeout`` for the first."""
        try:
            thread, op = completions.get(timeout=timeout) if timeout else completions.get_nowait()
        except queue.Empty:
            return False
        sched.complete(thread, op)
        while True:
            try:
                thread, op = completions.get_nowait()
            except queue.Empty:
                return True
            sched.complete(thread, op)

    try:
        while not stop.is_set():
            drain(None)
            w = sched.step()
            if w is None:
                return
            if w > 0:
                drain(w)
        raise KeyboardInterrupt("stopped")
    finally:
        stop.set()
        finish()
        for r in runners:
            try:
                r.close()
            except Exception:  # closing a client must not mask the real outcome
                log.debug("closing client failed", exc_info=True)


def _run_async(test: Mapping[str, Any], client: AsyncClient, sched: _Scheduler,
               workers: dict[Thread, _Worker | _AsyncWorker], nodes: list[str],
               concurrency: int, stop: threading.Event, clock: Callable[[], int],
               completions: queue.Queue[tuple[Thread, Op]],
               start_nemesis: Callable[[Deliver], None], finish: Callable[[], None]) -> None:
    """:func:`run` with the async workers and the scheduling on one loop, here."""
    loop = new_event_loop()
    driver = _LoopDriver(sched, loop, stop, completions)
    runners = [AsyncClientRunner(test, client, nodes[i % len(nodes)])
               for i in range(concurrency)]
    async_workers = [_AsyncWorker(i, r, loop, driver.completed, clock)
                     for i, r in enumerate(runners)]
    workers.update(enumerate(async_workers))
    start_nemesis(driver.deliver_threadsafe)
    sched.begin()

    async def shutdown() -> None:
        """Cancel what is in flight (its outcome stays unknown in the
        history) and close the clients."""
        tasks = [w.task for w in async_workers if w.task is not None and not w.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for r in runners:
            try:
                await r.close()
            except Exception:  # closing must not mask the real outcome
                log.debug("closing client failed", exc_info=True)

    try:
        loop.call_soon(driver.poke)
        loop.run_until_complete(driver.done)
        if driver.error is not None:
            raise driver.error
    finally:
        stop.set()
        sched.closing = True  # what completes while shutting down is recorded, no more
        try:
            loop.run_until_complete(asyncio.wait_for(shutdown(), _SHUTDOWN_S))
        except Exception:
            log.debug("client loop shutdown", exc_info=True)
        finally:
            finish()
            loop.close()


__all__ = ["INVOKE", "GeneratorStuck", "run"]
