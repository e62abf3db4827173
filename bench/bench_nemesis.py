"""How fast a fault takes effect, on an idle cluster and under full load.

For each fault op the latency is from its invocation until the last target
host has it in place (``effect_latency_s``: the op's ``effective_ns`` minus
its invocation, on the wall clock). Every op must also carry ``verified``
evidence for each target; an op without it counts as an error, not a figure.

Ops measured, each ``--repeats`` times, through the default runner (the
nemesis agent) unless ``--runner plain``:

- ``start-partition`` / ``stop-partition`` (random halves: all hosts change);
- ``start-kill`` (one host: SIGKILL, pid gone, port closed);
- ``stop-kill``, i.e. the restart (until the member listens again);
- ``start-pause`` / ``stop-pause`` (one host: SIGSTOP / SIGCONT).

``--load both`` (default) runs the set twice: idle, then with a load of
v3 puts from ``--load-workers`` threads per member, unthrottled, for the
whole phase (bounded by time; traffic only to the lab's own hosts).
Targets, loaded: p50 <= 1 s and p99 <= 2 s for partition, kill and pause;
a restarted member listening within 3 s (p99).

    .venv/bin/python bench/bench_nemesis.py [-i inventory/lab.yml] [--repeats 10]
        [--runner agent|plain] [--load idle|loaded|both]

Sets up a fresh cluster first (setup.yml) and tears it down at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pyharness.control import paths
from pyharness.control.ansible import Ansible
from pyharness.control.inventory import Node, load
from pyharness.etcd import v3 as etcd_v3
from pyharness.history import NEMESIS, Op
from pyharness.nemesis import fault
from pyharness.nemesis.faults import FaultNemesis

OPS = [("partition", "start-partition"), ("partition", "stop-partition"),
       ("kill", "start-kill"), ("kill", "stop-kill"),
       ("pause", "start-pause"), ("pause", "stop-pause")]


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


class Load:
    """Unthrottled v3 puts from ``workers`` threads per member until stopped."""

    def __init__(self, nodes: list[Node], workers: int, limit_s: float) -> None:
        self.stop = threading.Event()
        self.ok = 0
        self.deadline = time.monotonic() + limit_s
        self.threads = [threading.Thread(target=self._loop, args=(n, i), daemon=True)
                        for n in nodes for i in range(workers)]

    def _loop(self, node: Node, i: int) -> None:
        conn = None
        n = 0
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            try:
                if conn is None:
                    conn = etcd_v3.connect(node.address, node.client_port, timeout=1.0)
                conn.put(f"/bench-nemesis/{node.name}/{i}", str(n))
                self.ok += 1
                n += 1
            except Exception:  # a killed or cut member: reconnect after a breath
                conn = None
                time.sleep(0.05)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(5)


def measure(nem: FaultNemesis, repeats: int, gap: float) -> tuple[dict[str, list[float]], int]:
    test = {"start_wall_ns": time.time_ns(), "nodes": {}}
    lat: dict[str, list[float]] = {f: [] for _, f in OPS}
    errors = 0
    for _ in range(repeats):
        for _fault, f in OPS:
            time.sleep(gap)
            value: Any = {"targets": "one"} if f.startswith("start-") else None
            done = nem.invoke(test, Op(type="invoke", f=f, value=value, process=NEMESIS, time=0))
            hosts = done.extra.get("hosts") or []
            proved = hosts and set(done.extra.get("verified") or {}) == set(hosts)
            if done.error or not proved or "effect_latency_s" not in done.extra:
                errors += 1
                print(f"  {f}: not counted: {done.error or 'no evidence of effect'}")
                continue
            lat[f].append(done.extra["effect_latency_s"])
    return lat, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", "--inventory", type=Path, default=paths.LAB_INVENTORY)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--runner", choices=("agent", "plain"), default="agent")
    ap.add_argument("--load", choices=("idle", "loaded", "both"), default="both")
    ap.add_argument("--load-workers", type=int, default=10, help="put threads per member")
    ap.add_argument("--gap", type=float, default=1.0,
                    help="seconds between ops, as a nemesis interval would leave")
    args = ap.parse_args()
    inv = args.inventory.resolve()
    nodes = load(inv)
    names = [n.name for n in nodes]
    data = Path(tempfile.mkdtemp(prefix="bench-nemesis-"))
    plain = Ansible(inv, data / "ansible")
    r = plain.run("setup.yml")
    if not r.ok:
        raise SystemExit(f"setup failed: {r.error_line()}")
    if args.runner == "agent":
        from pyharness.nemesis.agent import AgentRunner
        runner: Any = AgentRunner(inv, data / "agent")
        if not runner.warm():
            raise SystemExit("the nemesis agents did not start: see " + str(data / "agent"))
    else:
        runner = plain
    nem = FaultNemesis(runner, names, [fault("partition-random-halves"),
                                       fault("kill"), fault("pause")],
                       random.Random(1), ("one",))
    phases = ["idle", "loaded"] if args.load == "both" else [args.load]
    results: dict[str, tuple[dict[str, list[float]], int, float]] = {}
    try:
        for phase in phases:
            t0 = time.monotonic()
            if phase == "idle":
                lat, errors = measure(nem, args.repeats, args.gap)
                rate = 0.0
            else:
                budget = args.repeats * len(OPS) * (args.gap + 15)
                with Load(nodes, args.load_workers, budget) as load_:
                    lat, errors = measure(nem, args.repeats, args.gap)
                rate = load_.ok / (time.monotonic() - t0)
            results[phase] = (lat, errors, rate)
    finally:
        nem.close()
        plain.run("heal.yml")
        plain.run("teardown.yml")
    print(f"hosts={len(nodes)} runner={args.runner} repeats={args.repeats} gap={args.gap}s "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'phase':7s} {'op':16s} {'p50':>6s} {'p99':>6s} {'min':>6s} {'median':>6s} "
          f"{'max':>6s}  (seconds, invoke -> in effect)")
    for phase, (lat, errors, rate) in results.items():
        for f, xs in lat.items():
            if xs:
                print(f"{phase:7s} {f:16s} {pct(xs, 50):6.3f} {pct(xs, 99):6.3f} {min(xs):6.3f} "
                      f"{statistics.median(xs):6.3f} {max(xs):6.3f}")
        extra = f", load {rate:.0f} ok puts/s" if phase == "loaded" else ""
        print(f"{phase:7s} ops not counted (error or no evidence): {errors}{extra}")


if __name__ == "__main__":
    main()
