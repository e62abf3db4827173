"""Keys on several cores: the passes of :mod:`checkers.linearizable`, in worker processes.

Why it is shaped this way:

- *Processes, forked once per check.* Keys are independent, but a search is
  pure Python, so threads would share one core. Workers are forked after the
  history is prepared, so the model and every key's problem are inherited,
  not pickled (a model of one's own need not pickle); only orders (key index,
  deadline) go to a worker and :class:`~checkers.linear_search.SearchResult`
  values come back.
- *The parent keeps the passes.* It hands out one slice of one key at a
  time, always from the keys with the fewest slices so far, with the budget
  the sequential passes would give that slice. So one hard key holding one
  worker holds back nobody: the others go on through the easy keys, and no
  key gets a long slice while another has not had its short one.
- *A cut search stays where it ran.* Its frontier may be large, so it is not
  shipped: the key's next slice goes to the same worker, which resumes it. A
  free worker with nothing of its own takes a key held by a busy one afresh
  rather than wait (it loses only that key's earlier, smaller slices).
- *Stopping.* Once a key is refuted the parent signals the busy workers
  (``SIGUSR1``): a signal reaches a search in the middle of a long closure,
  where a message in a pipe would wait for the slice to end. Each search
  then ends within the short look the sequential passes give the keys left.
- *Rivals.* A worker's depth-first rival takes turns with its frontier
  search, for the other cores are the other workers'; it forks onto a core
  of its own only while a worker idles (the last, hard keys), as it would in
  one process.
- *Memory.* A worker runs one search at a time, bounded as in one process
  (``max_configs`` configurations, the depth-first rival's own cache bound),
  so N workers hold at most N times what one search may; the searches they
  keep stopped share the one ``held_max`` bound, each worker a 1/N share.
- *No orphans, no tracebacks.* Workers ignore ``SIGINT`` (the parent, which
  gets Ctrl-C, ends them) and turn ``SIGTERM`` into a normal exit, which
  ends their own depth-first rivals too; a search that raises is sent back
  as the one-line :class:`~checkers.core.CheckerFailure` it would have been.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from types import FrameType
from typing import Any

from checkers.core import CheckerFailure
from checkers.linear_rival import usable_cores
from checkers.linear_search import TIME_LIMIT, Search, SearchResult

# Below this many events in all keys together, the keys run in this process:
# the workers' start, copied pages and round trips (a few milliseconds) cost
# more than they save (bench/bench_parallel_keys.py: 10 keys of 5-process
# registers lose 4 ms of 6 at 600 events, break even near 2,000; keys of
# crashed writes gain from 2,000 on).
MIN_EVENTS = 2_000
# Search.rival_forked in the workers: the depth-first rival takes turns with
# the frontier search, for the cores are the workers'; it gets a process of
# its own only while a worker idles (the last keys) or its key is the last.
RIVAL_FORKED: bool | None = False
GRACE_S = 2.0  # how long past the deadline a busy worker may stay silent
_PROGRESS_EVERY_S = 0.05  # a worker's progress messages, at most this often
_HURRY_AGAIN_S = 0.05  # a hurried worker still busy after its look is signalled again

Progress = Callable[[int, int], None]


def workers_for(sizes: Sequence[int], workers: int | None = None) -> int:
    """How many processes search keys of these sizes (events each): 1 is in this one.

    ``workers``: exactly that many (capped by the keys), whatever the sizes;
    None: the usable cores, if there are several keys, fork exists, and
    the history is large enough to pay for it."""
    if workers is None:
        if not hasattr(os, "fork") or sum(sizes) < MIN_EVENTS:
            return 1
        workers = usable_cores()
    return max(1, min(workers, len(sizes)))


class WorkerError(Exception):
    """A worker's traceback, as the cause of the failure it raised."""


