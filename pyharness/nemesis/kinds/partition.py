"""``partition``: cut the cluster by a grudge (host -> the peers whose
packets it drops), as iptables rules in the suite's own chain.

``partition`` picks the shape per op from the target kind; ``partition-SHAPE``
fixes it (``partition-grudge`` reads the shape from ``--grudge-file``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyharness.nemesis import partition
from pyharness.nemesis.registry import Action, Chooser, FaultKind, Step, register
from pyharness.nemesis.targets import target_kind
from pyharness.options import Option

if TYPE_CHECKING:
    from pyharness.history import Op

# Shape of a plain "partition" fault for each target kind.
PARTITION_SHAPE_FOR = {
    "one": "isolate-one",
    "minority": "random-halves",
    "majority": "random-halves",
    "all": "majorities-ring",
    "leader": "isolate-leader",
}


@dataclass
class PartitionFault:
    """``shape`` None: chosen per op from the target kind (PARTITION_SHAPE_FOR)."""

    kind: FaultKind
    shape: str | None = None
    grudge: partition.Grudge | None = None
    name: str = "partition"

    def start(self, nem: Chooser, test: Mapping[str, Any], op: Op) -> Action:
        shape = self.shape or PARTITION_SHAPE_FOR[target_kind(nem.rng, nem.target_kinds, op)]
        cut = partition.cut_for(shape, nem.nodes, nem.rng, test, self.grudge)
        value: dict[str, Any] = {"components": cut.components}
        if self.shape is None:
            value["shape"] = shape
        extra: dict[str, Any] = {"grudge": cut.grudge, **(cut.info or {})}
        return self.kind.start.action({"partition_grudge": cut.grudge}, sorted(cut.grudge),
                                      value, extra)

    def stop(self, nem: Chooser, test: Mapping[str, Any], op: Op,
             hosts: list[str]) -> Action:
        # The chain goes on every host: a host outside the last grudge may
        # still hold an older one.
        return self.kind.stop.action({}, nem.nodes, "healed")


def _make(kind: FaultKind, name: str, opts: Mapping[str, Any],
          nodes: Sequence[str]) -> PartitionFault:
    if name == "partition":
        return PartitionFault(kind)
    shape = name[len("partition-"):]
    grudge = None
    if shape == "grudge":
        path = opts.get("grudge_file")
        if not path:
            raise ValueError("--nemesis partition-grudge needs --grudge-file FILE")
        grudge = partition.load_grudge(path, list(nodes))
    return PartitionFault(kind, shape, grudge)


PARTITION = register(FaultKind(
    name="partition",
    summary="drop packets between groups of members (iptables, the suite's own chain)",
    start=Step("partition.yml", "partition", "apply.yml", "Apply the grudge",
               verify_task="Verify the grudge"),
    stop=Step("partition-heal.yml", "partition", "remove.yml", "Remove the grudge"),
    heal=(("partition", "remove.yml"),),
    make=_make,
    options=(Option("grudge_file", "--grudge-file", "path", nullable=True, group="faults",
                    default=None, help="partition-grudge: JSON or YAML mapping host -> "
                                       "peers it drops."),),
    variants=tuple(f"partition-{s}" for s in partition.ALL_SHAPES),
    group="partition",
))

__all__ = ["PARTITION", "PARTITION_SHAPE_FOR", "PartitionFault"]
