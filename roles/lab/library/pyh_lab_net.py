#!/usr/bin/python
"""Build (or remove) the lab's network: one namespace per host on one bridge.

The lab imitates N machines on a single one. Each "host" is a Linux network
namespace with its own interfaces, addresses, routes and iptables rules, so
that a partition made with iptables inside one namespace affects only that
host, exactly as on a real machine. The hosts are wired together by veth pairs
whose root ends are enslaved to a bridge; the bridge carries an address too,
so the root namespace (where the test's clients run) reaches every host.

The module is idempotent: it reads the current state with ``ip -j`` and only
runs the ``ip`` commands for what is missing. Removal goes in the order that
frees kernel objects promptly: veths first, then namespaces, then the bridge.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: pyh_lab_net
short_description: Idempotently create or delete the lab's namespaces, veths and bridge
options:
  bridge:
    description: Name of the bridge in the root namespace.
    type: str
    required: true
  bridge_address:
    description: Address of the bridge (the hosts' default gateway).
    type: str
    required: true
  prefix_len:
    description: Prefix length of the lab subnet.
    type: int
    default: 24
  hosts:
    description: The lab hosts; each has C(netns), C(veth) and C(address).
    type: list
    elements: dict
    default: []
  discover:
    description: >-
      With I(state=absent), a regular expression; namespaces and root links whose
      names match it fully are removed too (leftovers of a larger lab).
    type: str
  state:
    description: Whether the network should exist.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Create the lab network
  pyh_lab_net:
    bridge: pyhbr0
    bridge_address: 10.77.0.254
    hosts:
      - {netns: pyh-n1, veth: pyhv-n1, address: 10.77.0.1}
"""

RETURN = r"""
commands:
  description: The ip commands that were (or in check mode would be) run.
  type: list
  returned: always
"""

import json
import os
import re
from typing import Any

from ansible.module_utils.basic import AnsibleModule


class Net:
    """Reads state with `ip -j` and runs changes, recording every command."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.ip = module.get_bin_path("ip", required=True)
        self.commands: list[list[str]] = []

    def query(self, *args: str) -> Any:
        rc, out, err = self.module.run_command([self.ip, "-j", *args])
        if rc != 0:
            self.module.fail_json(msg=f"ip {' '.join(args)} failed: {err.strip()}")
        return json.loads(out) if out.strip() else []

    def run(self, *args: str) -> None:
        self.commands.append(["ip", *args])
        if self.module.check_mode:
            return
        rc, _out, err = self.module.run_command([self.ip, *args])
        if rc != 0:
            self.module.fail_json(
                msg=f"ip {' '.join(args)} failed: {err.strip()}", commands=self.commands
            )

    def links(self, netns: str | None = None) -> dict[str, dict[str, Any]]:
        args = ["-n", netns] if netns else []
        return {link["ifname"]: link for link in self.query(*args, "-d", "link", "show")}

    def addresses(self, dev: str, netns: str | None = None) -> set[str]:
        args = ["-n", netns] if netns else []
        found: set[str] = set()
        for link in self.query(*args, "addr", "show", "dev", dev):
            for info in link.get("addr_info", []):
                found.add(f"{info['local']}/{info['prefixlen']}")
        return found

    def namespaces(self) -> set[str]:
        return {ns["name"] for ns in self.query("netns", "list")}


def _up(link: dict[str, Any]) -> bool:
    return "UP" in link.get("flags", [])


def present(net: Net, p: dict[str, Any]) -> None:
    bridge, plen = p["bridge"], p["prefix_len"]
    links = net.links()
    if bridge not in links:
        net.run("link", "add", bridge, "type", "bridge")
        if not net.module.check_mode:
            links = net.links()
    bridge_addrs = net.addresses(bridge) if bridge in links else set()
    if f"{p['bridge_address']}/{plen}" not in bridge_addrs:
        net.run("addr", "add", f"{p['bridge_address']}/{plen}", "dev", bridge)
    if not _up(links.get(bridge, {})):
        net.run("link", "set", bridge, "up")

    namespaces = net.namespaces()
    for host in p["hosts"]:
        ns, veth, addr = host["netns"], host["veth"], host["address"]
        if ns not in namespaces:
            net.run("netns", "add", ns)
        if veth not in links:
            net.run("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        if net.module.check_mode and (ns not in namespaces or veth not in links):
            # Nothing to inspect yet: everything below would be needed.
            net.run("link", "set", veth, "master", bridge)
            net.run("link", "set", veth, "up")
            continue
        root_link = net.links().get(veth, {})
        if root_link.get("master") != bridge:
            net.run("link", "set", veth, "master", bridge)
        if not _up(root_link):
            net.run("link", "set", veth, "up")
        inner = net.links(ns)
        if not _up(inner.get("lo", {})):
            net.run("-n", ns, "link", "set", "lo", "up")
        if f"{addr}/{plen}" not in net.addresses("eth0", ns):
            net.run("-n", ns, "addr", "add", f"{addr}/{plen}", "dev", "eth0")
        if not _up(inner.get("eth0", {})):
            net.run("-n", ns, "link", "set", "eth0", "up")
        routes = net.query("-n", ns, "route", "show", "default")
        if not any(r.get("gateway") == p["bridge_address"] for r in routes):
            net.run("-n", ns, "route", "replace", "default", "via", p["bridge_address"])


def absent(net: Net, p: dict[str, Any]) -> None:
    pattern = re.compile(p["discover"]) if p["discover"] else None
    links = net.links()
    namespaces = net.namespaces()
    veths = [h["veth"] for h in p["hosts"]]
    nss = [h["netns"] for h in p["hosts"]]
    if pattern:
        veths += sorted(n for n in links if pattern.fullmatch(n) and n not in veths)
        nss += sorted(n for n in namespaces if pattern.fullmatch(n) and n not in nss)
    # Deleting a veth first frees the namespace even if a socket still holds it.
    for veth in veths:
        if veth in links:
            net.run("link", "del", veth)
    for ns in nss:
        if ns in namespaces or os.path.exists(f"/run/netns/{ns}"):
            net.run("netns", "del", ns)
    if p["bridge"] in links:
        net.run("link", "del", p["bridge"])


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "bridge": {"type": "str", "required": True},
            "bridge_address": {"type": "str", "required": True},
            "prefix_len": {"type": "int", "default": 24},
            "hosts": {"type": "list", "elements": "dict", "default": []},
            "discover": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        supports_check_mode=True,
    )
    net = Net(module)
    if module.params["state"] == "present":
        present(net, module.params)
    else:
        absent(net, module.params)
    module.exit_json(changed=bool(net.commands), commands=net.commands)


if __name__ == "__main__":
    main()
