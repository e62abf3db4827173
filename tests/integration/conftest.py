"""The local lab for integration tests: real namespaces, sshd, etcd, iptables.

The lab is brought up once per session (if it isn't already) and brought
down at the end only if this session made it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pyharness.control import lab, paths
from pyharness.control.ansible import Ansible
from pyharness.control.inventory import Node, load

pytestmark = pytest.mark.lab


@pytest.fixture(scope="session")
def lab_inventory() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    # A second lab (made by hand with lab-up.yml and other lab_* variables)
    # for development beside a lab that is busy; used as is, never torn down.
    override = os.environ.get("PYHARNESS_LAB_INVENTORY")
    if override:
        yield Path(override).resolve()
        return
    made = False
    if not lab.is_up():
        lab.up(5)
        made = True
    yield paths.LAB_INVENTORY
    if made and not os.environ.get("PYHARNESS_KEEP_LAB"):
        lab.down()


@pytest.fixture(scope="session")
def lab_nodes(lab_inventory: Path) -> list[Node]:
    return load(lab_inventory)


@pytest.fixture
def ansible(lab_inventory: Path, tmp_path: Path) -> Ansible:
    return Ansible(lab_inventory, tmp_path / "ansible", {"store_dir": str(tmp_path)})


@contextmanager
def fresh_cluster(inventory: Path, data: Path, **extravars: Any) -> Iterator[Ansible]:
    """A new cluster from setup.yml (with ``extravars``), healed and torn
    down afterwards whatever the test did to it."""
    ansible = Ansible(inventory, data / "ansible", {"store_dir": str(data), **extravars})
    r = ansible.run("setup.yml")
    assert r.ok, r.error_line()
    try:
        yield ansible
    finally:
        ansible.run("heal.yml")
        ansible.run("teardown.yml")


def pyharness(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The real CLI, as a user runs it."""
    exe = Path(sys.executable).parent / "pyharness"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=paths.ROOT)


def netns_exec(node: str, *argv: str) -> subprocess.CompletedProcess[str]:
    prefix = os.environ.get("PYHARNESS_LAB_NETNS_PREFIX", "pyh-")
    return subprocess.run(["ip", "netns", "exec", f"{prefix}{node}", *argv], capture_output=True,
                          text=True, timeout=30)
