"""``partition-snapshot``: cut one member off until it can only catch up
from a snapshot, then heal.

A follower that falls behind by less than the leader's retained log catches
up entry by entry. Further behind, the entries it needs are compacted away
and the leader sends it a whole snapshot instead: the path of several etcd
bugs (etcd-io/etcd#15271, a watch going back in time after one). etcd
keeps 5,000 entries after each snapshot for slow followers
(``SnapshotCatchUpEntries``) and snapshots every ``--snapshot-count``
entries, so a member more than 5,000 + snapshot-count entries behind must
be sent one.

The start isolates one follower (the leader stays in the majority and its
log moves on), with the partition role's grudge, verified by the same
probes, and reads how many snapshots the member has received so far (its
``etcd_network_snapshot_receive_success`` counter, on ``/metrics``). The
stop first waits, asking every member's ``maintenance/status`` as the
leader finder does, until the leader's raft index is ``--snapshot-lag``
entries past the cut member's (default: the test's
``--snapshot-catchup-entries``, else etcd's 5,000, + its ``--snapshot-count``
+ 100), at most ``--snapshot-wait`` seconds, then
removes the grudge, then waits up to ``SNAPSHOT_CONFIRM_S`` for that counter
to go up: the proof that the member was sent a snapshot. The stop op
records the lag (``snapshot-lag``) and the snapshots received
(``snapshots-received``). A heal before the lag, or one after which no
snapshot arrives, records ``effect-not-reached`` with the reason, and the
faults checker counts that start as not in effect: it must not pass for a
snapshot that never happened.

The lag alone is not proof: after sending a snapshot, the leader keeps its
whole log for 30 s (etcd's ``releaseDelayAfterSnapshot``), so a member cut
again within that time catches up from the log. Space the faults out
(``--nemesis-interval`` 15 or more) and use a low ``--snapshot-count``
(etcd's default is 100,000).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyharness.nemesis.kinds.partition import PARTITION
from pyharness.nemesis.registry import Action, Chooser, FaultKind, register
from pyharness.nemesis.targets import leader_of
from pyharness.options import Option, interval

if TYPE_CHECKING:
    from pyharness.history import Op

CATCH_UP_ENTRIES = 5000  # etcd 3.4 / 3.5: entries kept after a snapshot
ETCD_SNAPSHOT_COUNT = 100_000  # etcd's default --snapshot-count
_POLL_S = 0.2
SNAPSHOT_CONFIRM_S = 20.0  # seen: 0.4-1 s on 3.4.23, 5 s on 3.5.1, 10 s on 3.5.30
SNAPSHOT_METRIC = "etcd_network_snapshot_receive_success"


def raft_index(test: Mapping[str, Any], name: str) -> int | None:
    """A member's raft index from its own status, or None if it does not answer."""
    from pyharness.nemesis.leader import member_status

    node = test.get("nodes", {}).get(name)
    if not node:
        return None
    a = member_status(str(node["address"]), int(node.get("client_port", 2379)))
    try:
        return int(a["raftIndex"]) if a else None
    except (KeyError, TypeError, ValueError):
        return None


def snapshots_received(test: Mapping[str, Any], name: str) -> int | None:
    """How many snapshots a member has received from its peers (the sum of
    its receive counter over senders), or None if it does not answer."""
    from pyharness.etcd import v3 as etcd_v3

    node = test.get("nodes", {}).get(name)
    if not node:
        return None
    conn = etcd_v3.connect(str(node["address"]), int(node.get("client_port", 2379)),
                           timeout=1.0)
    try:
        text = conn.metrics()
    except Exception:
        return None
    finally:
        conn.close()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(SNAPSHOT_METRIC) and line[len(SNAPSHOT_METRIC):][:1] in ("{", " "):
            try:
                total += float(line.rsplit(None, 1)[-1])
            except ValueError:
                continue
    return int(total)


