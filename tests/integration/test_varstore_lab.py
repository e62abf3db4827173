"""The variable store on the lab: quickcheck against a real cluster, and the
varstore workload under partitions and kills, with and without a known bug."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import pyharness


@pytest.mark.parametrize("api", ["v2", "v3"])
def test_quickcheck_passes_against_the_lab(lab_inventory: Path, api: str) -> None:
    r = pyharness("quickcheck", "--examples", "15", "--seed", "1", "-i", str(lab_inventory),
                  "--api", api)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]


def test_quickcheck_finds_and_shrinks_a_store_bug_on_the_lab(lab_inventory: Path) -> None:
    r = pyharness("quickcheck", "--examples", "30", "--seed", "1", "-i", str(lab_inventory),
                  "--store-bug", "rebind-allowed")
    assert r.returncode == 1, (r.stdout + r.stderr)[-3000:]
    assert "replay" in (r.stdout + r.stderr)


# Lost updates need binds racing on one variable: a high rate makes races
# common enough to see in a short run.
def run_varstore(store: Path, *extra: str) -> tuple[int, dict, str]:
    r = pyharness("test", "--workload", "varstore", "--nemesis", "partition,kill",
                  "--time-limit", "20", "--rate", "300", "--nemesis-interval", "4",
                  "--recovery-time", "5", "--seed", "5", "--nemesis-targets", "one,minority",
                  "--store", str(store), *extra)
    f = store / "latest" / "results.json"
    return r.returncode, (json.loads(f.read_text()) if f.exists() else {}), r.stderr


@pytest.mark.parametrize("api", ["v2", "v3"])
def test_varstore_under_partitions_and_kills(lab_inventory: Path, tmp_path: Path,
                                             api: str) -> None:
    code, results, err = run_varstore(tmp_path / "ok", "--api", api)
    assert code == 0, err[-3000:]
    assert results["varstore"]["valid?"] is True
    assert results["varstore"]["acknowledged-bind-count"] > 100
    code, results, err = run_varstore(tmp_path / "bug", "--api", api,
                                      "--store-bug", "bind-without-cas")
    assert code == 1, err[-3000:]
    assert results["varstore"]["valid?"] is False
