"""When faults start and stop: the nemesis' schedule, as a generator.

One fault: Jepsen's classic cycle, ``sleep, start-X, sleep, stop-X`` with the
same interval throughout.

Several faults: Jepsen's combined nemesis. Each fault is a flip-flop (its
next op is ``start-X`` if it is not in place, else ``stop-X``), and every
interval one fault is chosen at random and flipped. So faults overlap: a
partition may start while a member is paused. Intervals vary between 0.5
and 1.5 times ``nemesis_interval`` so that faults don't lock step with
anything periodic in the load.

The order is drawn from a ``random.Random`` seeded with the test's seed
before the test starts, so the same seed gives the same schedule no matter
how the run's timing turns out. (Which hosts each fault hits is drawn by the
nemesis, from its own seeded generator, as each op runs.)
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from pyharness.gen.generator import Generator, cycle, seq, sleep


def plan(faults: Sequence[str], interval: float, seed: int | None,
         steps: int) -> list[tuple[float, str]]:
    """``steps`` (delay seconds, f) pairs: each op runs ``delay`` after the
    previous one completed."""
    if not faults:
        return []
    rng = random.Random(f"pyharness-schedule-{seed}" if seed is not None else None)
    active: set[str] = set()
    out: list[tuple[float, str]] = []
    for _ in range(steps):
        name = rng.choice(list(faults))
        verb = "stop" if name in active else "start"
        (active.discard if verb == "stop" else active.add)(name)
        out.append((round(interval * rng.uniform(0.5, 1.5), 3), f"{verb}-{name}"))
    return out


def generator(faults: Sequence[str], interval: float, seed: int | None,
              time_limit: float | None = None) -> Generator:
    if len(faults) == 1:
        name = faults[0]
        return cycle([sleep(interval), {"f": f"start-{name}"},
                      sleep(interval), {"f": f"stop-{name}"}])
    # Enough steps to outlast the test even if every delay were the shortest
    # (0.5 interval, playbooks taking no time); the time limit cuts it.
    steps = math.ceil((time_limit or 3600.0) / max(interval * 0.5, 0.01)) + 4
    items: list[Any] = []
    for delay, f in plan(faults, interval, seed, steps):
        items += [sleep(delay), {"f": f}]
    return seq(*items)


def final(faults: Sequence[str]) -> list[dict[str, str]]:
    """Ops that undo every fault still in place (a stop for an inactive
    fault is a no-op)."""
    return [{"f": f"stop-{name}"} for name in faults]
