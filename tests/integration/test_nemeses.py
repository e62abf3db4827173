"""Each fault on the real lab, observed from outside: a killed member's port
is closed, a paused member doesn't answer, a slow link shows in latency,
loss shows in timeouts, netem stops with a clear message on a kernel without
it, an isolated leader loses leadership, and a failing op is an info op
naming host and task."""

from __future__ import annotations

import random
import socket
import statistics
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml

from pyharness.control.ansible import Ansible
from pyharness.control.inventory import Node
from pyharness.etcd import v2 as etcd_v2
from pyharness.history import INFO, NEMESIS, Op
from pyharness.nemesis import fault
from pyharness.nemesis.faults import FaultNemesis
from pyharness.nemesis.leader import find_leader
from tests.integration.conftest import fresh_cluster, netns_exec


@pytest.fixture(scope="module")
def cluster(lab_inventory: Path, lab_nodes: list[Node],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ansible]:
    with fresh_cluster(lab_inventory, tmp_path_factory.mktemp("nemeses")) as ansible:
        yield ansible


@pytest.fixture
def test_map(lab_nodes: list[Node]) -> dict[str, Any]:
    return {"start_wall_ns": time.time_ns(),
            "nodes": {n.name: {"address": n.address, "client_port": n.client_port}
                      for n in lab_nodes}}


def invoke(nem: FaultNemesis, test: Mapping[str, Any], f: str, value: Any = None) -> Op:
    done = nem.invoke(test, Op(type="invoke", f=f, value=value, process=NEMESIS, time=0))
    assert done.type == INFO and done.f == f
    return done


