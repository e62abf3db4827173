"""``pyharness check-cluster`` against a real 3-member etcd on loopback
(client ports 23790, 23792, 23794; data in a tmp dir; stopped by pid), through
an inventory file as an ops team would write it, and its judgement on
recorded answers edited to disagree."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pyharness.etcd import v3 as etcd_v3
from pyharness.run.check_cluster import judge

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "consistency"
ETCD = "/usr/bin/etcd"
PYHARNESS = Path(sys.executable).parent / "pyharness"
UNUSED_PORT = 23798


def load_record() -> ModuleType:
    spec = importlib.util.spec_from_file_location("record", DATA / "record.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def inventory(path: Path, ports: list[int]) -> Path:
    lines = ["etcd:", "  hosts:"]
    for i, p in enumerate(ports, 1):
        lines.append(f"    m{i}: {{ansible_host: 127.0.0.1, etcd_client_port: {p}}}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    if not Path(ETCD).exists():
        pytest.skip("etcd is not installed")
    record = load_record()
    for port in range(23790, 23796):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                pytest.skip(f"port {port} is taken")
    tmp = tmp_path_factory.mktemp("cluster")
    with record.cluster(ETCD, tmp) as ports:
        record.write_keys(ports[0])
        time.sleep(1)
        yield ports


def check_cluster(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PYHARNESS), "check-cluster", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "160"})


def status(port: int) -> dict[str, Any]:
    conn = etcd_v3.connect("127.0.0.1", port, timeout=5)
    try:
        return conn.call("/maintenance/status", {})
    finally:
        conn.close()


def test_a_healthy_cluster_is_consistent_and_left_as_it_was(cluster: list[int],
                                                             tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv.yml", cluster)
    before = [status(p) for p in cluster]
    p = check_cluster("-i", str(inv), "--json")
    after = [status(p) for p in cluster]
    assert p.returncode == 0, p.stdout + p.stderr
    report = json.loads(p.stdout)
    assert report["verdict"] == "consistent" and report["hashes-agree"] is True
    assert set(report["members"]) == {"m1", "m2", "m3"}
    assert {m["server_version"] for m in report["members"].values()} == {"3.4.23"}
    assert report["leader"] in {"m1", "m2", "m3"}
    assert report["alarms"] == [] and report["problems"] == [] and report["reasons"] == []
    # read-only: no revision moves; the raft log grows by the one alarm GET
    for b, a in zip(before, after, strict=True):
        assert a["header"]["revision"] == b["header"]["revision"]
        assert int(a["raftIndex"]) - int(b["raftIndex"]) <= 1


def test_the_table(cluster: list[int], tmp_path: Path) -> None:
    p = check_cluster("-i", str(inventory(tmp_path / "inv.yml", cluster)))
    assert p.returncode == 0, p.stdout + p.stderr
    for word in ("member", "HashKV at", "m1", "m2", "m3", "3.4.23", "leader",
                 "127.0.0.1:23790", "consistent: 3 members agree on HashKV at revision"):
        assert word in p.stdout, word


def test_an_unreachable_member_is_named_and_exits_2(cluster: list[int], tmp_path: Path) -> None:
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", UNUSED_PORT)) == 0:
            pytest.skip(f"port {UNUSED_PORT} is taken")
    inv = inventory(tmp_path / "inv.yml", [*cluster, UNUSED_PORT])
    p = check_cluster("-i", str(inv), "--json")
    assert p.returncode == 2, p.stdout + p.stderr
    report = json.loads(p.stdout)
    assert report["verdict"] == "unknown"
    assert any(r.startswith(f"member m4 (127.0.0.1:{UNUSED_PORT}) did not answer its status")
               for r in report["reasons"]), report["reasons"]
    p = check_cluster("-i", str(inv))
    assert p.returncode == 2 and "unreachable" in p.stdout and "m4" in p.stdout


def test_a_missing_inventory_is_one_line_exit_2(tmp_path: Path) -> None:
    p = check_cluster("-i", str(tmp_path / "none.yml"))
    assert p.returncode == 2
    assert "none.yml" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def alarm(port: int, action: str, member_id: str, kind: str) -> None:
    conn = etcd_v3.connect("127.0.0.1", port, timeout=5)
    try:
        conn.call("/maintenance/alarm", {"action": action, "memberID": member_id,
                                         "alarm": kind})
    finally:
        conn.close()


def test_raised_alarms_are_reported(cluster: list[int], tmp_path: Path) -> None:
    """Last: it raises alarms on the test's own cluster (and clears them)."""
    inv = inventory(tmp_path / "inv.yml", cluster)
    m2 = status(cluster[1])["header"]["member_id"]
    try:
        alarm(cluster[0], "ACTIVATE", m2, "NOSPACE")
        p = check_cluster("-i", str(inv), "--json")
        assert p.returncode == 2, p.stdout + p.stderr
        report = json.loads(p.stdout)
        assert report["alarms"] == [{"member": "m2", "alarm": "NOSPACE"}]
        assert "NOSPACE alarm raised for member m2" in report["reasons"]
        assert report["members"]["m2"]["alarms"] == ["NOSPACE"]
        alarm(cluster[0], "ACTIVATE", m2, "CORRUPT")
        p = check_cluster("-i", str(inv))
        assert p.returncode == 1, p.stdout + p.stderr
        assert "CORRUPT alarm raised for member m2" in p.stdout
    finally:
        alarm(cluster[0], "DEACTIVATE", m2, "CORRUPT")
        alarm(cluster[0], "DEACTIVATE", m2, "NOSPACE")


