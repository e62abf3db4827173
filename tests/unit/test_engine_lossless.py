"""At full load the event-loop engine loses and duplicates nothing: a client
that counts what it was asked to do agrees with the history, op for op."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

from pyharness.gen import generator as g
from pyharness.gen import interpreter
from pyharness.history import INFO, INVOKE, OK, HistoryWriter, Op, read_jsonl
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
