"""Network partitions, expressed as grudges.

A *grudge* maps each host to the peers whose packets it drops. A partition
into components is the *complete* grudge: every host drops everyone outside
its own component. The partition playbook applies a grudge with iptables, in
the suite's own chain, and partition-heal.yml (or heal.yml) removes that
chain alone.

Shapes (Jepsen's names) choose the grudge for each ``start-partition``:

- ``halves``: the node list cut into a minority and a majority, in order;
- ``random-halves``: the same after shuffling;
- ``isolate-one``: one random node cut off from all others;
- ``isolate-leader``: the current leader cut off (a random node when no
  leader is known); etcd should elect a new leader among the rest;
- ``majorities-ring``: nodes on a shuffled ring, each seeing only its
  nearest neighbours, so that every node sees a majority but no two see the
  same one: there is no majority component, yet every node can gather votes;
- ``bridge``: two halves that can't see each other, plus one node that sees
  both (the bridge);
- ``grudge``: a fixed grudge read from a file (JSON or YAML, host -> peers).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pyharness.history import INFO

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


@dataclass(frozen=True)
class Cut:
    """One partition: the grudge to apply, and its components when it has any."""

    grudge: Grudge
    components: list[list[str]] | None = None
    info: Mapping[str, Any] | None = None


def majorities_ring(nodes: Sequence[str], rng: random.Random) -> Cut:
    """Each node sees itself and its nearest ring neighbours, a majority in
    all; it drops everyone else."""
    ring = list(nodes)
    rng.shuffle(ring)
    n = len(ring)
    majority = n // 2 + 1
    left = (majority - 1) // 2
    right = majority - 1 - left
    grudge: Grudge = {}
    for i, node in enumerate(ring):
        seen = {ring[(i + d) % n] for d in range(-left, right + 1)}
        drops = [m for m in ring if m not in seen]
        if drops:
            grudge[node] = drops
    return Cut(grudge, None, {"ring": ring})


def bridge(nodes: Sequence[str], rng: random.Random) -> Cut:
    """Two halves that drop each other; the first node of the second half
    is the bridge and drops no one, and no one drops it."""
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    a, b = bisect(shuffled)
    if not a or len(b) < 2:
        return Cut({}, [shuffled], {"bridge": None})
    link, rest = b[0], b[1:]
    grudge = complete_grudge([a, rest])
    return Cut(grudge, [[*a, link], [link, *rest]], {"bridge": link})


def from_components(shape: Shape) -> Callable[[Sequence[str], random.Random], Cut]:
    def cut(nodes: Sequence[str], rng: random.Random) -> Cut:
        components = shape(nodes, rng)
        return Cut(complete_grudge(components), components)
    return cut


CUTS: dict[str, Callable[[Sequence[str], random.Random], Cut]] = {
    **{name: from_components(shape) for name, shape in SHAPES.items()},
    "majorities-ring": majorities_ring,
    "bridge": bridge,
}

# Shapes that need more than the node list: resolved by cut_for.
SPECIAL = ("isolate-leader", "grudge")
ALL_SHAPES = (*CUTS, *SPECIAL)


def load_grudge(path: str | Path, nodes: Sequence[str]) -> Grudge:
    """A grudge from a JSON or YAML file: ``{host: [peer, ...]}``. Raises
    ValueError with one line naming the file and what is wrong."""
    p = Path(path)
    where = f"--grudge-file {p}"
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ValueError(f"{where}: cannot read it: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{where}: not JSON or YAML{at}: "
                         f"{getattr(e, 'problem', None) or e}") from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{where}: must map each host to a list of peers it drops, "
                         f"e.g. {{\"n1\": [\"n2\", \"n3\"]}}")
    known = set(nodes)
    grudge: Grudge = {}
    for host, peers in data.items():
        if str(host) not in known:
            raise ValueError(f"{where}: host {host!r} is not in the inventory "
                             f"({', '.join(nodes)})")
        if isinstance(peers, str) or not isinstance(peers, list):
            raise ValueError(f"{where}: the peers of {host} must be a list, got {peers!r}")
        for peer in peers:
            if str(peer) not in known:
                raise ValueError(f"{where}: peer {peer!r} of {host} is not in the inventory "
                                 f"({', '.join(nodes)})")
        grudge[str(host)] = [str(x) for x in peers if str(x) != str(host)]
    return grudge


def cut_for(shape: str, nodes: Sequence[str], rng: random.Random, test: Mapping[str, Any],
            grudge: Grudge | None = None,
            leader: Callable[[Mapping[str, Any]], str | None] | None = None) -> Cut:
    """The partition of ``shape`` to apply now."""
    if shape == "grudge":
        if grudge is None:
            raise ValueError("partition-grudge needs a grudge file (--grudge-file)")
        return Cut({h: list(p) for h, p in grudge.items() if p}, None, {"source": "file"})
    if shape == "isolate-leader":
        from pyharness.nemesis.targets import leader_of  # asks the cluster: imported late

        found = (leader or leader_of)(test)
        if found is None or found not in nodes:
            c = from_components(isolate_one)(nodes, rng)
            return Cut(c.grudge, c.components, {"leader": None})
        components = [[found], [n for n in nodes if n != found]]
        return Cut(complete_grudge(components), components, {"leader": found})
    if shape not in CUTS:
        raise ValueError(f"unknown partition shape {shape!r}")
    return CUTS[shape](nodes, rng)


__all__ = ["ALL_SHAPES", "CUTS", "INFO", "SHAPES", "Cut", "Grudge",
           "complete_grudge", "cut_for", "load_grudge"]