# --- judge() on recorded answers, edited

def recorded() -> dict[str, Any]:
    return json.loads((DATA / "cluster-3.5.16.json").read_text())


def test_judge_recorded_answers_consistent() -> None:
    r = judge(recorded(), ["m1", "m2", "m3"])
    assert r["exit"] == 0 and r["verdict"] == "consistent", r
    assert {m["server_version"] for m in r["members"].values()} == {"3.5.16"}


def test_judge_two_leaders_in_one_term_is_inconsistent() -> None:
    d = recorded()
    other = d["members"]["m1"]["status"]["answer"]["header"]["member_id"]
    leader = d["members"]["m2"]["status"]["answer"]["leader"]
    d["members"]["m3"]["status"]["answer"]["leader"] = (
        other if other != leader else d["members"]["m2"]["status"]["answer"]["header"]
        ["member_id"])
    r = judge(d, ["m1", "m2", "m3"])
    assert r["exit"] == 1 and any("name different leaders" in p for p in r["problems"])


def test_judge_a_hash_mismatch_is_inconsistent() -> None:
    d = copy.deepcopy(recorded())
    d["members"]["m1"]["hashkv"]["answer"]["hash"] = 7
    r = judge(d, ["m1", "m2", "m3"])
    assert r["exit"] == 1 and r["hashes-agree"] is False
    assert r["problems"][0].startswith("members disagree on HashKV at revision 10: m2, m3: ")


def test_judge_a_real_divergence_and_its_corrupt_alarm() -> None:
    d = json.loads((DATA / "cluster-3.4.23-corrupt.json").read_text())
    r = judge(d, ["m1", "m2", "m3"])
    assert r["exit"] == 1 and r["verdict"] == "inconsistent"
    assert r["problems"][0].startswith("members disagree on HashKV at revision 10: m1, m2: ")
    assert r["problems"][1] == ("CORRUPT alarm raised for the cluster (member 0): etcd found "
                                "members whose data disagree")


def test_an_auth_enabled_cluster_is_checked_as_the_inventorys_user(cluster: list[int],
                                                                   tmp_path: Path) -> None:
    """Last: it turns authentication on for the test's own cluster (and off)."""
    pw = tmp_path / "password"
    pw.write_text("s3cret\n")
    inv = inventory(tmp_path / "inv.yml", cluster)
    with inv.open("a") as f:
        f.write(f"  vars:\n    etcd_client_user: root\n    etcd_client_password_file: {pw}\n")
    conn = etcd_v3.connect("127.0.0.1", cluster[0], timeout=5)
    conn.call("/auth/user/add", {"name": "root", "password": "s3cret"})
    conn.call("/auth/user/grant", {"user": "root", "role": "root"})
    conn.call("/auth/enable", {})
    try:
        p = check_cluster("-i", str(inv), "--json")
        assert p.returncode == 0, p.stdout + p.stderr
        report = json.loads(p.stdout)
        assert report["hashes-agree"] is True and len(report["members"]) == 3
        pw.write_text("wrong\n")
        p = check_cluster("-i", str(inv), "--json")
        assert p.returncode == 2, p.stdout + p.stderr
        assert any(r.startswith("member m1 (127.0.0.1:23790) did not answer its status: "
                                "authenticate as root: ") for r in json.loads(p.stdout)["reasons"])
    finally:
        conn.authenticate("root", "s3cret")
        conn.call("/auth/disable", {})
        conn.close()
