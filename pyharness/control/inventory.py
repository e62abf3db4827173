"""The hosts under test, as Ansible sees them.

The inventory is the single source of truth: the driver asks
``ansible-inventory`` for the ``etcd`` group and each host's variables, so
group_vars, host_vars and dynamic inventories mean the same thing to the
driver's clients as to the playbooks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pyharness.etcd.v3 import TLS

GROUP = "etcd"


class InventoryError(ValueError):
    """A one-line message naming the inventory and what is wrong with it."""


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    client_port: int = 2379
    peer_port: int = 2380
    # The driver's client certificate for a TLS cluster, from the inventory's
    # etcd_client_ca_file / _cert_file / _key_file (paths on the driver).
    tls: TLS | None = None
    # For an auth-enabled cluster: the user, and a file holding its password.
    auth: tuple[str, str] | None = None

    def client_url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.address}:{self.client_port}"


def load(path: Path) -> list[Node]:
    if not path.exists():
        raise InventoryError(f"--inventory: no such file: {path}")
    exe = Path(sys.executable).parent / "ansible-inventory"
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run([str(exe), "-i", str(path), "--list"], capture_output=True,
                          text=True, env=env, timeout=120)
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["ansible-inventory failed"])[-1]
        raise InventoryError(f"{path}: {first}")
    data = json.loads(proc.stdout)
    hostvars = data.get("_meta", {}).get("hostvars", {})
    hosts = _group_hosts(data, GROUP)
    if not hosts:
        raise InventoryError(f"{path}: no hosts in group '{GROUP}'")
    nodes = []
    for h in hosts:
        v = hostvars.get(h, {})
        address = v.get("etcd_address") or v.get("ansible_host") or h
        tls = None
        if v.get("etcd_tls"):
            if not v.get("etcd_client_ca_file"):
                raise InventoryError(f"{path}: host {h} has etcd_tls but no etcd_client_ca_file "
                                     "for the driver's clients")
            tls = TLS(str(v["etcd_client_ca_file"]), v.get("etcd_client_cert_file"),
                      v.get("etcd_client_key_file"))
        auth = None
        if v.get("etcd_client_user"):
            if not v.get("etcd_client_password_file"):
                raise InventoryError(f"{path}: host {h} has etcd_client_user but no "
                                     "etcd_client_password_file")
            auth = (str(v["etcd_client_user"]), str(v["etcd_client_password_file"]))
        nodes.append(Node(name=h, address=str(address),
                          client_port=int(v.get("etcd_client_port", 2379)),
                          peer_port=int(v.get("etcd_peer_port", 2380)), tls=tls, auth=auth))
    return nodes


def _group_hosts(data: dict, group: str) -> list[str]:
    g = data.get(group, {})
    hosts = list(g.get("hosts", []))
    for child in g.get("children", []):
        hosts.extend(h for h in _group_hosts(data, child) if h not in hosts)
    return hosts