class Resumer:
    """Runs slices of keys' searches, keeping those cut short to resume later.

    ``make`` starts a key's search; ``blame`` turns what a search raised into
    the failure to report. Stopped searches keep their frontier only, and
    all together hold at most ``held_max`` configurations; past that, a key
    starts afresh in its next slice."""

    def __init__(self, make: Callable[[Hashable, float | None], Search],
                 blame: Callable[[Hashable, Exception], CheckerFailure], held_max: int) -> None:
        self.make = make
        self.blame = blame
        self.held_max = held_max
        self.stopped: dict[Hashable, Search] = {}
        self.current: Search | None = None
        self.rival_forked: bool | None = None  # for Search.rival_forked; None: its default

    def run(self, key: Hashable, until: float | None, cuttable: bool,
            on_progress: Callable[[int], None] | None) -> tuple[SearchResult, bool]:
        """The key's search until ``until`` (a stopped one resumed): its result,
        and whether it was cut short, to carry on in a later slice."""
        stopped = self.stopped.pop(key, None)
        try:
            search = stopped or self.make(key, until)
            if self.rival_forked is not None:
                search.rival_forked = self.rival_forked
            search.on_progress = on_progress
            self.current = search
            res = search.resume(until) if stopped is not None else search.run()
        except Exception as e:
            raise self.blame(key, e) from e
        finally:
            self.current = None
        cut = res.timed_out and cuttable
        if cut and search.resumable:
            # The remembered steps are only a cache, and a large one (kv
            # states are long strings): a stopped search keeps its frontier only.
            search.memo.clear()
            if sum(s.held() for s in self.stopped.values()) + search.held() <= self.held_max:
                self.stopped[key] = search
        return res, cut

    def hurry(self, seconds: float) -> None:
        """Bring the running search's deadline (and its rival's) to ``seconds`` from now."""
        search = self.current
        if search is None:
            return
        cap = time.monotonic() + seconds
        if search.deadline is None or search.deadline > cap:
            search.deadline = cap
        rival = search.rival
        if rival is not None and (rival.deadline is None or rival.deadline > cap):
            rival.deadline = cap


# -- in a worker ------------------------------------------------------------------

def _leave(_sig: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)  # unwinds: a running search closes its rival's process


def _work(conn: Connection, keys: Sequence[Hashable], resumer: Resumer,
          hurry_s: float, rival_forked: bool | None, idle: Any) -> None:
    """A worker's loop: orders from ``conn``, results back on it, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _leave)
    signal.signal(signal.SIGUSR1, lambda _s, _f: resumer.hurry(hurry_s))
    last = [0.0]

    def progress(n: int) -> None:
        search = resumer.current
        if search is not None and search.rival is None:
            # A rival not yet started may have a core of its own if a worker idles.
            search.rival_forked = None if idle.value > 0 else rival_forked
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_EVERY_S:
            last[0] = now
            conn.send(("progress", n))

    with contextlib.suppress(BrokenPipeError, EOFError, OSError):  # the parent went away
        conn.send(("ready",))
        while True:
            order = conn.recv()
            if order[0] == "stop":
                return
            if order[0] == "drop":  # another worker took that key
                resumer.stopped.pop(keys[order[1]], None)
                continue
            _, ix, until, cuttable, alone = order
            resumer.rival_forked = None if alone or idle.value > 0 else rival_forked
            last[0] = 0.0
            try:
                res, cut = resumer.run(keys[ix], until, cuttable, progress)
            except CheckerFailure as f:
                conn.send(("error", ix, f.reason, f.key, f.op, traceback.format_exc()))
                continue
            kept = keys[ix] in resumer.stopped
            try:
                conn.send(("done", ix, res, cut, kept))
            except Exception as e:  # a result that does not pickle (a model of one's own)
                conn.send(("error", ix, f"cannot send the key's result back from its worker "
                                        f"process: {type(e).__name__}: {e}", None, None,
                           traceback.format_exc()))


# -- in the parent ------------------------------------------------------------------

@dataclass
class _Worker:
    id: int
    proc: Any
    conn: Connection
    ready: bool = False
    key: int | None = None  # the key index of the slice in flight
    n: int = 0  # its events done so far
    hurried: float | None = None  # when it was last told to hurry


@dataclass
class Outcome:
    """Each key's last result, and which keys were cut short once another was refuted."""

    results: dict[Hashable, SearchResult] = field(default_factory=dict)
    left_open: list[Hashable] = field(default_factory=list)  # in key order


class _Keys:
    """The parent's book of the keys: slices had, where each stopped search is."""

    def __init__(self, keys: Sequence[Hashable], sizes: Sequence[int],
                 budget: Callable[[int], float]) -> None:
        self.keys = keys
        self.sizes = sizes
        self.budget = budget
        self.slices = [0] * len(keys)  # slices each key had
        self.home: list[int | None] = [None] * len(keys)  # worker holding its stopped search
        self.open = set(range(len(keys)))  # not decided
        self.busy: set[int] = set()
        self.done = 0  # events of the decided keys
        self.refuted_at: int | None = None  # the slice in which a key was first refuted
        self.looked: set[int] = set()  # keys given their short look after it


