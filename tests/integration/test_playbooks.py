"""The Ansible side, run for real against the local lab.

These tests drive the playbooks the way the driver does (ansible-runner, the
repo's ansible.cfg) and check their effect on the lab: the etcd lab_cluster, the
iptables rules inside each host's namespace, what a client sees during a
partition. They need root and the lab; the fixture brings the lab and the
lab_cluster up (both idempotent) and leaves them up.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyharness.control import lab
from pyharness.control.ansible import Ansible, PlaybookResult

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventory" / "lab.yml"
SPLIT = {
    "n1": ["n3", "n4", "n5"],
    "n2": ["n3", "n4", "n5"],
    "n3": ["n1", "n2"],
    "n4": ["n1", "n2"],
    "n5": ["n1", "n2"],
}

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]


def play(playbook: str, extravars: dict[str, Any] | None = None) -> PlaybookResult:
    """Run a playbook against the lab through ansible-runner, as the driver does."""
    with tempfile.TemporaryDirectory() as pdir:
        return Ansible(INVENTORY, Path(pdir)).run(playbook, extravars)


def iptables_s(host: str) -> list[str]:
    out = subprocess.run(
        ["ip", "netns", "exec", f"pyh-{host}", "iptables", "-w", "-S"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.splitlines()


def quorum_read(host: str, timeout: float = 3.0) -> dict[str, Any] | None:
    """A v2 quorum read of /x on a member; None if it did not answer in time."""
    n = host.removeprefix("n")
    url = f"http://10.77.0.{n}:2379/v2/keys/x?quorum=true"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.load(resp)
    except (TimeoutError, urllib.error.URLError):
        return None


@pytest.fixture(scope="module")
def lab_cluster(lab_inventory: Path) -> Iterator[None]:
    assert play("setup.yml").rc == 0
    req = urllib.request.Request("http://10.77.0.3:2379/v2/keys/x", data=b"value=1", method="PUT")
    urllib.request.urlopen(req, timeout=5).close()
    yield
    play("heal.yml")
    play("teardown.yml")


def test_lab_up_twice_changes_nothing(lab_cluster: None) -> None:
    runner = lab.run_up(5)
    assert runner.ok, runner.error_line()
    assert runner.changed_hosts() == set()


def test_the_lab_lets_bridged_traffic_through_its_own_forward_chain(lab_cluster: None) -> None:
    # The same chain mechanism as partitions and loss: one jump, first.
    forward = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True,
                             text=True, check=True).stdout.splitlines()
    assert forward[1] == "-A FORWARD -j PYH-LAB"
    assert forward.count("-A FORWARD -j PYH-LAB") == 1
    chain = subprocess.run(["iptables", "-w", "-S", "PYH-LAB"], capture_output=True,
                           text=True, check=True).stdout.splitlines()
    assert chain == ["-N PYH-LAB", "-A PYH-LAB -i pyhbr0 -o pyhbr0 -j ACCEPT"]


def test_setup_on_a_running_cluster_changes_nothing(lab_cluster: None) -> None:
    # Plain setup.yml starts a fresh cluster on purpose (it stops and wipes
    # what it finds); with etcd_fresh=false it leaves a running one alone.
    runner = play("setup.yml", {"etcd_fresh": False})
    assert runner.rc == 0
    assert runner.changed_hosts() == set()


def test_partition_cuts_minority_and_heal_restores_it(lab_cluster: None) -> None:
    r = play("partition.yml", {"partition_grudge": SPLIT})
    assert r.rc == 0
    assert set(r.task_end_ns("Apply the grudge")) == set(SPLIT)  # the driver's fault timing
    assert "-A PYHARNESS -s 10.77.0.3/32 -j DROP" in iptables_s("n1")
    assert "-A PYHARNESS -s 10.77.0.1/32 -j DROP" in iptables_s("n4")
    time.sleep(2)  # let the minority notice it lost the leader
    assert quorum_read("n1") is None
    assert quorum_read("n3") is not None

    assert play("heal.yml").rc == 0
    assert not any("PYHARNESS" in rule for rule in iptables_s("n1"))
    deadline = time.monotonic() + 15
    answer = None
    while answer is None and time.monotonic() < deadline:
        answer = quorum_read("n1")
    assert answer is not None and answer["node"]["value"] == "1"


def test_same_grudge_twice_is_unchanged_and_new_grudge_replaces(lab_cluster: None) -> None:
    assert play("partition.yml", {"partition_grudge": SPLIT}).rc == 0
    again = play("partition.yml", {"partition_grudge": SPLIT})
    assert again.rc == 0 and again.changed_hosts() == set()

    other = play("partition.yml", {"partition_grudge": {"n5": ["n1"]}})
    assert other.rc == 0
    assert [r for r in iptables_s("n5") if r.startswith("-A PYHARNESS")] == [
        "-A PYHARNESS -s 10.77.0.1/32 -j DROP"
    ]
    assert [r for r in iptables_s("n1") if r.startswith("-A PYHARNESS")] == []
    assert play("heal.yml").rc == 0


def test_heal_leaves_other_rules_alone(lab_cluster: None) -> None:
    foreign = ["-A", "INPUT", "-s", "192.0.2.7/32", "-j", "ACCEPT"]
    ns = ["ip", "netns", "exec", "pyh-n2", "iptables", "-w"]
    subprocess.run([*ns, *foreign], check=True)
    try:
        assert play("partition.yml", {"partition_grudge": SPLIT}).rc == 0
        rules = iptables_s("n2")
        assert rules.index("-A INPUT -j PYHARNESS") < rules.index(" ".join(foreign))
        assert play("heal.yml").rc == 0
        rules = iptables_s("n2")
        assert " ".join(foreign) in rules
        assert not any("PYHARNESS" in r for r in rules)
    finally:
        subprocess.run([*ns, "-D", *foreign[1:]], check=False)


def test_unknown_host_in_grudge_fails(lab_cluster: None) -> None:
    assert play("partition.yml", {"partition_grudge": {"n1": ["nowhere"]}}).rc != 0


def test_a_shared_data_dir_carries_nothing_between_runs(lab_cluster: None,
                                                        tmp_path: Path) -> None:
    # What ansible-runner left in a data dir shared by another checkout: its
    # PATH, whose venv is gone, and its extra vars.
    env = tmp_path / "env"
    env.mkdir()
    (env / "envvars").write_text(json.dumps({"PATH": "/nonexistent"}))
    (env / "extravars").write_text(json.dumps({"partition_grudge": {"n1": ["n2"]}}))
    ansible = Ansible(INVENTORY, tmp_path)
    assert ansible.run("heal.yml").ok
    first = ansible.run("partition.yml", {"partition_grudge": {"n1": ["n3"]}})
    assert first.ok, first.error_line()
    try:
        assert not env.exists()
        assert [r for r in iptables_s("n1") if r.startswith("-A PYHARNESS")] == [
            "-A PYHARNESS -s 10.77.0.3/32 -j DROP"]
        assert ansible.run("partition.yml", {"partition_grudge": {"n2": ["n1"]}}).ok
        assert [r for r in iptables_s("n1") if r.startswith("-A PYHARNESS")] == []
        assert [r for r in iptables_s("n2") if r.startswith("-A PYHARNESS")] == [
            "-A PYHARNESS -s 10.77.0.1/32 -j DROP"]
    finally:
        assert ansible.run("heal.yml").ok


def test_collect_logs(lab_cluster: None, tmp_path: Path) -> None:
    assert play("collect-logs.yml", {"store_dir": str(tmp_path)}).rc == 0
    for host in ("n1", "n2", "n3", "n4", "n5"):
        fetched = (tmp_path / "nodes" / host / "etcd.log").read_bytes()
        source = Path(f"/var/lib/pyharness/lab/{host}/etcd/etcd.log").read_bytes()
        assert fetched and source.startswith(fetched)  # the log may have grown since
    assert play("collect-logs.yml").rc != 0  # store_dir is required
