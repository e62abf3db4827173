"""The local lab: N hosts on this machine, each a network namespace with its
own address and sshd, reached by Ansible over real SSH.

``up``/``down`` run the lab playbooks on localhost; ``status`` reads the
lab's own record (``lab.json``) and checks each host's namespace, sshd and
etcd member by pid, so it works even when Ansible cannot reach a host.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from pyharness.control import paths
from pyharness.control.ansible import Ansible, PlaybookFailed, PlaybookResult

STATE_DIR = Path(os.environ.get("PYHARNESS_STATE", "/var/lib/pyharness"))


def _ansible() -> Ansible:
    return Ansible("localhost,", STATE_DIR / "lab-ansible", {"ansible_connection": "local"},
                   keep=20)


def run_up(nodes: int = 5) -> PlaybookResult:
    return _ansible().run("lab-up.yml", {"lab_nodes": nodes, "lab_dir": str(paths.LAB_DIR),
                                         "lab_inventory": str(paths.LAB_INVENTORY)})


def up(nodes: int = 5) -> Path:
    r = run_up(nodes)
    if not r.ok:
        raise PlaybookFailed(r)
    return paths.LAB_INVENTORY


def down() -> None:
    r = _ansible().run("lab-down.yml", {"lab_dir": str(paths.LAB_DIR),
                                        "lab_inventory": str(paths.LAB_INVENTORY)})
    if not r.ok:
        raise PlaybookFailed(r)


@dataclass(frozen=True)
class HostStatus:
    name: str
    address: str
    netns: bool
    sshd: bool
    ssh_port: bool
    etcd: bool

    @property
    def up(self) -> bool:
        return self.netns and self.sshd and self.ssh_port


def _pid_alive(pidfile: str | None, needle: str) -> bool:
    if not pidfile:
        return False
    try:
        pid = int(Path(pidfile).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    return needle.encode() in cmdline


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def status() -> list[HostStatus] | None:
    """None when there is no lab on this machine."""
    record = paths.LAB_DIR / "lab.json"
    if not record.exists():
        return None
    lab = json.loads(record.read_text())
    netns = set(Path("/run/netns").iterdir()) if Path("/run/netns").exists() else set()
    names = {p.name for p in netns}
    out = []
    for n in lab["nodes"]:
        out.append(HostStatus(
            name=n["name"], address=n["address"], netns=n["netns"] in names,
            sshd=_pid_alive(n.get("sshd_pid_file"), "sshd"),
            ssh_port=_port_open(n["address"], 22),
            etcd=_pid_alive(n.get("etcd_pid_file"), "etcd")))
    return out


def is_up() -> bool:
    hosts = status()
    return bool(hosts) and all(h.up for h in hosts) and paths.LAB_INVENTORY.exists()
