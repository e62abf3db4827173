"""A driver killed with SIGKILL cleans nothing up; ``pyharness heal`` must.

The driver runs a combined partition + pause schedule. Once a partition and
a pause are both in place (and no nemesis op is half done), the driver gets
SIGKILL: no cleanup runs, members stay paused and partitioned. Then
``pyharness heal -i INVENTORY`` must leave a healthy cluster whose every
member serves quorum reads. The test tears the cluster down itself, since
the dead driver never did.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import urllib3

from pyharness.control import paths
from pyharness.control.ansible import Ansible
from pyharness.control.inventory import Node
from pyharness.etcd import v2 as etcd_v2
from pyharness.history import INVOKE, NEMESIS, read_jsonl
from tests.integration.conftest import netns_exec, pyharness


def active_faults(history: Path) -> tuple[set[str], bool]:
    """Faults whose start completed with no stop invoked since, and whether a
    nemesis op is in flight."""
    active: set[str] = set()
    in_flight = False
    for o in read_jsonl(history):
        if o.process != NEMESIS:
            continue
        verb, _, kind = o.f.partition("-")
        if o.type == INVOKE:
            in_flight = True
            if verb == "stop":
                active.discard(kind)
            continue
        in_flight = False
        if verb == "start" and o.error is None and "effective_ns" in o.extra:
            active.add(kind)
    return active, in_flight


def paused_members(nodes: list[Node]) -> list[str]:
    out = []
    for n in nodes:
        pid = netns_exec(n.name, "sh", "-c", "ss -Htlnp 'sport = :2379'").stdout
        if "pid=" not in pid:
            continue
        p = pid.split("pid=")[1].split(",")[0]
        if Path(f"/proc/{p}/stat").read_text().split()[2] == "T":
            out.append(n.name)
    return out


def test_heal_after_kill_9_during_partition_and_pause(lab_inventory: Path,
                                                      lab_nodes: list[Node],
                                                      tmp_path: Path) -> None:
    store = tmp_path / "store"
    exe = Path(sys.executable).parent / "pyharness"
    # Seed 2 starts a partition, then a pause while it is in place.
    proc = subprocess.Popen(
        [str(exe), "test", "-i", str(lab_inventory), "--nemesis", "partition,pause",
         "--nemesis-interval", "2", "--time-limit", "120", "--rate", "20", "--seed", "2",
         "--store", str(store)], cwd=paths.ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    ansible = Ansible(lab_inventory, tmp_path / "ansible", {"store_dir": str(tmp_path)})
    try:
        history = store / "latest" / "history.jsonl"
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "partition and pause never overlapped"
            if history.exists():
                active, in_flight = active_faults(history)
                if {"partition", "pause"} <= active and not in_flight:
                    break
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # The faults outlived the driver.
        assert any("PYHARNESS" in netns_exec(n.name, "iptables", "-S").stdout
                   for n in lab_nodes)
        assert paused_members(lab_nodes)

        r = pyharness("heal", "-i", str(lab_inventory), timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]

        for n in lab_nodes:
            assert "PYHARNESS" not in netns_exec(n.name, "iptables", "-S").stdout, n.name
        assert paused_members(lab_nodes) == []
        http = urllib3.PoolManager(retries=False, timeout=2.0)
        for n in lab_nodes:
            assert b"true" in http.request("GET", f"{n.client_url()}/health").data, n.name
        key = f"/pyharness-recovery-{time.time_ns()}"
        etcd_v2.connect(lab_nodes[0].address, lab_nodes[0].client_port,
                        timeout=5.0).write(key, "healed")
        for n in lab_nodes:  # quorum reads go through the leader: the cluster serves
            client = etcd_v2.connect(n.address, n.client_port, timeout=5.0)
            assert client.read(key, quorum=True).value == "healed", n.name
    finally:
        if proc.poll() is None:
            proc.kill()
        ansible.run("heal.yml")
        ansible.run("teardown.yml")
