"""Releases side by side on the lab: each installs by version from the
catalogue (a Debian .deb and a PyPI wheel, unpacked, not installed), runs,
says its version, and its members agree (the consistency checker); and the
watch bug #18089, caught on 3.4.23, is not on the release that fixed it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import pyharness


def test_a_wheel_release_installs_runs_and_its_members_agree(lab_inventory: Path,
                                                             tmp_path: Path) -> None:
    """3.5.1 from PyPI's wheel; 3.5.16, a Debian .deb, is the next test's."""
    version = "3.5.1"
    store = tmp_path / "store"
    r = pyharness("test", "--etcd-version", version, "--workload", "register", "--api", "v3",
                  "--nemesis", "kill", "--nemesis-interval", "3", "--time-limit", "12",
                  "--rate", "100", "--recovery-time", "3", "--seed", "2", "--store", str(store))
    assert r.returncode == 0, r.stderr[-3000:]
    test = json.loads((store / "latest" / "test.json").read_text())
    results = json.loads((store / "latest" / "results.json").read_text())
    assert set(test["member-versions"].values()) == {version}
    assert results["consistency"]["valid?"] is True
    assert results["linear"]["valid?"] is True


def test_a_deb_release_runs_and_18089_passes_on_it(lab_inventory: Path,
                                                   tmp_path: Path) -> None:
    """3.5.16 from Debian trixie's .deb, which fixed #18089."""
    store = tmp_path / "store"
    r = pyharness("test", "--etcd-version", "3.5.16", "--workload", "watch", "--api", "v3",
                  "--nemesis", "none", "--time-limit", "10", "--rate", "200",
                  "--concurrency", "6", "--compact-interval", "1", "--recovery-time", "0",
                  "--seed", "5", "--store", str(store))
    results = json.loads((store / "latest" / "results.json").read_text())
    assert r.returncode == 0, r.stderr[-3000:]
    test = json.loads((store / "latest" / "test.json").read_text())
    assert set(test["member-versions"].values()) == {"3.5.16"}
    assert results["watch"]["valid?"] is True and results["watch"]["judged"] > 0
    assert results["consistency"]["valid?"] is True