def run_parallel(keys: Sequence[Hashable], sizes: Sequence[int], resumer: Resumer, *,
                 workers: int, deadline: float | None, budget: Callable[[int], float],
                 after_refuted_s: float, progress: Progress | None = None) -> Outcome:
    """Search ``keys`` (in key order; ``sizes``: their events) in ``workers`` processes.

    ``budget(i)``: the seconds of a key's slice ``i``; ``after_refuted_s``:
    the short look the keys still open get once one is refuted. Each worker
    keeps its stopped searches within ``resumer.held_max // workers``."""
    ctx = multiprocessing.get_context("fork")
    book = _Keys(keys, sizes, budget)
    total = sum(sizes)
    out = Outcome()
    share = Resumer(resumer.make, resumer.blame, resumer.held_max // workers)
    pool: list[_Worker] = []
    idle = ctx.RawValue("i", 0)  # workers with nothing to do, for the rivals to use
    gc.freeze()  # objects the collector never visits stay shared with the workers
    try:
        for i in range(workers):
            conn, child = ctx.Pipe()
            # Not daemonic: a worker's search may fork its depth-first rival.
            proc = ctx.Process(target=_work, name=f"pyharness-linear-{i}",
                               args=(child, keys, share, after_refuted_s, RIVAL_FORKED,
                                     idle))
            try:
                proc.start()
            except OSError:  # no memory or no process slots left: fewer workers
                conn.close()
                if not pool:
                    raise
                break
            finally:
                child.close()
            pool.append(_Worker(i, proc, conn))
    except BaseException:
        gc.unfreeze()
        _end(pool)
        raise
    gc.unfreeze()
    everyone = list(pool)
    try:
        _loop(pool, book, out, deadline, after_refuted_s, total, progress, idle)
    finally:
        _end(everyone)
    out.left_open = [keys[i] for i in sorted(book.open)]  # cut once a key was refuted
    return out


def _loop(pool: list[_Worker], book: _Keys, out: Outcome, deadline: float | None,
          after_refuted_s: float, total: int, progress: Progress | None, idle: Any) -> None:
    while True:
        _dispatch(pool, book, deadline, after_refuted_s)
        busy = [w for w in pool if w.key is not None]
        idle.value = len(pool) - len(busy)
        if not busy:
            return
        now = time.monotonic()
        if deadline is not None and now > deadline + GRACE_S:
            for w in busy:  # silent past the deadline: the key is unknown, the worker ends
                w.proc.kill()
                _gone(w, pool, book, out, TIME_LIMIT, timed_out=True)
            continue
        timeout = None if deadline is None else deadline + GRACE_S - now
        if book.refuted_at is not None:
            timeout = _HURRY_AGAIN_S if timeout is None else min(timeout, _HURRY_AGAIN_S)
            _hurry(pool, after_refuted_s)
        for conn in wait([w.conn for w in pool], timeout):
            w = next(x for x in pool if x.conn is conn)
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                w.proc.join(1)
                _gone(w, pool, book, out, "its worker process ended without an answer "
                                          f"(exit code {w.proc.exitcode})")
                continue
            _take(w, msg, book, out, after_refuted_s, pool)
            if progress is not None:
                progress(book.done + sum(x.n for x in pool if x.key is not None), total)


def _dispatch(pool: list[_Worker], book: _Keys, deadline: float | None,
              after_refuted_s: float) -> None:
    """Give each free worker a slice of the open key with the fewest slices so
    far: one whose stopped search it holds or nobody holds, or, with fewer
    slices still, one a busy worker holds (started afresh)."""
    free = {w.id: w for w in pool if w.key is None}
    if not free:
        return
    waiting = sorted((i for i in book.open if i not in book.busy),
                     key=lambda i: (book.slices[i], i))
    if book.refuted_at is not None:
        # Only the keys that had not yet had the slice in which a key was
        # refuted get a short look, as in the sequential passes.
        waiting = [i for i in waiting if i not in book.looked
                   and book.slices[i] <= book.refuted_at]
    for wid in sorted(free):
        w = free.pop(wid)
        steal: int | None = None
        pick: int | None = None
        for i in waiting:
            home = book.home[i]
            if home is None or home == wid:
                pick = i
                break
            if home not in free and steal is None:
                steal = i  # its holder is busy
        if steal is not None and (pick is None or book.slices[steal] < book.slices[pick]):
            holder = next((x for x in pool if x.id == book.home[steal]), None)
            if holder is not None:
                holder.conn.send(("drop", steal))
            book.home[steal] = None
            pick = steal
        if pick is None:
            continue
        waiting.remove(pick)
        _send(w, pick, book, deadline, after_refuted_s)


def _send(w: _Worker, i: int, book: _Keys, deadline: float | None,
          after_refuted_s: float) -> None:
    slot: float | None = book.budget(book.slices[i])
    if book.refuted_at is not None:
        book.looked.add(i)
        slot = min(after_refuted_s, slot)
    elif len(book.open) == 1:  # no other key still open: it gets all the time left
        slot = None
    now = time.monotonic()
    until = deadline if slot is None else \
        now + slot if deadline is None else min(now + slot, deadline)
    cuttable = until is not None and (deadline is None or until < deadline)
    w.conn.send(("slice", i, until, cuttable, len(book.open) == 1))
    w.key, w.n, w.hurried = i, 0, None
    book.busy.add(i)


def _take(w: _Worker, msg: tuple[Any, ...], book: _Keys, out: Outcome, after_refuted_s: float,
          pool: list[_Worker]) -> None:
    """What a worker sent: readiness, progress, a slice's result or its failure."""
    kind = msg[0]
    if kind == "ready":
        w.ready = True
        return
    if kind == "progress":
        w.n = msg[1]
        return
    i = msg[1]
    w.key = None
    book.busy.discard(i)
    if kind == "error":
        _, _, reason, key, op, trace = msg
        raise CheckerFailure(reason, key, op) from WorkerError(trace)
    _, _, res, cut, kept = msg
    out.results[book.keys[i]] = res
    if cut:  # to carry on in a later slice, if there is one
        book.slices[i] += 1
        book.home[i] = w.id if kept else None
        return
    book.open.discard(i)
    book.home[i] = None
    book.done += book.sizes[i]
    if res.valid is False and book.refuted_at is None:
        book.refuted_at = book.slices[i]
        # The keys in flight are in the pass that found it: this slice is their last.
        book.looked.update(x.key for x in pool if x.key is not None)
        _hurry(pool, after_refuted_s)


def _hurry(pool: list[_Worker], after_refuted_s: float) -> None:
    """Tell the busy workers to end their slices within the short look
    (again, now and then: a signal that came as a slice began may be lost)."""
    now = time.monotonic()
    for w in pool:
        if w.key is None or not w.ready:
            continue
        if w.hurried is None or now - w.hurried >= max(_HURRY_AGAIN_S, after_refuted_s):
            w.hurried = now
            with contextlib.suppress(ProcessLookupError):
                os.kill(w.proc.pid, signal.SIGUSR1)


def _gone(w: _Worker, pool: list[_Worker], book: _Keys, out: Outcome, reason: str,
          timed_out: bool = False) -> None:
    """A worker that died (killed, out of memory) or was ended: its key in
    flight is unknown, the keys whose stopped searches it held start afresh
    elsewhere; with no worker left, every open key is unknown."""
    pool.remove(w)
    if w.key is not None:
        book.busy.discard(w.key)
        book.open.discard(w.key)
        out.results[book.keys[w.key]] = SearchResult("unknown", reason=reason,
                                                      timed_out=timed_out)
    for i, home in enumerate(book.home):
        if home == w.id:
            book.home[i] = None
    if not pool:
        for i in sorted(book.open):
            out.results[book.keys[i]] = SearchResult(
                "unknown", reason=f"not decided: {reason}", timed_out=timed_out)
        book.open.clear()


def _end(pool: Sequence[_Worker]) -> None:
    """Stop every worker (and, through SIGTERM's exit, their rivals); reap them."""
    for w in pool:
        with contextlib.suppress(Exception):
            if w.proc.is_alive():
                w.proc.terminate()
    for w in pool:
        with contextlib.suppress(Exception):
            w.proc.join(2)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(2)
            w.proc.close()
        with contextlib.suppress(Exception):
            w.conn.close()
