"""Synthetic runs: store directories made without a lab, for pages and tests.

The report page, ``serve`` and the CI outputs read a run directory, and
should be developed and tested against one that looks real without bringing
up five etcd members for half a minute. :func:`make_run` writes such a
directory from a simulated history: client processes doing the workload's
ops at a steady pace, a partition in the middle third during which ops time
out (``info``) or fail, a retired process replaced by a fresh one, then the
real checkers over it (so ``results.json``, the plots and ``timeline.html``
are what a real run would have), plus ``test.json``, ``driver.log``, an
ansible artifact and capnslog-style member logs in ``nodes/<host>/``.

``valid=False`` plants a bug the checkers must find: a lost acknowledged add
(set), a read of a value never written (register), and a ``panic`` line in
one member's log.

    python -m pyharness.report.demo_store STORE [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from checkers.core import Checker, compose
from checkers.exceptions import UnhandledExceptionsChecker
from checkers.linearizable import Linearizable
from checkers.log_patterns import LogPatternChecker
from checkers.perf import PerfChecker
from checkers.set import SetChecker
from checkers.stats import StatsChecker
from checkers.timeline import TimelineChecker
from pyharness.history import FAIL, INFO, INVOKE, NEMESIS, OK, HistoryWriter, Op
from pyharness.history.store import write_json

NODES = ("n1", "n2", "n3")
MS = 1_000_000


def _client_pairs(workload: str, n_ops: int, rng: random.Random
                  ) -> tuple[list[tuple[Op, Op]], int, tuple[int, int]]:
    """Each worker's ops, back to back: (invocation, completion) with times."""
    concurrency = 4
    gap = 50 * MS  # between one process's ops
    duration = n_ops // concurrency * gap
    part = (duration // 3, 2 * duration // 3)
    out: list[tuple[Op, Op]] = []
    next_add = 0
    for worker in range(concurrency):
        process, t = worker, worker * 5 * MS
        while t < duration:
            if workload == "set":
                f, value = "add", next_add
                next_add += 1
            else:
                f = rng.choice(("read", "write", "cas"))
                value = ["k0", {"read": None, "write": rng.randrange(3),
                                "cas": [rng.randrange(3), rng.randrange(3)]}[f]]
            inv = Op(INVOKE, f, value, process, t, node=NODES[worker % len(NODES)])
            # Half the workers sit on the minority side of the partition.
            if part[0] <= t < part[1] and worker % 2 == 0:
                comp = inv.completion(FAIL if f == "read" else INFO, error="timeout")
                comp.time = t + 1500 * MS
            else:
                comp = inv.completion(OK)
                comp.time = t + rng.randrange(1 * MS, 15 * MS)
            out.append((inv, comp))
            t = comp.time + gap
            if comp.type == INFO:
                process += concurrency  # retired: the worker goes on as a new process
    return out, duration, part


def _apply_register(pairs: list[tuple[Op, Op]]) -> None:
    """Give register ops the values a correct register would: each ok op takes
    effect at its completion, which lies inside the op, so it linearizes."""
    state: int | None = None
    for _, comp in sorted(pairs, key=lambda p: p[1].time):
        if comp.type != OK:
            continue
        key, arg = comp.value
        if comp.f == "read":
            comp.value = [key, state]
        elif comp.f == "write":
            state = arg
        elif state == arg[0]:
            state = arg[1]
        else:
            comp.type, comp.error = FAIL, "compare-failed"


def _history(workload: str, valid: bool, n_ops: int, rng: random.Random) -> list[Op]:
    """A simulated history: client pairs, final read, a partition mid-way."""
    pairs, duration, part = _client_pairs(workload, n_ops, rng)
    t = duration + 2000 * MS
    if workload == "set":
        final = sorted(c.value for _, c in pairs if c.type == OK)
        if not valid and len(final) > 3:
            final.remove(final[len(final) // 2])  # a lost acknowledged add
        inv = Op(INVOKE, "read", None, 100, t, node="n1")
        pairs.append((inv, inv.completion(OK, value=final)))
    else:
        _apply_register(pairs)
        if not valid:  # a read of a value nobody ever wrote
            inv = Op(INVOKE, "read", ["k0", None], 100, t, node="n1")
            pairs.append((inv, inv.completion(OK, value=["k0", 7])))
    pairs[-1][1].time = t + 5 * MS
    events = [op for p in pairs for op in p]
    grudge = {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}
    for f, t0 in (("start-partition", part[0]), ("stop-partition", part[1])):
        value = grudge if f.startswith("start") else None
        done = Op(INFO, f, value, NEMESIS, t0 + 300 * MS,
                  extra={"hosts": list(NODES), "playbook_s": 0.3})
        if value is not None:
            done.extra["effective_ns"] = t0 + 250 * MS
        events += [Op(INFO, f, value, NEMESIS, t0), done]
    events.sort(key=lambda op: op.time)  # stable: an invocation stays before its completion
    return events


def _member_log(host: str, start: datetime, panic: bool) -> str:
    def line(dt: float, level: str, msg: str) -> str:
        stamp = (start + timedelta(seconds=dt)).strftime("%Y-%m-%d %H:%M:%S.%f")
        return f"{stamp} {level} | {msg}\n"

    text = line(0, "I", "etcdmain: etcd Version: 3.4.23")
    text += line(0.2, "N", f"etcdserver/membership: added member {host}")
    text += line(1.5, "W", "rafthttp: lost the TCP streaming connection with peer")
    if panic:
        text += line(2.0, "C", "etcdserver: failed to apply: data corruption detected")
        text += "panic: runtime error: index out of range [3] with length 3\n"
    text += line(4.0, "N", "pkg/osutil: received terminated signal, shutting down...")
    return text


def _point(link: Path, target: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.relpath(target, link.parent))


def make_run(store: Path, *, workload: str = "set", nemesis: str = "partition-random-halves",
             valid: bool = True, n_ops: int = 200, seed: int = 0,
             when: datetime | None = None) -> Path:
    """Write one synthetic run under ``store`` and point the latest links at it."""
    rng = random.Random(seed)
    when = when or datetime.now(UTC)
    name = f"etcd-{workload}-{nemesis}"
    run = store / name / (when.strftime("%Y%m%dT%H%M%S.%f")[:-4] + "Z")
    run.mkdir(parents=True)
    options = {"workload": workload, "nemesis": nemesis, "seed": seed, "time_limit": 30,
               "concurrency": 4, "rate": 10, "synthetic": True}
    test: dict[str, Any] = {
        "name": name, "run_id": f"synthetic{seed:04d}", "options": options,
        "nodes": {n: {"address": f"10.77.0.{i + 1}", "client_port": 2379}
                  for i, n in enumerate(NODES)},
        "op_timeout": 1.5, "start_wall_ns": int(when.timestamp() * 1e9),
        "store_dir": str(run)}
    write_json(run / "test.json", test)
    writer = HistoryWriter(run / "history.jsonl")
    for op in _history(workload, valid, n_ops, rng):
        writer.append(op)
    writer.close()
    history = writer.ops
    for i, host in enumerate(NODES):
        (run / "nodes" / host).mkdir(parents=True)
        (run / "nodes" / host / "etcd.log").write_text(
            _member_log(host, when, panic=not valid and i == 1))
    art = run / "ansible" / "artifacts" / "001-setup"
    art.mkdir(parents=True)
    (art / "stdout").write_text("PLAY [Set up etcd] ***\nok: [n1]\nok: [n2]\nok: [n3]\n")
    (run / "driver.log").write_text(
        f"{when:%H:%M:%S} INFO run directory: {run}\n{when:%H:%M:%S} INFO synthetic run\n")
    checkers: list[Checker] = [
        SetChecker() if workload == "set" else Linearizable(independent="tuple", out_dir=run),
        StatsChecker(), UnhandledExceptionsChecker(), PerfChecker(run), TimelineChecker(run),
        LogPatternChecker(run)]
    results = compose(checkers, test, history)
    write_json(run / "results.json", results)
    _point(store / "latest", run)
    _point(store / name / "latest", run)
    return run


def make_store(store: Path, runs: int = 3) -> list[Path]:
    """Several runs, oldest first, alternating workloads and verdicts."""
    base = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    made = []
    for i in range(runs):
        made.append(make_run(store, workload=("set", "register")[i % 2],
                             valid=i % 4 not in (1, 2), seed=i, when=base + timedelta(minutes=i)))
    return made


def main() -> None:
    ap = argparse.ArgumentParser(description="Write synthetic runs into a store.")
    ap.add_argument("store", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    for run in make_store(args.store, args.runs):
        verdict = json.loads((run / "results.json").read_text())["valid?"]
        print(f"{run}  valid?={verdict}")


if __name__ == "__main__":
    main()
