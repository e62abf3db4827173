#!/usr/bin/python
"""Keep one iptables chain of our own, jumped to first from a built-in chain.

Rules that a tool adds to a machine's firewall should be removable without
touching anybody else's. The way to do that is a chain of the tool's own: its
rules live there, and a single jump from the built-in chain (INPUT, FORWARD)
sends packets through it. Removing the jump and the chain undoes exactly what
the tool did.

The lab uses this for the FORWARD rule that lets bridged lab traffic pass.
The chain's whole content is replaced in one ``iptables-restore --noflush``
transaction, so no packet ever sees a half-written chain. (The partition role
does the same with a shell script through ``raw``, which avoids starting
Python on every host and is what makes a partition fast.)
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: pyh_iptables_chain
short_description: Replace the content of an own iptables chain atomically
description:
  - Reads the chain and its jump with C(iptables -S), and when they differ
    from what is wanted replaces both in one C(iptables-restore --noflush)
    transaction.
  - With I(state=absent) removes the jump, flushes and deletes the chain,
    touching no other rule.
options:
  chain:
    description: Name of the suite's chain.
    type: str
    required: true
  jump_from:
    description: Built-in chain that jumps to I(chain) as its first rule.
    type: str
    default: INPUT
  rules:
    description: >-
      Rule specifications for the chain, in the normalised form that
      C(iptables -S) prints (for example C(-s 10.77.0.3/32 -j DROP)).
    type: list
    elements: str
    default: []
  table:
    description: Table holding the chain.
    type: str
    default: filter
  iptables:
    description: The iptables binary; C(<iptables>-restore) must exist beside it.
    type: str
    default: iptables
  state:
    description: Whether the chain and its jump should exist.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Apply the grudge
  pyh_iptables_chain:
    chain: PYHARNESS
    rules: ["-s 10.77.0.3/32 -j DROP"]
"""

RETURN = r"""
before:
  description: Rules of the chain before the change (null when it did not exist).
  type: list
  returned: always
after:
  description: Rules of the chain afterwards (null when removed).
  type: list
  returned: always
restore_input:
  description: What was fed to iptables-restore, if anything.
  type: str
  returned: changed
"""

from ansible.module_utils.basic import AnsibleModule


def _rules(module: AnsibleModule, binary: str, table: str, chain: str) -> list[str] | None:
    """The chain's rules as `iptables -S` prints them, or None when it is missing."""
    rc, out, _err = module.run_command([binary, "-w", "-t", table, "-S", chain])
    if rc != 0:
        return None
    prefix = f"-A {chain} "
    return [line[len(prefix) :] for line in out.splitlines() if line.startswith(prefix)]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "chain": {"type": "str", "required": True},
            "jump_from": {"type": "str", "default": "INPUT"},
            "rules": {"type": "list", "elements": "str", "default": []},
            "table": {"type": "str", "default": "filter"},
            "iptables": {"type": "str", "default": "iptables"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        supports_check_mode=True,
    )
    p = module.params
    binary = module.get_bin_path(p["iptables"], required=True)
    restore = module.get_bin_path(p["iptables"] + "-restore", required=True)
    chain, parent, table = p["chain"], p["jump_from"], p["table"]

    current = _rules(module, binary, table, chain)
    parent_rules = _rules(module, binary, table, parent) or []
    jump = f"-j {chain}"
    jumps = parent_rules.count(jump)
    jump_first = bool(parent_rules) and parent_rules[0] == jump and jumps == 1

    lines = [f"*{table}"]
    if p["state"] == "present":
        wanted = [r.strip() for r in p["rules"]]
        if current == wanted and jump_first:
            module.exit_json(changed=False, before=current, after=current)
        # Declaring the chain flushes it (or creates it), so the new content
        # replaces the old one within the same transaction.
        lines.append(f":{chain} - [0:0]")
        lines += [f"-A {chain} {r}" for r in wanted]
        if not jump_first:
            lines += [f"-D {parent} {jump}"] * jumps
            lines.append(f"-I {parent} 1 {jump}")
        after: list[str] | None = wanted
    else:
        if current is None and jumps == 0:
            module.exit_json(changed=False, before=None, after=None)
        lines += [f"-D {parent} {jump}"] * jumps
        if current is not None:
            lines += [f"-F {chain}", f"-X {chain}"]
        after = None
    lines.append("COMMIT")
    data = "\n".join(lines) + "\n"

    if not module.check_mode:
        rc, out, err = module.run_command([restore, "-w", "--noflush"], data=data)
        if rc != 0:
            module.fail_json(
                msg=f"iptables-restore failed (rc {rc}): {err.strip() or out.strip()}",
                restore_input=data,
            )
    module.exit_json(changed=True, before=current, after=after, restore_input=data)


if __name__ == "__main__":
    main()
