"""A member whose data diverges on purpose is caught, on the lab.

The consistency checker exists for etcd#13766: a member that restarts with
data the others do not hold. Here the divergence is made by hand, as an
operator could by mistake: the members are killed, one member's data dir is
replaced by a restore of an older snapshot (same name, peer URL and cluster
token, so it rejoins as the same member), and they are started again. It then
replays the leader's log on top of the old data, so its revisions run
ahead of the others' and its HashKV differs. ``pyharness check-cluster``
must say so (exit 1, naming the member); before the tampering it says the
members agree (exit 0), so the test can tell one case from the other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pyharness.control.inventory import load
from pyharness.etcd import v3 as etcd_v3
from tests.integration.conftest import fresh_cluster, pyharness

PREFIX = "/pyharness/diverge/"


def put_keys(address: str, value: str, count: int = 20) -> None:
    conn = etcd_v3.connect(address, 2379, timeout=10)
    try:
        for i in range(count):
            conn.put(f"{PREFIX}{i}", value)
    finally:
        conn.close()


def status(address: str) -> dict[str, Any] | None:
    try:
        conn = etcd_v3.connect(address, 2379, timeout=3)
    except OSError:
        return None
    try:
        return conn.call("/maintenance/status", {})
    except Exception:  # not up yet: ask again
        return None
    finally:
        conn.close()


def etcdctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["etcdctl", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "ETCDCTL_API": "3"})


def check_cluster(inventory: Path) -> tuple[int, dict[str, Any]]:
    r = pyharness("check-cluster", "-i", str(inventory), "--json", timeout=120)
    return r.returncode, json.loads(r.stdout)


def test_a_member_restored_from_an_old_snapshot_is_caught(lab_inventory: Path,
                                                          tmp_path: Path) -> None:
    nodes = load(lab_inventory)
    first, target = nodes[0], nodes[-1]
    hostvars = json.loads(subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(lab_inventory),
         "--host", target.name],
        capture_output=True, text=True, timeout=60, check=True).stdout)
    data_dir = hostvars["etcd_data_dir"]
    with fresh_cluster(lab_inventory, tmp_path) as ansible:
        put_keys(first.address, "old")
        snap = tmp_path / "old.db"
        saved = etcdctl(f"--endpoints={first.client_url()}", "snapshot", "save", str(snap))
        assert saved.returncode == 0, saved.stderr
        put_keys(first.address, "new")
        time.sleep(1)
        code, report = check_cluster(lab_inventory)
        assert code == 0, report
        assert report["verdict"] == "consistent"

        # Every member stops: a leader that stayed up would remember how far
        # this member's log went, and raft panics on a log that went back.
        assert ansible.run("kill.yml").ok
        initial = ",".join(f"{n.name}=http://{n.address}:{n.peer_port}" for n in nodes)
        subprocess.run(["rm", "-rf", data_dir], check=True, timeout=60)
        restored = etcdctl("snapshot", "restore", str(snap), f"--name={target.name}",
                           f"--initial-cluster={initial}", "--initial-cluster-token=pyharness",
                           f"--initial-advertise-peer-urls=http://{target.address}:"
                           f"{target.peer_port}", f"--data-dir={data_dir}")
        assert restored.returncode == 0, restored.stderr
        assert ansible.run("start.yml").ok

        # It has caught up when its applied raft index reaches the others'.
        deadline = time.monotonic() + 60
        while True:
            states = {n.name: status(n.address) for n in nodes}
            if all(states.values()):
                applied = {k: int(v["raftAppliedIndex"]) if "raftAppliedIndex" in v
                           else int(v["raftIndex"]) for k, v in states.items() if v}
                if applied[target.name] >= min(applied.values()):
                    break
            assert time.monotonic() < deadline, states
            time.sleep(0.5)
        revisions = {k: int(v["header"]["revision"]) for k, v in states.items() if v}
        assert revisions[target.name] > revisions[first.name], revisions

        code, report = check_cluster(lab_inventory)
        assert code == 1, report
        assert report["verdict"] == "inconsistent"
        assert report["hashes-agree"] is False
        assert any(target.name in p for p in report["problems"]), report["problems"]
