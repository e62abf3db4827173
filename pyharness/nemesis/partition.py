"""Network partitions, expressed as grudges.

A *grudge* maps each host to the peers whose packets it drops. A partition
into components is the *complete* grudge: every host drops everyone outside
its own component. The partition playbook applies a grudge with iptables, in
the suite's own chain, and the heal playbook removes that chain alone.

Shapes choose components (Jepsen's names): ``random-halves`` shuffles the
nodes and cuts them into a minority and a majority; ``halves`` does the same
without shuffling; ``isolate-one`` cuts one random node off.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pyharness.ansible import Ansible
from pyharness.history import INFO, Op

log = logging.getLogger(__name__)

Grudge = dict[str, list[str]]
Shape = Callable[[Sequence[str], random.Random], list[list[str]]]


def complete_grudge(components: Sequence[Sequence[str]]) -> Grudge:
    everyone = [n for c in components for n in c]
    grudge: Grudge = {}
    for comp in components:
        others = [n for n in everyone if n not in comp]
        for n in comp:
            if others:
                grudge[n] = list(others)
    return grudge


def bisect(nodes: Sequence[str]) -> list[list[str]]:
    """Minority first: 5 nodes -> 2 and 3."""
    half = len(nodes) // 2
    return [list(nodes[:half]), list(nodes[half:])]


def halves(nodes: Sequence[str], rng: random.Random) -> list[list[str]]:
    return bisect(nodes)


def random_halves(nodes: Sequence[str], rng: random.Random) -> list[list[str]]:
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    return bisect(shuffled)


def isolate_one(nodes: Sequence[str], rng: random.Random) -> list[list[str]]:
    loner = rng.choice(list(nodes))
    return [[loner], [n for n in nodes if n != loner]]


SHAPES: dict[str, Shape] = {
    "halves": halves,
    "random-halves": random_halves,
    "isolate-one": isolate_one,
}


class PartitionNemesis:
    """start-partition applies a grudge of the given shape; stop-partition heals."""

    fs = frozenset({"start-partition", "stop-partition"})

    def __init__(self, ansible: Ansible, nodes: Sequence[str], shape: Shape,
                 rng: random.Random | None = None) -> None:
        self.ansible = ansible
        self.nodes = list(nodes)
        self.shape = shape
        self.rng = rng or random.Random()

    def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        wall0 = int(test["start_wall_ns"])
        if op.f == "start-partition":
            components = self.shape(self.nodes, self.rng)
            grudge = complete_grudge(components)
            r = self.ansible.run("partition.yml", {"partition_grudge": grudge})
            done = op.completion(INFO, value={"components": components})
            done.extra["grudge"] = grudge
            done.extra["hosts"] = sorted(grudge)
            ends = r.task_end_ns("Apply the grudge")
        elif op.f == "stop-partition":
            r = self.ansible.run("heal.yml")
            done = op.completion(INFO, value="healed")
            done.extra["hosts"] = list(self.nodes)
            ends = r.task_end_ns("Remove the grudge")
        else:
            raise ValueError(f"partition nemesis: unknown f {op.f!r}")
        done.extra["playbook_s"] = round(r.elapsed_s, 3)
        if ends:
            # When the last target host had its rules in place.
            done.extra["effective_ns"] = max(ends.values()) - wall0
        if not r.ok:
            done.error = r.error_line()
        return done

    def heal(self, test: Mapping[str, Any]) -> None:
        r = self.ansible.run("heal.yml")
        if not r.ok:
            raise RuntimeError(f"heal failed: {r.error_line()}")
