"""Nemeses by name. A nemesis injects and heals faults through playbooks;
its schedule (when to start and stop faults) is a generator."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pyharness.ansible import Ansible
from pyharness.client import Nemesis
from pyharness.generator import Generator, GenLike, cycle, sleep
from pyharness.nemesis import partition


@dataclass
class NemesisPackage:
    """A nemesis plus the schedule that drives it and the op that heals it."""

    nemesis: Nemesis | None
    generator: Generator | None
    final_generator: GenLike = None


def none_package(opts: Mapping[str, Any], ansible: Ansible, nodes: list[str]) -> NemesisPackage:
    return NemesisPackage(None, None)


def _partition(shape: partition.Shape) -> Callable[..., NemesisPackage]:
    def make(opts: Mapping[str, Any], ansible: Ansible, nodes: list[str]) -> NemesisPackage:
        interval = float(opts.get("nemesis_interval", 5.0))
        nem = partition.PartitionNemesis(ansible, nodes, shape,
                                         random.Random(opts.get("seed")))
        schedule = cycle([sleep(interval), {"f": "start-partition"},
                          sleep(interval), {"f": "stop-partition"}])
        return NemesisPackage(nem, schedule, {"f": "stop-partition"})
    return make


NEMESES: dict[str, Callable[..., NemesisPackage]] = {
    "none": none_package,
    **{f"partition-{name}": _partition(shape) for name, shape in partition.SHAPES.items()},
}


def names() -> list[str]:
    return sorted(NEMESES)
