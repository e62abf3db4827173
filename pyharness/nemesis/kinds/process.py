"""``kill`` and ``pause``: signal the etcd member by its pid file.

``kill`` is SIGKILL, healed by starting the member again through the etcd
role on the same data dir; ``pause`` is SIGSTOP, healed by SIGCONT.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyharness.nemesis.registry import Action, Chooser, FaultKind, Step, register
from pyharness.nemesis.targets import for_op
from pyharness.options import Option, interval

if TYPE_CHECKING:
    from pyharness.history import Op


@dataclass
class ProcessFault:
    """Signal the members of the targets chosen per op."""

    kind: FaultKind
    stop_vars: dict[str, Any]

    @property
    def name(self) -> str:
        return self.kind.name

    def start(self, nem: Chooser, test: Mapping[str, Any], op: Op) -> Action:
        hosts, value, info = for_op(nem, test, op)
        return self.kind.start.action({"fault_hosts": ",".join(hosts)}, hosts, value, info)

    def stop(self, nem: Chooser, test: Mapping[str, Any], op: Op,
             hosts: list[str]) -> Action:
        return self.kind.stop.action({"fault_hosts": ",".join(hosts), **self.stop_vars}, hosts)


def _make_kill(kind: FaultKind, name: str, opts: Mapping[str, Any],
               nodes: Sequence[str]) -> ProcessFault:
    # restarted.yml waits until the member listens, not until it is healthy:
    # a member restarted inside a partition cannot be healthy, and the
    # schedule must not wait on the cut.
    return ProcessFault(kind, {"etcd_health_timeout": int(opts["kill_start_timeout"])})


def _make_pause(kind: FaultKind, name: str, opts: Mapping[str, Any],
                nodes: Sequence[str]) -> ProcessFault:
    return ProcessFault(kind, {})


KILL = register(FaultKind(
    name="kill",
    summary="SIGKILL the member by its pid file; heal: start it again on the same data",
    start=Step("kill.yml", "process_fault", "kill.yml", "Kill the member"),
    # One raw task that starts the member and waits until it listens: the
    # etcd role's full start runs five modules, seconds each on a busy host.
    stop=Step("start.yml", "etcd", "restarted.yml", "Start the member again"),
    heal=(("process_fault", "check.yml"), ("etcd", "started.yml")),
    make=_make_kill,
    options=(Option("kill_start_timeout", "--kill-start-timeout", "int",
                    interval(1, 3600, integer=True), group="faults", default=30,
                    help="kill: seconds a restarted member has to listen on its client "
                         "port."),),
))

PAUSE = register(FaultKind(
    name="pause",
    summary="SIGSTOP the member by its pid file; heal: SIGCONT",
    start=Step("pause.yml", "process_fault", "pause.yml", "Pause the member"),
    stop=Step("resume.yml", "process_fault", "resume.yml", "Resume the member"),
    heal=(("process_fault", "resume.yml"),),
    make=_make_pause,
))
