"""Jepsen's other etcd workloads on the lab: transactions and locks.

``append`` under partitions and kills must be strict serializable on the
default release. ``lock`` under pauses shows what Jepsen found in etcd 3.4.3:
a holder whose member is paused past its lease's TTL still writes when the
member resumes, after etcd gave the lock to someone else. The plain lock
then has overlapping critical sections and lost adds; the fenced one (its
write guarded by the lock key's revision) must stay valid under the very
same faults.

The lock runs use a 1 s lease, an op timeout longer than a pause (so a
holder's write stuck in a paused member is not given up: it lands after the
resume, the dangerous case) and enough load that some holder is inside its
critical section whenever a pause begins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import pyharness

pytestmark = pytest.mark.lab

LOCK_UNDER_PAUSES = ("--workload", "lock", "--api", "v3", "--nemesis", "pause",
                     "--lock-ttl", "1", "--op-timeout", "10", "--rate", "1000",
                     "--concurrency", "10", "--nemesis-interval", "3", "--time-limit", "25",
                     "--recovery-time", "3", "--seed", "5")


def _run(store: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    r = pyharness("test", *args, "--store", str(store))
    results_file = store / "latest" / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    return r.returncode, results, r.stderr


def test_append_under_partitions_and_kills_is_strict_serializable(
        lab_inventory: Path, tmp_path: Path) -> None:
    code, results, err = _run(tmp_path / "store", "--workload", "append", "--api", "v3",
                              "--nemesis", "partition,kill", "--rate", "200",
                              "--concurrency", "10", "--nemesis-interval", "3",
                              "--time-limit", "20", "--recovery-time", "3", "--seed", "3")
    assert code == 0, err[-3000:]
    la = results["list-append"]
    assert la["valid?"] is True and la["model"] == "strict-serializable"
    assert la["ok-count"] > 500 and la["key-count"] > 8  # keys retired and rotated
    faults = results["faults"]
    assert faults["valid?"] is True and faults["not-in-effect-count"] == 0


def test_a_plain_lock_loses_mutual_exclusion_under_pauses(lab_inventory: Path,
                                                          tmp_path: Path) -> None:
    code, results, err = _run(tmp_path / "store", *LOCK_UNDER_PAUSES)
    assert code == 1, err[-3000:]
    lock = results["lock"]
    assert lock["valid?"] is False and lock["overlap-count"] >= 1
    first = lock["overlaps"][0]
    assert "inside the critical section of" in first["why"]
    # Two holders, each with its member and its ops in the history.
    assert first["first"]["element"] != first["second"]["element"]
    assert {"node", "invoke-index", "complete-index"} <= set(first["first"]["add"])
    # What it cost: adds that were acknowledged, then overwritten.
    assert results["set"]["valid?"] is False and results["set"]["lost-count"] >= 1


def test_a_fenced_lock_stays_safe_under_the_same_pauses(lab_inventory: Path,
                                                        tmp_path: Path) -> None:
    code, results, err = _run(tmp_path / "store", *LOCK_UNDER_PAUSES, "--lock-fencing")
    assert code == 0, err[-3000:]
    assert results["lock"]["valid?"] is True and results["lock"]["overlap-count"] == 0
    assert results["set"]["valid?"] is True and results["set"]["ok-count"] > 200
    # The pauses did take leases away: fenced holders noticed and wrote nothing.
    history = [json.loads(line) for line in
               (tmp_path / "store" / "latest" / "history.jsonl").read_text().splitlines()]
    assert any(op["type"] == "fail" and op.get("error") == ["lock-lost"] for op in history)
    assert results["faults"]["not-in-effect-count"] == 0
