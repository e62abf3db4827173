"""A real set test on the lab, through the CLI, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from pyharness import workloads
from pyharness.control.ansible import Ansible
from pyharness.history import INFO, INVOKE, NEMESIS, OK, read_jsonl
from tests.integration.conftest import netns_exec, pyharness


def test_set_with_partitions_is_valid_and_partitions_took_effect(
        lab_inventory: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    r = pyharness("test", "--workload", "set", "--nemesis", "partition-random-halves",
                  "--time-limit", "20", "--concurrency", "5", "--rate", "20",
                  "--nemesis-interval", "4", "--recovery-time", "5", "--seed", "42",
                  "--store", str(store))
    assert r.returncode == 0, r.stderr[-3000:]
    run = (store / "latest").resolve()
    results = json.loads((run / "results.json").read_text())
    assert results["valid?"] is True
    s = results["set"]
    assert s["lost-count"] == 0 and s["unexpected-count"] == 0
    assert s["acknowledged-count"] > 50

    history = read_jsonl(run / "history.jsonl")
    adds = [o for o in history if o.f == "add" and o.type == OK]
    assert len(adds) == s["acknowledged-count"]
    starts = [o for o in history if o.process == NEMESIS and o.f == "start-partition"
              and o.type == INFO and o.index > 0 and not o.error]
    completed = [o for o in starts if "effective_ns" in o.extra]
    assert completed, "no partition took effect"
    for op in completed:
        grudge = op.extra["grudge"]
        assert len(grudge) == 5  # complete grudge over a 2 | 3 split
        assert sorted(len(v) for v in grudge.values()) == [2, 2, 2, 3, 3]
    # Ops invoked while a partition held include failures or timeouts on the
    # minority: the fault was felt, not just applied.
    assert any(o.type != OK for o in history if o.process != NEMESIS and o.type != INVOKE)

    test = json.loads((run / "test.json").read_text())
    assert test["options"]["seed"] == 42 and test["options"]["workload"] == "set"
    for node in ("n1", "n2", "n3", "n4", "n5"):
        logs = list((run / "nodes" / node).glob("*"))
        assert logs and logs[0].stat().st_size > 0, f"no log collected for {node}"
    assert (run / "driver.log").stat().st_size > 0
    assert any((run / "ansible" / "artifacts").iterdir())
    # Healed and torn down: no suite chain left, no member listening.
    for node in ("n1", "n3"):
        assert "PYHARNESS" not in netns_exec(node, "iptables", "-S").stdout
    assert "2379" not in netns_exec("n1", "ss", "-ltn").stdout


def test_unknown_workload_and_nemesis_are_one_line_errors() -> None:
    r = pyharness("test", "--workload", "nope")
    assert r.returncode == 2
    expected = (f"error: --workload must be one of {', '.join(workloads.names())}, "
                "got 'nope'")
    assert r.stderr.strip().splitlines() == [expected]
    r = pyharness("test", "--nemesis", "nope")
    assert r.returncode == 2
    assert "--nemesis must be" in r.stderr and "partition-random-halves" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_existing_cluster_is_validated_and_left_running(lab_inventory: Path,
                                                        tmp_path: Path) -> None:
    ansible = Ansible(lab_inventory, tmp_path / "ansible")
    assert ansible.run("setup.yml").ok
    try:
        pids = {n: Path(f"/var/lib/pyharness/lab/{n}/etcd/etcd.pid").read_text().strip()
                for n in ("n1", "n2", "n3", "n4", "n5")}
        r = pyharness("test", "--db", "existing", "-i", str(lab_inventory), "--time-limit", "12",
                      "--nemesis-interval", "3", "--recovery-time", "3", "--rate", "20",
                      "--store", str(tmp_path / "store"))
        assert r.returncode == 0, r.stderr[-3000:]
        assert "setup" not in {p.name.split("-", 1)[1] for p in
                               (tmp_path / "store" / "latest" / "ansible" / "artifacts").iterdir()}
        # The same members, still running, healed.
        for node, pid in pids.items():
            assert Path(f"/proc/{pid}").exists(), f"{node}'s member was stopped"
            assert "PYHARNESS" not in netns_exec(node, "iptables", "-S").stdout
    finally:
        assert ansible.run("teardown.yml").ok
    r = pyharness("test", "--db", "existing", "-i", str(lab_inventory), "--time-limit", "5",
                  "--store", str(tmp_path / "store2"))
    assert r.returncode == 2
    assert next(line for line in r.stderr.splitlines() if line.startswith("error:")).startswith(
        "error: host n")
