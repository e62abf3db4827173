"""The watch workload on the lab: etcd-io/etcd#18089 caught on the release
that has it, through the whole pipeline (setup, clients on every member,
compaction, history, checker, exit code)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import pyharness


def test_18089_is_caught_on_3_4_23(lab_inventory: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    r = pyharness("test", "--workload", "watch", "--api", "v3", "--nemesis", "none",
                  "--time-limit", "10", "--rate", "200", "--concurrency", "6",
                  "--compact-interval", "1", "--recovery-time", "0", "--seed", "5",
                  "--store", str(store))
    results = json.loads((store / "latest" / "results.json").read_text())
    test = json.loads((store / "latest" / "test.json").read_text())
    assert r.returncode == 1, r.stderr[-3000:]
    watch = results["watch"]
    assert watch["valid?"] is False and watch["judged"] > 0
    # Only the bug's shape: a watch from a compacted delete that lost it.
    assert set(watch["violations-by-kind"]) == {"missing"}
    for v in watch["violations"]:
        assert v["event"][1] == "DELETE" and v["from"] == v["event"][0]
        assert v["member"] in test["nodes"]
    assert "watch: watch op" in r.stdout + r.stderr  # the run says which watch, in words
