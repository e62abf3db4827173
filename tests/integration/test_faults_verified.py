"""Faults prove they happened, on an archive install as on the package.

Each fault runs through the suite's own nemesis against members started from
a release archive (the install that once made kill a silent no-op), and its
effect is then checked from outside the suite: the process state with
``ps``, listeners with ``ss`` in the host's namespace, a TCP probe across a
cut, the rule or qdisc with ``iptables``/``tc``. The nemesis op must carry
``verified`` evidence for every target. End to end, a killed driver's
cluster is never reused, kills show as restarts in the node logs, and the
agent serves faults with the default, relative ``--store``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from pyharness import nemesis
from pyharness.control import paths
from pyharness.control.ansible import Ansible
from pyharness.control.inventory import Node
from pyharness.history import INFO, NEMESIS, Op, read_jsonl
from pyharness.nemesis import registry
from pyharness.nemesis.kinds.process import ProcessFault
from pyharness.nemesis.registry import FaultKind, Step
from tests.integration.conftest import fresh_cluster, netns_exec, pyharness
from tests.integration.test_etcd_archive import _QuietHandler, archive_vars, build_release

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(not Path("/usr/bin/etcd").exists(), reason="needs Debian's etcd-server"),
]


@pytest.fixture(scope="module")
def archive(lab_nodes: list[Node], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, Any]]:
    """Role variables of an archive install, served on the lab bridge."""
    served = tmp_path_factory.mktemp("release")
    tarball, digest = build_release(served)
    bridge = lab_nodes[0].address.rsplit(".", 1)[0] + ".254"
    server = ThreadingHTTPServer((bridge, 0), partial(_QuietHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://{bridge}:{server.server_address[1]}/{tarball.name}"
    try:
        yield archive_vars(url, digest, tmp_path_factory.mktemp("opt") / "etcd-v3.4.23")
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def archive_cluster(lab_inventory: Path, archive: dict[str, Any],
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ansible]:
    with fresh_cluster(lab_inventory, tmp_path_factory.mktemp("verified"),
                       **archive) as ansible:
        yield ansible


def _nemesis(ansible: Ansible, spec: str, nodes: list[Node], **opts: Any) -> Any:
    pkg = nemesis.build(spec, {"nemesis_targets": "one", "seed": 1, **opts}, ansible,
                        [n.name for n in nodes])
    return pkg.nemesis


def _invoke(nem: Any, test: dict[str, Any], f: str) -> Op:
    done = nem.invoke(test, Op(type="invoke", f=f, process=NEMESIS, time=0))
    assert done.type == INFO
    assert done.error is None, done.error
    hosts = done.extra["hosts"]
    assert hosts and set(done.extra["verified"]) == set(hosts), done.extra
    assert done.extra["unverified"] == {}
    return done


def _pidfile(node: Node) -> Path:
    inv = yaml.safe_load(paths.LAB_INVENTORY.read_text())
    return Path(inv["all"]["children"]["etcd"]["hosts"][node.name]["etcd_pid_file"])


def _pid(node: Node) -> int:
    return int(_pidfile(node).read_text().strip())


def _listening(node: Node) -> bool:
    return bool(netns_exec(node.name, "ss", "-Htln", f"sport = :{node.client_port}")
                .stdout.strip())


def _state(pid: int) -> str:
    out = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    return out.stdout.strip()


def _by(nodes: list[Node], name: str) -> Node:
    return next(n for n in nodes if n.name == name)


@pytest.fixture
def test_map() -> dict[str, Any]:
    return {"start_wall_ns": time.time_ns()}


def test_kill_and_restart_are_verified_on_an_archive_install(
        archive_cluster: Ansible, lab_nodes: list[Node], archive: dict[str, Any],
        test_map: dict[str, Any]) -> None:
    nem = _nemesis(archive_cluster, "kill", lab_nodes, nemesis_agent=False)
    done = _invoke(nem, test_map, "start-kill")
    node = _by(lab_nodes, done.extra["hosts"][0])
    assert "port 2379 closed" in done.extra["verified"][node.name]
    assert not _listening(node)  # seen from the host's own namespace
    _invoke(nem, test_map, "stop-kill")
    assert _listening(node)
    exe = os.readlink(f"/proc/{_pid(node)}/exe")
    assert exe == str(Path(archive["etcd_install_dir"]) / "etcd")


def test_pause_and_resume_are_verified_on_an_archive_install(
        archive_cluster: Ansible, lab_nodes: list[Node], test_map: dict[str, Any]) -> None:
    nem = _nemesis(archive_cluster, "pause", lab_nodes, nemesis_agent=False)
    done = _invoke(nem, test_map, "start-pause")
    node = _by(lab_nodes, done.extra["hosts"][0])
    assert _state(_pid(node)).startswith("T")
    _invoke(nem, test_map, "stop-pause")
    assert not _state(_pid(node)).startswith("T")


def test_a_fault_registered_by_a_test_runs_through_the_agent(
        archive_cluster: Ansible, lab_nodes: list[Node], test_map: dict[str, Any]) -> None:
    """A new fault is one registration (here reusing the process_fault
    role's tasks): the nemesis, the agent's routes and the proof follow."""
    kind = registry.register(FaultKind(
        "freeze", "SIGSTOP under a new name",
        Step("pause.yml", "process_fault", "pause.yml", "Pause the member"),
        Step("resume.yml", "process_fault", "resume.yml", "Resume the member"),
        (("process_fault", "resume.yml"),),
        lambda kind, name, opts, nodes: ProcessFault(kind, {})))
    try:
        nem = _nemesis(archive_cluster, "freeze", lab_nodes)  # through the agent
        try:
            done = _invoke(nem, test_map, "start-freeze")
            node = _by(lab_nodes, done.extra["hosts"][0])
            assert _state(_pid(node)).startswith("T")
            assert "pause.yml" in registry.routes() and kind.name in nemesis.names()
            _invoke(nem, test_map, "stop-freeze")
            assert not _state(_pid(node)).startswith("T")
        finally:
            nem.close()
    finally:
        registry.unregister("freeze")
    assert "freeze" not in nemesis.names()


def _probe(src: str, dst: Node, timeout: float = 1.0) -> str:
    r = netns_exec(src, "timeout", str(timeout), "bash", "-c",
                   f"exec 3<>/dev/tcp/{dst.address}/2380")
    return "cut" if r.returncode == 124 else "reaches"


def test_a_partition_is_verified_by_probes(archive_cluster: Ansible, lab_nodes: list[Node],
                                           test_map: dict[str, Any]) -> None:
    nem = _nemesis(archive_cluster, "partition-isolate-one", lab_nodes)
    try:
        done = _invoke(nem, test_map, "start-partition")
        lonely = next(c[0] for c in done.value["components"] if len(c) == 1)
        others = [n for n in lab_nodes if n.name != lonely]
        assert _probe(lonely, others[0]) == "cut"
        assert _probe(others[0].name, others[1]) == "reaches"
        assert "cut from" in done.extra["verified"][lonely]
        _invoke(nem, test_map, "stop-partition")
        assert _probe(lonely, others[0]) == "reaches"
    finally:
        nem.close()


def test_link_faults_are_verified_by_the_rule_and_the_qdisc(
        archive_cluster: Ansible, lab_nodes: list[Node], test_map: dict[str, Any]) -> None:
    nem = _nemesis(archive_cluster, "loss,slow", lab_nodes, nemesis_agent=False)
    loss = _invoke(nem, test_map, "start-loss")
    host = loss.extra["hosts"][0]
    rules = netns_exec(host, "iptables", "-w", "-S", "PYHARNESS-LOSS").stdout
    assert "statistic" in rules and "statistic" in loss.extra["verified"][host]
    slow = _invoke(nem, test_map, "start-slow")
    host = slow.extra["hosts"][0]
    assert " tbf 7e57: root" in netns_exec(host, "tc", "qdisc", "show", "dev", "eth0").stdout
    _invoke(nem, test_map, "stop-loss")
    _invoke(nem, test_map, "stop-slow")
    for n in lab_nodes:
        assert "7e57" not in netns_exec(n.name, "tc", "qdisc", "show", "dev", "eth0").stdout


def _etcdctl(node: Node, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["etcdctl", f"--endpoints={node.address}:{node.client_port}", *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "ETCDCTL_API": "3"})


def _status(node: Node) -> dict[str, Any]:
    out = _etcdctl(node, "endpoint", "status", "-w", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]["Status"]


def test_admin_faults_are_verified_by_the_api(archive_cluster: Ansible, lab_nodes: list[Node],
                                             test_map: dict[str, Any]) -> None:
    """compact and defrag, through the agent, checked with etcdctl: an old
    revision is compacted away, and a defragmented member's database shrinks
    once its freed pages are gone."""
    first = lab_nodes[0]
    # Garbage to compact and then defragment away: 300 keys of 4 KiB, deleted.
    blob = "x" * 4096
    for i in range(300):
        assert _etcdctl(first, "put", f"/pyharness-admin/{i}", blob).returncode == 0
    old = int(_status(first)["header"]["revision"])
    assert _etcdctl(first, "del", "--prefix", "/pyharness-admin/").returncode == 0
    nem = _nemesis(archive_cluster, "compact,defrag", lab_nodes, nemesis_targets="all")
    try:
        done = _invoke(nem, test_map, "start-compact")
        assert len(done.extra["hosts"]) == 1  # one compaction, whatever the targets
        out = _etcdctl(first, "get", "/pyharness-admin/1", f"--rev={old}")
        assert out.returncode != 0 and "compacted" in out.stderr, out
        _invoke(nem, test_map, "stop-compact")
        before = {n.name: int(_status(n)["dbSize"]) for n in lab_nodes}
        done = _invoke(nem, test_map, "start-defrag")
        assert sorted(done.extra["hosts"]) == sorted(n.name for n in lab_nodes)
        after = {n.name: int(_status(n)["dbSize"]) for n in lab_nodes}
        assert all(after[h] < before[h] for h in before), (before, after)
        _invoke(nem, test_map, "stop-defrag")
    finally:
        nem.close()


def test_a_fault_that_cannot_take_effect_is_recorded_as_such(
        archive_cluster: Ansible, lab_nodes: list[Node], test_map: dict[str, Any]) -> None:
    nem = _nemesis(archive_cluster, "pause", lab_nodes, nemesis_agent=False,
                   nemesis_targets="all")
    node = lab_nodes[0]
    pidfile = _pidfile(node)
    real = pidfile.read_text()
    pidfile.write_text("1\n")  # pid 1 is no etcd: nothing there to pause
    try:
        done = nem.invoke(test_map, Op(type="invoke", f="start-pause", process=NEMESIS, time=0))
    finally:
        pidfile.write_text(real)
    try:
        assert set(done.extra["unverified"]) == {node.name}
        assert "no live etcd" in done.extra["unverified"][node.name]
        assert done.error and node.name in done.error
        assert set(done.extra["verified"]) == {n.name for n in lab_nodes[1:]}
    finally:
        _invoke(nem, test_map, "stop-pause")


def _archive_inventory(lab_inventory: Path, archive: dict[str, Any], out: Path) -> Path:
    inv = yaml.safe_load(lab_inventory.read_text())
    inv["all"]["children"]["etcd"].setdefault("vars", {}).update(archive)
    out.write_text(yaml.safe_dump(inv))
    return out


def _run_dir(store: Path) -> Path:
    runs = sorted(p for p in store.glob("*/*/test.json") if p.parent.name != "latest")
    assert len(runs) == 1, runs
    return runs[0].parent


def test_kills_on_an_archive_install_show_as_restarts_in_the_node_logs(
        lab_inventory: Path, archive: dict[str, Any], tmp_path: Path) -> None:
    inv = _archive_inventory(lab_inventory, archive, tmp_path / "archive.yml")
    pyharness("test", "-i", str(inv), "--workload", "set", "--nemesis", "kill",
                  "--nemesis-targets", "one", "--nemesis-interval", "2", "--time-limit", "12",
                  "--recovery-time", "2", "--seed", "4", "--store", str(tmp_path / "store"))
    run = _run_dir(tmp_path / "store")
    results = json.loads((run / "results.json").read_text())
    assert results["faults"]["valid?"] is True, results["faults"]
    assert results["faults"]["faults"]["kill"]["in-effect"] >= 1
    restarts: dict[str, int] = {}
    for op in read_jsonl(run / "history.jsonl"):
        if op.process == NEMESIS and op.f == "stop-kill" and op.extra.get("verified"):
            for h in op.extra["verified"]:
                restarts[h] = restarts.get(h, 0) + 1
    assert restarts
    for host in {n for n in os.listdir(run / "nodes")}:
        log = (run / "nodes" / host / "etcd.log").read_text(errors="replace")
        # One start line per start: etcd logs it through zap on every release run here.
        assert log.count("starting an etcd server") == 1 + restarts.get(host, 0), host


def test_a_killed_drivers_cluster_is_never_reused(lab_inventory: Path, lab_nodes: list[Node],
                                                  tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "pyharness"
    store = tmp_path / "store"
    first = subprocess.Popen(
        [str(exe), "test", "--workload", "set", "--nemesis", "pause", "--nemesis-targets", "all",
         "--nemesis-interval", "3", "--time-limit", "120", "--store", str(store)],
        cwd=paths.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        history = None
        deadline = time.monotonic() + 120
        paused = False
        while time.monotonic() < deadline and not paused:  # wait for members to be paused
            time.sleep(0.5)
            found = list(store.glob("*/*/history.jsonl"))
            if found:
                history = found[0]
                paused = any(op.f == "start-pause" and op.extra.get("verified")
                             for op in read_jsonl(history) if op.process == NEMESIS)
        assert paused, "the first run never paused its members"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    assert history is not None
    run_id = json.loads((history.parent / "test.json").read_text())["run_id"]
    old = {n.name: _pid(n) for n in lab_nodes}
    assert any(_state(p).startswith("T") for p in old.values())  # left paused
    r = pyharness("test", "--workload", "set", "--nemesis", "none", "--time-limit", "3",
                  "--recovery-time", "0", "--leave-db-running", "--store", str(store))
    try:
        assert "an earlier run left etcd pid" in r.stderr, r.stderr[-3000:]
        assert "(paused)" in r.stderr
        new = {n.name: _pid(n) for n in lab_nodes}
        assert all(new[h] != old[h] for h in old)
        for n in lab_nodes:
            assert not _state(new[n.name]).startswith("T")
        # The first run's keys died with its data dirs.
        out = subprocess.run(
            ["etcdctl", f"--endpoints={lab_nodes[0].address}:{lab_nodes[0].client_port}",
             "get", "--prefix", "--keys-only", f"/pyharness/{run_id}"],
            capture_output=True, text=True, env={**os.environ, "ETCDCTL_API": "3"}, timeout=30)
        assert out.returncode == 0 and out.stdout.strip() == "", out.stdout[:500]
    finally:
        Ansible(lab_inventory, tmp_path / "ansible").run("teardown.yml")


def test_the_agent_serves_faults_with_a_relative_store(tmp_path: Path) -> None:
    rel = os.path.relpath(tmp_path / "rel-store", paths.ROOT)
    assert not Path(rel).is_absolute()
    r = pyharness("test", "--workload", "set", "--nemesis", "partition",
                  "--nemesis-interval", "2", "--time-limit", "6", "--recovery-time", "1",
                  "--store", rel)
    run = _run_dir(tmp_path / "rel-store")
    log = (run / "driver.log").read_text()
    assert "nemesis agent: partition.yml successful" in log
    assert "nemesis agent not ready" not in log and "nemesis agent unavailable" not in r.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/sys/fs/cgroup/cpu/cgroup.procs").exists(),
                    reason="needs root and the v1 cpu cgroup controller")
def test_every_process_of_a_waiting_agent_has_the_agents_cpu_share(
        lab_inventory: Path, tmp_path: Path) -> None:
    """ansible-runner, ansible-playbook, its workers and the SSH masters
    each start a session of their own, where a nice value would weigh
    nothing against the members'. Every one of them must be in the agent's
    cgroup, with its larger weight, and the cgroup goes with the runner."""
    from pyharness.nemesis import agent as agent_mod

    runner = agent_mod.AgentRunner(lab_inventory, tmp_path / "agent")
    try:
        assert runner.warm(120), "the agents never waited for a request"
        procs = {int(p) for p in (agent_mod._CGROUP / "cgroup.procs").read_text().split()}
        assert int((agent_mod._CGROUP / "cpu.shares").read_text()) > 1024
        tree = {a.proc.pid for a in runner._pool}
        for _ in range(6):  # descendants, a few generations down
            for stat in Path("/proc").glob("[0-9]*/stat"):
                with contextlib.suppress(OSError):
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                    if int(fields[1]) in tree:
                        tree.add(int(stat.parent.name))
        names = {pid: _comm(pid) for pid in tree}
        assert "ansible-playboo" in names.values() and len(tree) > 2 * len(runner._pool)
        sessions = {_session(pid) for pid in tree}
        assert len(sessions) > len(runner._pool)  # the reason for the cgroup
        outside = {pid: n for pid, n in names.items() if pid not in procs and _alive(pid)}
        assert outside == {}, f"agent processes outside its cgroup: {outside}"
    finally:
        runner.close()
    # Gone with the runner, unless another runner's processes are in it
    # (e.g. the SSH masters of a driver killed with -9, until they time out).
    left = set()
    with contextlib.suppress(FileNotFoundError):
        left = {int(p) for p in (agent_mod._CGROUP / "cgroup.procs").read_text().split()}
    ours = {p for p in left if p in tree or str(runner.cp_dir) in _cmdline(p)}
    assert ours == set()
    assert left or not agent_mod._CGROUP.exists()


def _comm(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip()
    return ""


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    return ""


def _session(pid: int) -> int:
    with contextlib.suppress(OSError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
    return -1


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()
