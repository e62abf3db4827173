"""Which hosts a fault hits: Jepsen's target specs.

- ``one``: a random host;
- ``minority``: a random minority (2 of 5);
- ``majority``: a random majority (3 of 5);
- ``all``: every host;
- ``leader``: the current leader, asked of the cluster when the fault starts
  (a random host if no leader is known; the op records ``leader: null``).

A spec list such as ``one,minority,leader`` means: for each fault, one of
these at random. Random choices come from the nemesis' seeded generator, so
a seed replays the same targets.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

KINDS = ("one", "minority", "majority", "all", "leader")
DEFAULT = ("one", "minority", "majority", "all", "leader")


def parse(spec: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"one,leader"`` -> ``("one", "leader")``; ValueError naming a bad kind."""
    if spec is None or spec == "":
        return DEFAULT
    parts = [p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec)]
    bad = [p for p in parts if p not in KINDS]
    if bad or not parts:
        raise ValueError(f"--nemesis-targets must be a comma-separated list of "
                         f"{', '.join(KINDS)}; got {bad[0] if bad else spec!r}")
    return tuple(parts)


LeaderFinder = Callable[[Mapping[str, Any]], str | None]


def leader_of(test: Mapping[str, Any]) -> str | None:
    """The current leader's name, asked of the cluster (None if unknown)."""
    # Imported here: the registry (and so --help) reads this module.
    from pyharness.nemesis.leader import find_leader

    return find_leader(test.get("nodes", {}))


def choose(kind: str, nodes: Sequence[str], rng: random.Random, test: Mapping[str, Any],
           leader: LeaderFinder = leader_of) -> tuple[list[str], dict[str, Any]]:
    """The hosts for ``kind``, plus what to record about the choice."""
    nodes = list(nodes)
    n = len(nodes)
    if kind == "one":
        return [rng.choice(nodes)], {}
    if kind == "minority":
        return sorted(rng.sample(nodes, max(1, (n - 1) // 2))), {}
    if kind == "majority":
        return sorted(rng.sample(nodes, n // 2 + 1)), {}
    if kind == "all":
        return nodes, {}
    if kind == "leader":
        found = leader(test)
        if found is None or found not in nodes:
            return [rng.choice(nodes)], {"leader": None}
        return [found], {"leader": found}
    raise ValueError(f"unknown target kind {kind!r}")


def target_kind(rng: random.Random, kinds: Sequence[str], op: Any) -> str:
    """The op's own target kind if the schedule chose one, else a random one
    of ``kinds``."""
    value = getattr(op, "value", None)
    if isinstance(value, Mapping) and value.get("targets") in KINDS:
        return str(value["targets"])
    return rng.choice(list(kinds))


def for_op(nem: Any, test: Mapping[str, Any], op: Any
           ) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    """The hosts a fault's start hits, for a nemesis with ``nodes``, ``rng``
    and ``target_kinds``: (hosts, the op's value, what to record)."""
    which = target_kind(nem.rng, nem.target_kinds, op)
    hosts, info = choose(which, nem.nodes, nem.rng, test)
    return hosts, {"targets": which}, info
