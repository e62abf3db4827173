"""``partition-snapshot`` on the lab: the cut member is healed only once it
can catch up from a snapshot alone, and it does.

The cluster runs with ``--snapshot-count 100``, so the leader keeps only
5,000 entries past its last snapshot. Writes go on through the majority
while one follower is cut off; the stop waits until the leader's raft index
is 5,200 entries past the member's, then heals. The stop's own proof is
the member's snapshot counter; checked from outside the suite too: the
member's own log says its raft restored a snapshot after the
heal, and it then holds the last key written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pyharness import nemesis
from pyharness.control import paths
from pyharness.control.ansible import Ansible
from pyharness.control.inventory import Node
from pyharness.etcd import v3 as etcd_v3
from pyharness.history import INFO, NEMESIS, Op
from tests.integration.conftest import fresh_cluster

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(not Path("/usr/bin/etcd").exists(), reason="needs Debian's etcd-server"),
]


@pytest.fixture(scope="module")
def cluster(lab_inventory: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ansible]:
    with fresh_cluster(lab_inventory, tmp_path_factory.mktemp("snapshot"),
                       etcd_snapshot_count=100) as ansible:
        yield ansible


def _log(node: Node) -> Path:
    inv = yaml.safe_load(paths.LAB_INVENTORY.read_text())
    return Path(inv["all"]["children"]["etcd"]["hosts"][node.name]["etcd_log_file"])


def _writes(nodes: list[Node], stop: threading.Event, out: list[int]) -> None:
    """Puts through every member, bounded by ``stop`` and 120 s."""
    deadline = time.monotonic() + 120

    def loop(node: Node, w: int) -> None:
        conn = None
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn = conn or etcd_v3.connect(node.address, node.client_port, timeout=1.0)
                conn.put(f"/pyharness-snap/{node.name}/{w}", str(time.monotonic_ns()))
                out.append(1)
            except Exception:  # the cut member refuses or times out
                conn = None
                time.sleep(0.05)

    threads = [threading.Thread(target=loop, args=(n, w), daemon=True)
               for n in nodes for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_the_cut_member_is_healed_behind_a_snapshot_and_restores_it(
        cluster: Ansible, lab_nodes: list[Node]) -> None:
    test: dict[str, Any] = {
        "start_wall_ns": time.time_ns(),
        "nodes": {n.name: {"address": n.address, "client_port": n.client_port}
                  for n in lab_nodes}}
    pkg = nemesis.build("partition-snapshot", {"seed": 1, "snapshot_count": 100,
                                               "snapshot_wait": 90.0},
                        cluster, [n.name for n in lab_nodes])
    nem = pkg.nemesis
    stop = threading.Event()
    ok: list[int] = []
    load = threading.Thread(target=_writes, args=(lab_nodes, stop, ok), daemon=True)
    try:
        start = nem.invoke(test, Op(type=INFO, f="start-partition-snapshot", process=NEMESIS,
                                    time=0))
        assert start.error is None, start.error
        member = start.extra["member"]
        assert member != start.extra["leader"] and start.extra["unverified"] == {}
        node = next(n for n in lab_nodes if n.name == member)
        lines_before = _log(node).read_text(errors="replace").count("restore snapshot")
        load.start()
        healed = nem.invoke(test, Op(type=INFO, f="stop-partition-snapshot", process=NEMESIS,
                                     time=0))
        assert healed.error is None, healed.error
        assert "effect-not-reached" not in healed.extra, healed.extra
        assert healed.extra["snapshot-lag"] >= 5200 == healed.extra["snapshot-lag-wanted"]
        # The nemesis's own proof: the member's snapshot counter went up.
        assert healed.extra["snapshots-received"] >= 1, healed.extra
        print(f"cut {member}; healed at lag {healed.extra['snapshot-lag']} after "
              f"{healed.extra['waited-s']} s; a snapshot arrived "
              f"{healed.extra['snapshot-s']} s later")
    finally:
        stop.set()
        nem.close()
    load.join(30)
    assert len(ok) > 5200
    # The member's raft restored a snapshot after the heal: the log says so.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = _log(node).read_text(errors="replace")
        if text.count("restore snapshot") > lines_before:
            break
        time.sleep(0.5)
    assert text.count("restore snapshot") > lines_before, text[-3000:]
    print(next(ln for ln in text.splitlines()[::-1] if "restore snapshot" in ln)[:300])
    # And it caught up: its serializable read is at the majority's revision.
    other = next(n for n in lab_nodes if n.name != member)
    want = int(etcd_v3.connect(other.address, other.client_port, timeout=5)
               .call("/kv/range", {"key": "AA=="})["header"]["revision"])
    deadline = time.monotonic() + 30
    got = 0
    while time.monotonic() < deadline and got < want:
        got = int(etcd_v3.connect(node.address, node.client_port, timeout=5).call(
            "/kv/range", {"key": "AA==", "serializable": True})["header"]["revision"])
        time.sleep(0.2)
    assert got >= want

    # Cut again at once: the leader that just sent a snapshot keeps its
    # whole log for 30 s, so the lag is reached but no snapshot follows,
    # and the stop must say so rather than pass for one.
    again = nemesis.build("partition-snapshot", {"seed": 2, "snapshot_count": 100,
                                                 "snapshot_wait": 20.0},
                          cluster, [n.name for n in lab_nodes]).nemesis
    stop2 = threading.Event()
    load2 = threading.Thread(target=_writes, args=(lab_nodes, stop2, ok), daemon=True)
    try:
        assert again.invoke(test, Op(type=INFO, f="start-partition-snapshot",
                                     process=NEMESIS, time=0)).error is None
        load2.start()
        healed = again.invoke(test, Op(type=INFO, f="stop-partition-snapshot",
                                       process=NEMESIS, time=0))
    finally:
        stop2.set()
        again.close()
    load2.join(30)
    assert healed.extra["snapshot-lag"] >= 5200, healed.extra
    assert healed.extra["snapshots-received"] == 0, healed.extra
    assert "received no snapshot" in healed.extra["effect-not-reached"], healed.extra
