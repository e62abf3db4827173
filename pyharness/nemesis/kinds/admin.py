"""``compact`` and ``defrag``: what an operator does to a live cluster.

Jepsen's etcd test has an *admin* nemesis that compacts and defragments
while the workload runs: both rewrite storage under live traffic, and
watches resuming from a compacted revision must get the documented
"compacted" answer, never silently lose events. Both go to the member's
API (``roles/admin_fault``) and are verified by its answer.

They are operations, not states: the start does the work, and the stop
(``admin-done.yml``) changes nothing, so the schedule can still cycle them
with other faults. Nothing is left to heal.

- ``compact``: one member, chosen at random whatever the targets (the
  keyspace is the cluster's, and two compactions at once race for one
  revision), at its current revision minus ``--compact-keep``. With
  ``--compact-wait applied`` the op ends once etcd applied the compaction
  (a read below the revision answers "compacted"), and every member deletes
  the old revisions in the background, batch by batch, each batch a backend
  commit beside the apply loop: the etcd#13766 hunt kills members then;
- ``defrag``: the targets' members, each defragmented through its own API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyharness.nemesis.registry import Action, Chooser, FaultKind, Step, register
from pyharness.nemesis.targets import for_op
from pyharness.options import Option, interval, one_of

if TYPE_CHECKING:
    from pyharness.history import Op


@dataclass
class AdminFault:
    """Run one admin operation on the hosts chosen per op."""

    kind: FaultKind
    start_vars: dict[str, Any]
    one_host: bool

    @property
    def name(self) -> str:
        return self.kind.name

    def start(self, nem: Chooser, test: Mapping[str, Any], op: Op) -> Action:
        if self.one_host:
            hosts = [nem.rng.choice(nem.nodes)]
            value: Any = None
            info: dict[str, Any] = {}
        else:
            hosts, value, info = for_op(nem, test, op)
        return self.kind.start.action({"fault_hosts": ",".join(hosts), **self.start_vars},
                                      hosts, value, info)

    def stop(self, nem: Chooser, test: Mapping[str, Any], op: Op,
             hosts: list[str]) -> Action:
        return self.kind.stop.action({"fault_hosts": ",".join(hosts)}, hosts)


_DONE = Step("admin-done.yml", "admin_fault", "done.yml", "Nothing to undo", verify_by_ok=True)


def _make_compact(kind: FaultKind, name: str, opts: Mapping[str, Any],
                  nodes: Sequence[str]) -> AdminFault:
    return AdminFault(kind, {"admin_fault_compact_keep": int(opts["compact_keep"]),
                             "admin_fault_compact_physical": opts["compact_wait"] == "physical"},
                      True)


def _make_defrag(kind: FaultKind, name: str, opts: Mapping[str, Any],
                 nodes: Sequence[str]) -> AdminFault:
    return AdminFault(kind, {}, False)


COMPACT = register(FaultKind(
    name="compact",
    summary="compact the keyspace at the current revision through one member's API",
    start=Step("compact.yml", "admin_fault", "compact.yml", "Compact the keyspace",
               verify_by_ok=True),
    stop=_DONE,
    heal=(),
    make=_make_compact,
    options=(Option("compact_keep", "--compact-keep", "int",
                    interval(0, 1_000_000_000, integer=True), group="faults", default=0,
                    help="compact: compact at the current revision minus this many."),
             Option("compact_wait", "--compact-wait", "str",
                    one_of(lambda: ("physical", "applied")), group="faults", default="physical",
                    help="compact: physical waits until the old revisions are deleted on disk; "
                         "applied returns once etcd applied the compaction, and the deletion "
                         "runs on under the faults that follow."),),
    instant=True,
))

DEFRAG = register(FaultKind(
    name="defrag",
    summary="defragment the targets' members through their API",
    start=Step("defrag.yml", "admin_fault", "defrag.yml", "Defragment the member",
               verify_by_ok=True),
    stop=_DONE,
    heal=(),
    make=_make_defrag,
    instant=True,
))
