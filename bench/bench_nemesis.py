"""How fast a fault takes effect: from a nemesis op's invocation until the
last target host has it in place (``effect_latency_s``, i.e. the op's
``effective_ns`` minus its invocation, on the wall clock).

Runs start-partition / stop-partition (random halves, so all 5 hosts change)
against a running lab, ``--repeats`` times each, and prints p50, p99 and
min/median/max. Target: p50 <= 1 s, p99 <= 2 s for the start.

    .venv/bin/python bench/bench_nemesis.py [-i inventory/lab.yml] [--repeats 20]
        [--runner plain|agent|both]

``both`` alternates the two runners op by op, so that both see the same
machine load (the machines here are shared and noisy).

Only iptables rules change; etcd need not run. Heals at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from pyharness import paths
from pyharness.ansible import Ansible
from pyharness.history import NEMESIS, Op
from pyharness.inventory import load
from pyharness.nemesis.faults import FaultNemesis, PartitionFault


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", "--inventory", type=Path, default=paths.LAB_INVENTORY)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--runner", choices=("plain", "agent", "both"), default="both")
    ap.add_argument("--gap", type=float, default=1.0,
                    help="seconds between ops, as a nemesis interval would leave")
    args = ap.parse_args()
    inv = args.inventory.resolve()
    nodes = [n.name for n in load(inv)]
    data = Path(tempfile.mkdtemp(prefix="bench-nemesis-"))
    kinds = ["plain", "agent"] if args.runner == "both" else [args.runner]
    runners: dict[str, object] = {}
    for kind in kinds:
        if kind == "agent":
            from pyharness.nemesis.agent import AgentRunner
            runners[kind] = AgentRunner(inv, data / "agent")
        else:
            runners[kind] = Ansible(inv, data / "ansible")
    nems = {k: FaultNemesis(r, nodes, [PartitionFault("random-halves")],  # type: ignore[arg-type]
                            random.Random(1)) for k, r in runners.items()}
    test = {"start_wall_ns": time.time_ns(), "nodes": {}}
    fs = ("start-partition", "stop-partition")
    lat: dict[tuple[str, str], list[float]] = {(k, f): [] for k in kinds for f in fs}
    wall: dict[tuple[str, str], list[float]] = {(k, f): [] for k in kinds for f in fs}
    errors = 0
    try:
        for _ in range(args.repeats):
            for kind in kinds:
                for f in fs:
                    time.sleep(args.gap)
                    t = time.monotonic()
                    done = nems[kind].invoke(test, Op(type="invoke", f=f, process=NEMESIS,
                                                      time=0))
                    wall[kind, f].append(time.monotonic() - t)
                    if done.error or "effect_latency_s" not in done.extra:
                        errors += 1
                        print(f"{kind} {f}: error {done.error}")
                        continue
                    lat[kind, f].append(done.extra["effect_latency_s"])
    finally:
        for nem in nems.values():
            nem.close()
        Ansible(inv, data / "heal").run("heal.yml")
    print(f"hosts={len(nodes)} repeats={args.repeats} gap={args.gap}s errors={errors} "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for (kind, f), xs in lat.items():
        if not xs:
            continue
        print(f"{kind:5s} {f:15s} invoke->effect s: p50 {pct(xs, 50):.3f}  p99 {pct(xs, 99):.3f}"
              f"  min {min(xs):.3f}  median {statistics.median(xs):.3f}  max {max(xs):.3f}"
              f"  (op wall median {statistics.median(wall[kind, f]):.3f})")

if __name__ == "__main__":
    main()
