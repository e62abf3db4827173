"""One iptables-chain mechanism for the whole suite: ``pyh_iptables_chain``.

Rules the suite adds to a firewall must be removable without touching
anybody else's. So they live in a chain of the suite's own, reached by one
jump, first, from a built-in chain (INPUT, FORWARD). Replacing the chain's
content and fixing the jump is one ``iptables-restore --noflush``
transaction, so no packet sees a half-written chain; removing the jump and
the chain undoes exactly what the suite did.

The filter renders that as a POSIX sh script, run with ``ansible.builtin.raw``
(partitions and link faults: no Python start-up on the hosts, which is what
makes a fault fast) or ``ansible.builtin.shell`` (the lab's FORWARD chain).
The script

- replaces the chain only when it differs from what is wanted (or the jump
  is missing, doubled or not first), then reads it back;
- prints ``pyharness: changed`` or ``pyharness: unchanged``, then
  ``pyharness: verified (...)`` with what it read back, or
  ``pyharness: unverified (...)`` and exits 1 when the wanted state is not
  what the kernel now holds.

``report=False`` leaves the printing to the caller: the script only sets
``changed`` (1 when it changed anything; start it at 0), ``evidence`` and
``unverified`` (empty when the state holds), for scripts that do more.

Rules are given as ``iptables -S`` prints them (``-s 10.77.0.3/32 -j
DROP``), so an unchanged chain is seen as unchanged.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any


def _q(v: Any) -> str:
    return shlex.quote(str(v))


# Options whose value the kernel prints back as given (an address gains its
# "/32", which a substring check allows). A probability is printed with more
# digits, so it is not compared; its match, "-m statistic", is.
_STABLE = ("-m", "-j", "-s", "-d", "-p", "-i", "-o", "--dport", "--sport", "--mode")


def _rule_checks(rules: Sequence[str]) -> tuple[list[str], list[str]]:
    """Lines that read each rule back, and ``elif`` branches: rule N as read
    back carries rule N's matches and target, as whole words (an address may
    gain its "/32"). Counting rules alone would take an ACCEPT for a DROP."""
    read = ["has() { case \"$1\" in *\" $2 \"*|*\" $2/\"*) return 0;; esac; return 1; }"]
    branches: list[str] = []
    for i, rule in enumerate(rules, start=1):
        tokens = rule.split()
        parts = [f"{t} {tokens[j + 1]}" for j, t in enumerate(tokens[:-1]) if t in _STABLE]
        if not parts:
            continue
        read.append(f'rule_{i}=" $(printf \'%s\\n\' "$after" | grep -- "^-A $chain " '
                    f'| sed -n {i}p) "')
        test = " && ".join(f'has "$rule_{i}" {_q(p)}' for p in parts)
        branches += [f"elif ! {{ {test}; }}; then",
                     f"  unverified={_q(f'rule {i} of ')}\"$chain\"{_q(f' is not: {rule}')}"]
    return read, branches


def iptables_chain(chain: str, rules: Sequence[str] = (), jump_from: str = "INPUT",
                   state: str = "present", iptables: str = "iptables", table: str = "filter",
                   report: bool = True) -> str:
    if state not in ("present", "absent"):
        raise ValueError(f"pyh_iptables_chain: state must be present or absent, got {state!r}")
    if not chain or any(c.isspace() for c in chain):
        raise ValueError(f"pyh_iptables_chain: bad chain name {chain!r}")
    rules = [" ".join(str(r).split()) for r in rules]
    lines = ["set -eu"] if report else []
    lines += [
        f"ipt={_q(iptables)}", f"chain={_q(chain)}", f"parent={_q(jump_from)}",
        f"table={_q(table)}",
        'have=$("$ipt" -w -t "$table" -S "$chain" 2>/dev/null || true)',
        # Removing must not fail where nothing can be listed (no iptables,
        # no NET_ADMIN): there is then no chain of ours, and heal goes on.
        ('parent_rules=$("$ipt" -w -t "$table" -S "$parent")' if state == "present"
         else 'parent_rules=$("$ipt" -w -t "$table" -S "$parent" 2>/dev/null || true)'),
        'jumps=$(printf \'%s\\n\' "$parent_rules" | grep -cxF -- "-A $parent -j $chain" || true)',
        'first=$(printf \'%s\\n\' "$parent_rules" | sed -n 2p)',
        'jump_first=0',
        'if [ "$jumps" = 1 ] && [ "$first" = "-A $parent -j $chain" ]; then jump_first=1; fi',
        "changed=${changed:-0}",
        "evidence=",
        "unverified=",
    ]
    if state == "present":
        checks = _rule_checks(rules)
        want = "\n".join([f"-N {chain}", *(f"-A {chain} {r}" for r in rules)])
        lines += [
            f"want={_q(want)}",
            'if [ "$have" != "$want" ] || [ "$jump_first" != 1 ]; then',
            "  {",
            "    echo \"*$table\"",
            # Declaring the chain creates or flushes it inside the transaction.
            '    echo ":$chain - [0:0]"',
            *(f"    echo {_q(f'-A {chain} {r}')}" for r in rules),
            '    if [ "$jump_first" != 1 ]; then',
            '      i=0',
            '      while [ "$i" -lt "$jumps" ]; do echo "-D $parent -j $chain"; i=$((i + 1)); done',
            '      echo "-I $parent 1 -j $chain"',
            "    fi",
            "    echo COMMIT",
            '  } | "$ipt-restore" -w --noflush',
            # The kernel may print a rule in another form than given (a
            # probability with more digits): changed means "differs from before".
            '  after=$("$ipt" -w -t "$table" -S "$chain" 2>/dev/null || true)',
            '  if [ "$after" != "$have" ] || [ "$jump_first" != 1 ]; then changed=1; fi',
            "else",
            '  after=$have',
            "fi",
            'parent_rules=$("$ipt" -w -t "$table" -S "$parent")',
            'first=$(printf \'%s\\n\' "$parent_rules" | sed -n 2p)',
            'count=$(printf \'%s\\n\' "$after" | grep -c -- "^-A $chain " || true)',
            *checks[0],
            'if [ "$first" != "-A $parent -j $chain" ]; then',
            '  unverified="$parent does not jump first to $chain"',
            f'elif [ "$count" != {len(rules)} ]; then',
            f'  unverified="$chain holds $count rules, not {len(rules)}"',
            *checks[1],
            "else",
            '  evidence="$parent jumps first to $chain: $(printf \'%s\\n\' "$after" '
            '| sed -n "s/^-A $chain //p" | paste -sd";" -)"',
            "fi",
        ]
    else:
        lines += [
            'if [ "$jumps" != 0 ] || [ -n "$have" ]; then',
            "  {",
            "    echo \"*$table\"",
            '    i=0',
            '    while [ "$i" -lt "$jumps" ]; do echo "-D $parent -j $chain"; i=$((i + 1)); done',
            '    if [ -n "$have" ]; then echo "-F $chain"; echo "-X $chain"; fi',
            "    echo COMMIT",
            '  } | "$ipt-restore" -w --noflush',
            "  changed=1",
            "fi",
            'if "$ipt" -w -t "$table" -S "$parent" | grep -qxF -- "-A $parent -j $chain" \\',
            '    || "$ipt" -w -t "$table" -S "$chain" >/dev/null 2>&1; then',
            '  unverified="$chain or its jump from $parent is still there"',
            "else",
            '  evidence="no $chain chain"',
            "fi",
        ]
    if report:
        lines += [
            'if [ "$changed" = 1 ]; then echo "pyharness: changed"; '
            'else echo "pyharness: unchanged"; fi',
            'if [ -n "$unverified" ]; then echo "pyharness: unverified ($unverified)"; exit 1; fi',
            'echo "pyharness: verified ($evidence)"',
        ]
    return "\n".join(lines) + "\n"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pyh_iptables_chain": iptables_chain}
