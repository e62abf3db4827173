"""At full load the event-loop engine loses and duplicates nothing: a client
that counts what it was asked to do agrees with the history, op for op."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pyharness.gen import generator as g
from pyharness.gen import interpreter
from pyharness.history import INFO, INVOKE, NEMESIS, OK, HistoryWriter, Op, read_jsonl
from pyharness.workloads import register


class Counting:
    """Answers at once, counting every op it carried out by (process, seq);
    every 97th op ends ``info``, so processes retire under load too."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[Any, Any]] = Counter()
        self.n = 0

    async def open(self, test: Any, node: str) -> Counting:
        return self

    async def invoke(self, test: Any, op: Op) -> Op:
        self.n += 1
        crash = self.n % 97 == 0
        self.seen[(op.process, repr(op.value))] += 1
        await asyncio.sleep(0)
        return op.completion(INFO if crash else OK)

    async def close(self, test: Any) -> None:
        pass


def test_every_op_the_client_ran_is_in_the_history_once(tmp_path: Path) -> None:
    concurrency = 200
    wl = register.workload({"concurrency": concurrency, "api": "v3", "ops_per_key": 50})
    client = Counting()
    path = tmp_path / "history.jsonl"
    history = HistoryWriter(path)
    gen = g.clients(g.limit(20_000, wl.generator))
    interpreter.run({"nodes": {}}, gen, client, None, ["n1", "n2", "n3"], concurrency,
                    history, rng=random.Random(7))
    history.close()
    ops = read_jsonl(path)
    invokes = [o for o in ops if o.type == INVOKE]
    completions = [o for o in ops if o.type != INVOKE]
    assert len(invokes) == 20_000 == client.n
    assert len(completions) == 20_000
    assert Counter((o.process, repr(o.value)) for o in invokes) == client.seen
    assert [o.index for o in ops] == list(range(len(ops)))
    assert sum(1 for o in completions if o.type == INFO) == 20_000 // 97
    # each process has its invokes and completions strictly alternating
    open_: dict[Any, Op] = {}
    for o in ops:
        if o.type == INVOKE:
            assert o.process not in open_
            open_[o.process] = o
        else:
            assert open_.pop(o.process).f == o.f
    assert not open_


class Stuck:
    """Every 10th op never answers; the rest answer at once. Counts opens and closes."""

    def __init__(self) -> None:
        self.n = self.opened = self.closed = 0

    async def open(self, test: Any, node: str) -> Stuck:
        self.opened += 1
        return self

    async def invoke(self, test: Any, op: Op) -> Op:
        self.n += 1
        if self.n % 10 == 0:
            await asyncio.sleep(3600)
        await asyncio.sleep(0)
        return op.completion(OK)

    async def close(self, test: Any) -> None:
        self.closed += 1


class SlowNemesis:
    """A fault that takes 0.5 s to apply: it must finish and be recorded
    even when the run is stopped meanwhile."""

    def invoke(self, test: Any, op: Op) -> Op:
        time.sleep(0.5)
        return op.completion(INFO, value="applied")

    def heal(self, test: Any) -> None:
        pass


def test_a_stop_leaves_what_is_in_flight_open_and_keeps_what_completed(
        tmp_path: Path) -> None:
    """Stopped from another thread (as a signal handler or a time limit
    would), the loop engine ends within its poll, leaves the ops in flight
    open (outcome unknown), closes every client, and records a fault that
    completes after the stop."""
    client = Stuck()
    path = tmp_path / "history.jsonl"
    history = HistoryWriter(path)
    stop = threading.Event()
    gen = g.any_(g.clients(g.repeat({"f": "read"})),
                 g.nemesis(g.seq(g.sleep(0.2), {"type": "info", "f": "start"})))
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        interpreter.run({}, gen, client, SlowNemesis(), ["n1"], 20, history,
                        rng=random.Random(3), stop=stop)
    assert time.monotonic() - t0 < 3
    history.close()
    ops = read_jsonl(path)
    client_ops = [o for o in ops if o.process != NEMESIS]
    open_ = Counter(o.process for o in client_ops if o.type == INVOKE)
    open_.subtract(Counter(o.process for o in client_ops if o.type != INVOKE))
    # Every worker was stuck by the end: its last op is open, all before it completed once.
    assert sorted(open_.values()) == [1] * 20
    assert client.closed == client.opened == 20
    assert [(o.type, o.value) for o in ops if o.process == NEMESIS] == \
        [("info", None), ("info", "applied")]