@dataclass
class SnapshotPartition:
    kind: FaultKind
    lag: int
    wait_s: float
    cut: dict[str, int] = field(default_factory=dict)  # member -> its index when cut
    received: int | None = None  # the cut member's snapshots received when cut
    confirm_s: float = SNAPSHOT_CONFIRM_S

    @property
    def name(self) -> str:
        return self.kind.name

    def start(self, nem: Chooser, test: Mapping[str, Any], op: Op) -> Action:
        leader = leader_of(test)
        followers = [n for n in nem.nodes if n != leader] or list(nem.nodes)
        member = nem.rng.choice(followers)
        others = [n for n in nem.nodes if n != member]
        grudge = {member: others, **{o: [member] for o in others}}
        self.cut.clear()
        index = raft_index(test, member)
        if index is not None:
            self.cut[member] = index
        self.received = snapshots_received(test, member)
        return self.kind.start.action(
            {"partition_grudge": grudge}, sorted(grudge),
            {"components": [[member], others]},
            {"grudge": grudge, "member": member, "leader": leader, "member-index": index,
             "member-snapshots-received": self.received})

    def stop(self, nem: Chooser, test: Mapping[str, Any], op: Op,
             hosts: list[str]) -> Action:
        member = next(iter(self.cut), None)
        t0 = time.monotonic()
        lag = self._lag(nem, test, member)
        while (lag is None or lag < self.lag) and time.monotonic() - t0 < self.wait_s:
            time.sleep(_POLL_S)
            lag = self._lag(nem, test, member)
        extra: dict[str, Any] = {"member": member, "snapshot-lag": lag,
                                 "snapshot-lag-wanted": self.lag,
                                 "waited-s": round(time.monotonic() - t0, 3)}
        after = None
        if lag is None or lag < self.lag:
            # Read by the faults checker: this start did not take the
            # effect it is for, though its grudge did.
            extra["effect-not-reached"] = (
                f"the leader was only {lag if lag is not None else 'an unknown number of'} "
                f"entries past {member} after {self.wait_s:g} s, not {self.lag}")
        elif member is not None:
            after = self._confirm(test, member, self.received)
        return self.kind.stop.action({}, nem.nodes, "healed", extra, after)

    def _confirm(self, test: Mapping[str, Any], member: str,
                 before: int | None) -> Callable[[], dict[str, Any]]:
        def check() -> dict[str, Any]:
            if before is None:
                return {"effect-not-reached":
                        f"{member}'s {SNAPSHOT_METRIC} could not be read when it was cut"}
            t0 = time.monotonic()
            now = snapshots_received(test, member)
            while (now is None or now <= before) and time.monotonic() - t0 < self.confirm_s:
                time.sleep(_POLL_S)
                now = snapshots_received(test, member)
            if now is not None and now > before:
                return {"snapshots-received": now - before,
                        "snapshot-s": round(time.monotonic() - t0, 3)}
            return {"snapshots-received": 0, "effect-not-reached": (
                f"{member} received no snapshot within {self.confirm_s:g} s of the heal: "
                "the leader still had the entries it lacked (it keeps its log for 30 s "
                "after sending a snapshot)")}
        return check

    def _lag(self, nem: Chooser, test: Mapping[str, Any], member: str | None) -> int | None:
        if member is None:
            return None
        # The cut member cannot move on; its index when cut is the fallback
        # when it does not answer (a member may also be paused or killed).
        own = raft_index(test, member)
        if own is None:
            own = self.cut.get(member)
        ahead = [i for n in nem.nodes if n != member
                 if (i := raft_index(test, n)) is not None]
        if own is None or not ahead:
            return None
        return max(ahead) - own


def _make(kind: FaultKind, name: str, opts: Mapping[str, Any],
          nodes: Sequence[str]) -> SnapshotPartition:
    lag = opts.get("snapshot_lag")
    if lag is None:
        count = opts.get("snapshot_count") or ETCD_SNAPSHOT_COUNT
        keep = opts.get("snapshot_catchup_entries") or CATCH_UP_ENTRIES
        lag = int(keep) + int(count) + 100
    return SnapshotPartition(kind, int(lag), float(opts["snapshot_wait"]))


SNAPSHOT_PARTITION = register(FaultKind(
    name="partition-snapshot",
    summary="isolate one follower until the leader is far enough ahead that it must send "
            "it a snapshot, then heal",
    start=PARTITION.start,
    stop=PARTITION.stop,
    heal=PARTITION.heal,
    make=_make,
    options=(
        Option("snapshot_lag", "--snapshot-lag", "int", interval(1, 10**9, integer=True),
               nullable=True, group="faults", default=None,
               help="partition-snapshot: raft entries the leader must be past the cut "
                    "member before the heal (default --snapshot-catchup-entries, else "
                    "5000, + --snapshot-count + 100)."),
        Option("snapshot_wait", "--snapshot-wait", "float", interval(0, 3600),
               group="faults", default=60.0,
               help="partition-snapshot: seconds the heal waits for that lag at most."),
    ),
    group="partition",
))