def port_open(node: Node, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((node.address, node.client_port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_healthy(nodes: list[Node], deadline_s: float = 60) -> None:
    http = urllib3.PoolManager(retries=False, timeout=1.0)
    deadline = time.monotonic() + deadline_s
    for n in nodes:
        while True:
            try:
                if b"true" in http.request("GET", f"{n.client_url()}/health").data:
                    break
            except urllib3.exceptions.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{n.name} is not healthy"
            time.sleep(0.5)


def by_name(nodes: list[Node], name: str) -> Node:
    return next(n for n in nodes if n.name == name)


def test_killed_member_has_its_port_closed_until_started(
        cluster: Ansible, lab_nodes: list[Node], test_map: dict[str, Any]) -> None:
    nem = FaultNemesis(cluster, [n.name for n in lab_nodes], [fault("kill")],
                       random.Random(1))
    start = invoke(nem, test_map, "start-kill", {"targets": "one"})
    assert start.error is None, start.error
    (host,) = start.extra["hosts"]
    assert start.extra["effective_ns"] > 0
    assert not port_open(by_name(lab_nodes, host))
    assert all(port_open(n) for n in lab_nodes if n.name != host)
    stop = invoke(nem, test_map, "stop-kill")
    assert stop.error is None and stop.extra["hosts"] == [host]
    assert stop.extra["effective_ns"] > start.extra["effective_ns"]
    assert port_open(by_name(lab_nodes, host))
    wait_healthy(lab_nodes)


def test_a_member_killed_inside_a_partition_is_restarted_without_waiting_for_the_cut(
        cluster: Ansible, lab_nodes: list[Node], test_map: dict[str, Any]) -> None:
    names = [n.name for n in lab_nodes]
    # Every host cut off from every other: no member can have a leader.
    apart = cluster.run("partition.yml", {"partition_grudge": {
        h: [o for o in names if o != h] for h in names}})
    assert apart.ok, apart.error_line()
    try:
        nem = FaultNemesis(cluster, names, [fault("kill", {"kill_start_timeout": 20})],
                           random.Random(3))
        start = invoke(nem, test_map, "start-kill", {"targets": "one"})
        assert start.error is None, start.error
        node = by_name(lab_nodes, start.extra["hosts"][0])
        assert not port_open(node)
        stop = invoke(nem, test_map, "stop-kill")
        # Listening again, though it cannot be healthy: no error, and the
        # schedule was not held for the start timeout.
        assert stop.error is None, stop.error
        assert stop.extra["playbook_s"] < 15
        assert port_open(node)
    finally:
        assert cluster.run("heal.yml").ok
    wait_healthy(lab_nodes)


def test_paused_member_does_not_answer_until_resumed(
        cluster: Ansible, lab_nodes: list[Node], test_map: dict[str, Any]) -> None:
    nem = FaultNemesis(cluster, [n.name for n in lab_nodes], [fault("pause")],
                       random.Random(2))
    start = invoke(nem, test_map, "start-pause", {"targets": "one"})
    assert start.error is None, start.error
    node = by_name(lab_nodes, start.extra["hosts"][0])
    client = etcd_v2.connect(node.address, node.client_port, timeout=1.0)
    with pytest.raises(Exception) as caught:  # the socket accepts, nobody reads
        client.read("/pyharness-pause-probe")
    assert not etcd_v2.classify(caught.value).definite  # a read timeout, not a refusal
    invoke(nem, test_map, "stop-pause")
    answer = etcd_v2.connect(node.address, node.client_port, timeout=2.0)
    try:
        answer.read("/pyharness-pause-probe")
    except Exception as e:  # KeyNotFound: it answered
        assert "Key not found" in str(e), e


def _timed_big_reads(node: Node, key: str, n: int = 3) -> float:
    client = etcd_v2.connect(node.address, node.client_port, timeout=10.0)
    times = []
    for _ in range(n):
        t = time.monotonic()
        assert len(client.read(key).value) > 100_000
        times.append(time.monotonic() - t)
    return statistics.median(times)


def test_slow_link_shows_in_latency(cluster: Ansible, lab_nodes: list[Node],
                                    test_map: dict[str, Any]) -> None:
    target, writer = lab_nodes[0], lab_nodes[1]
    key = "/pyharness-slow-probe"
    etcd_v2.connect(writer.address, writer.client_port, timeout=5.0).write(key, "x" * 200_000)
    wait_healthy(lab_nodes)
    before = _timed_big_reads(target, key)
    nem = FaultNemesis(cluster, [target.name], [fault("slow", {"slow_rate": "1mbit"})],
                       random.Random(3))
    start = invoke(nem, test_map, "start-slow", {"targets": "all"})
    assert start.error is None, start.error
    try:
        assert "tbf 7e57:" in netns_exec(target.name, "tc", "qdisc", "show").stdout
        during = _timed_big_reads(target, key)
    finally:
        stop = invoke(nem, test_map, "stop-slow")
    assert stop.error is None, stop.error
    assert "7e57:" not in netns_exec(target.name, "tc", "qdisc", "show").stdout
    # 200 KB at 1 Mbit/s is 1.6 s on the wire; unlimited it takes milliseconds.
    assert during > before + 1.0, (before, during)
    assert _timed_big_reads(target, key) < during / 2


def _bad_requests(node: Node, n: int = 20) -> int:
    """Requests, each on a fresh connection, that failed or took over 150 ms."""
    bad = 0
    for i in range(n):
        client = etcd_v2.connect(node.address, node.client_port, timeout=0.5)
        t = time.monotonic()
        try:
            client.read(f"/pyharness-loss-probe-{i}")
        except Exception as e:
            if "Key not found" not in str(e):
                bad += 1
                continue
        if time.monotonic() - t > 0.15:
            bad += 1
    return bad


def test_loss_shows_in_timeouts(cluster: Ansible, lab_nodes: list[Node],
                                test_map: dict[str, Any]) -> None:
    target = lab_nodes[2]
    wait_healthy(lab_nodes)
    before = _bad_requests(target)
    nem = FaultNemesis(cluster, [target.name],
                       [fault("loss", {"loss_probability": 0.5})],
                       random.Random(4))
    start = invoke(nem, test_map, "start-loss", {"targets": "all"})
    assert start.error is None, start.error
    try:
        rules = netns_exec(target.name, "iptables", "-S").stdout
        assert "-m statistic --mode random --probability 0.5" in rules
        during = _bad_requests(target)
    finally:
        invoke(nem, test_map, "stop-loss")
    assert "PYHARNESS-LOSS" not in netns_exec(target.name, "iptables", "-S").stdout
    assert during >= before + 5, (before, during)


def test_netem_on_a_kernel_without_it_gives_a_clear_message(
        cluster: Ansible, lab_nodes: list[Node], test_map: dict[str, Any]) -> None:
    probe = netns_exec(lab_nodes[0].name, "tc", "qdisc", "add", "dev", "lo", "root", "netem")
    if probe.returncode == 0:
        netns_exec(lab_nodes[0].name, "tc", "qdisc", "del", "dev", "lo", "root")
        pytest.skip("this kernel has netem")
    nem = FaultNemesis(cluster, [n.name for n in lab_nodes], [fault("netem")],
                       random.Random(5))
    done = invoke(nem, test_map, "start-netem", {"targets": "all"})
    assert done.error is not None
    assert "netem is not available on host" in done.error
    assert "'netem' qdisc" in done.error and "Specified qdisc kind is unknown" in done.error
    for n in lab_nodes:  # stopped before any host changed
        assert "7e57" not in netns_exec(n.name, "tc", "qdisc", "show").stdout, n.name
    assert "effective_ns" not in done.extra


def test_isolated_leader_loses_leadership(cluster: Ansible, lab_nodes: list[Node],
                                          test_map: dict[str, Any]) -> None:
    wait_healthy(lab_nodes)
    nem = FaultNemesis(cluster, [n.name for n in lab_nodes],
                       [fault("partition-isolate-leader")], random.Random(6))
    start = invoke(nem, test_map, "start-partition")
    old = start.extra["leader"]
    assert old is not None and start.error is None, start.extra
    assert start.value["components"][0] == [old]
    rest = {n: a for n, a in test_map["nodes"].items() if n != old}
    try:
        deadline = time.monotonic() + 15
        new = None
        while time.monotonic() < deadline:
            new = find_leader(rest)
            if new is not None and new != old:
                break
            time.sleep(0.3)
        assert new is not None and new != old, new
    finally:
        invoke(nem, test_map, "stop-partition")
    wait_healthy(lab_nodes)


def test_failing_op_is_info_naming_host_and_task(
        cluster: Ansible, lab_inventory: Path, lab_nodes: list[Node], tmp_path: Path,
        test_map: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    inv = yaml.safe_load(lab_inventory.read_text())
    inv["all"]["children"]["etcd"]["hosts"]["n4"]["ansible_port"] = 2222  # nothing listens
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inv))
    broken = Ansible(path, tmp_path / "ansible")
    nem = FaultNemesis(broken, [n.name for n in lab_nodes], [fault("pause")],
                       random.Random(7))
    with caplog.at_level("ERROR", logger="pyharness.nemesis.faults"):
        done = invoke(nem, test_map, "start-pause", {"targets": "all"})
    try:
        assert done.error is not None and "n4" in done.error and "unreachable" in done.error
        assert any("n4" in r.getMessage() and "start-pause" in r.getMessage()
                   for r in caplog.records)
        # The other hosts were paused: the fault counts as active.
        assert nem.active["pause"] == [n.name for n in lab_nodes]
    finally:
        cluster.run("resume.yml")
    wait_healthy(lab_nodes)
