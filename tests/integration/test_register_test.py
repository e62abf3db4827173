"""The register workload on the lab: linearizable with quorum reads, and
caught when reads are allowed to be stale. The second test is the proof that
the whole pipeline (client, history, checker) can see a real violation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import pyharness


def run_register(store: Path, *extra: str) -> tuple[int, dict, str]:
    r = pyharness("test", "--workload", "register", "--time-limit", "25", "--rate", "60",
                  "--concurrency", "10", "--ops-per-key", "60", "--nemesis-interval", "4",
                  "--recovery-time", "3", "--store", str(store), *extra)
    results_file = store / "latest" / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    return r.returncode, results, r.stderr


@pytest.mark.parametrize("api", ["v2", "v3"])
def test_register_with_partitions_is_linearizable(lab_inventory: Path, tmp_path: Path,
                                                  api: str) -> None:
    code, results, err = run_register(tmp_path / "store", "--nemesis", "partition-random-halves",
                                      "--seed", "7", "--api", api)
    assert code == 0, err[-3000:]
    linear = results["linear"]
    assert linear["valid?"] is True and linear["key-count"] >= 2
    ops = sum(k["ops"] for k in linear["keys"].values())
    assert ops > 200


@pytest.mark.parametrize("stale", [["--no-quorum"], ["--api", "v3", "--serializable"]],
                         ids=["v2-no-quorum", "v3-serializable"])
def test_stale_reads_are_caught(lab_inventory: Path, tmp_path: Path, stale: list[str]) -> None:
    # Local reads on a member cut off from the others return its last known
    # value while the majority moves on: not linearizable. Every key's group
    # of workers has one worker on each member, so the cut-off one reads.
    code, results, err = run_register(tmp_path / "store", "--nemesis", "partition-isolate-one",
                                      "--seed", "3", *stale)
    assert code == 1, err[-3000:]
    linear = results["linear"]
    assert linear["valid?"] is False
    failure = linear["failures"][0]
    key = linear["keys"][failure["key"]]
    assert key["previous-states"] and key["linearized-prefix"]
    assert Path(key["file"]).exists()
