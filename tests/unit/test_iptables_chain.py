"""The one iptables-chain mechanism, run for real in a private network namespace.

The lab, partitions and the loss fault all keep their rules in a chain of the
suite's own, jumped to first, replaced in one iptables-restore transaction
(``filter_plugins/iptables_chain.py``). Here the rendered script runs against
real iptables in a namespace of the test's own, and the kernel's tables are
read back after each step.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("iptables")
                                or not shutil.which("ip"),
                                reason="needs root, ip and iptables")

_spec = importlib.util.spec_from_file_location(
    "pyh_iptables_chain_filter", ROOT / "filter_plugins" / "iptables_chain.py")
assert _spec is not None and _spec.loader is not None
chain_filter: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chain_filter)

DROP_A = "-s 10.99.0.1/32 -j DROP"
DROP_B = "-s 10.99.0.2/32 -j DROP"




def _run(ns: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", "set -eu\n" + script],
                          capture_output=True, text=True, timeout=60)


def _rules(ns: str, chain: str) -> list[str] | None:
    r = subprocess.run(["ip", "netns", "exec", ns, "iptables", "-w", "-S", chain],
                       capture_output=True, text=True)
    return None if r.returncode else r.stdout.splitlines()


def _apply(ns: str, rules: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return _run(ns, chain_filter.iptables_chain("PYH-T", rules, **kw))


def test_present_replaces_the_chain_and_jumps_first(netns: str) -> None:
    r = _apply(netns, [DROP_A])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "pyharness: changed"
    assert "pyharness: verified (INPUT jumps first to PYH-T: " + DROP_A + ")" in r.stdout
    assert _rules(netns, "PYH-T") == ["-N PYH-T", f"-A PYH-T {DROP_A}"]
    assert _rules(netns, "INPUT")[1] == "-A INPUT -j PYH-T"  # type: ignore[index]

    again = _apply(netns, [DROP_A])
    assert again.stdout.splitlines()[0] == "pyharness: unchanged"

    new = _apply(netns, [DROP_B, DROP_A])
    assert new.stdout.splitlines()[0] == "pyharness: changed"
    assert _rules(netns, "PYH-T") == ["-N PYH-T", f"-A PYH-T {DROP_B}", f"-A PYH-T {DROP_A}"]


def test_someone_elses_rules_are_kept_and_the_jump_moves_first(netns: str) -> None:
    assert _apply(netns, [DROP_A]).returncode == 0
    theirs = ["ip", "netns", "exec", netns, "iptables", "-w", "-I", "INPUT", "1", "-p", "tcp",
              "--dport", "22", "-j", "ACCEPT"]
    subprocess.run(theirs, check=True)
    subprocess.run(["ip", "netns", "exec", netns, "iptables", "-w", "-A", "INPUT", "-j",
                    "PYH-T"], check=True)  # a second jump, last
    r = _apply(netns, [DROP_A])
    assert r.stdout.splitlines()[0] == "pyharness: changed"
    assert _rules(netns, "INPUT") == ["-P INPUT ACCEPT", "-A INPUT -j PYH-T",
                                      "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"]

    gone = _apply(netns, [], state="absent")
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.splitlines() == ["pyharness: changed",
                                        "pyharness: verified (no PYH-T chain)"]
    assert _rules(netns, "PYH-T") is None
    assert _rules(netns, "INPUT") == ["-P INPUT ACCEPT",
                                      "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"]
    assert _apply(netns, [], state="absent").stdout.splitlines()[0] == "pyharness: unchanged"


def test_a_rule_the_kernel_prints_otherwise_is_still_seen_as_unchanged(netns: str) -> None:
    # iptables prints the probability with more digits than given.
    rule = "-m statistic --mode random --probability 0.3 -j DROP"
    assert _apply(netns, [rule]).stdout.splitlines()[0] == "pyharness: changed"
    r = _apply(netns, [rule])
    assert r.stdout.splitlines()[0] == "pyharness: unchanged"
    assert "statistic" in r.stdout and "verified" in r.stdout


def _lying_restore(tmp_path: Path, sed: str) -> str:
    """An ``iptables`` whose ``-restore`` edits the rules it loads with ``sed``."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    real = shutil.which("iptables")
    assert real is not None
    if not (fake / "iptables").exists():
        (fake / "iptables").symlink_to(real)
    (fake / "iptables-restore").write_text(
        f"#!/bin/sh\nsed {sed!r} | {real}-restore \"$@\"\n")
    (fake / "iptables-restore").chmod(0o755)
    return str(fake / "iptables")


def test_a_rule_that_is_not_the_one_asked_for_is_unverified(netns: str,
                                                             tmp_path: Path) -> None:
    """ACCEPT loaded where DROP was asked for: the count of rules is right,
    the fault is not in effect."""
    rules = ["-i lo -j RETURN", "-m statistic --mode random --probability 0.3 -j DROP"]
    r = _apply(netns, rules, iptables=_lying_restore(tmp_path, "s/-j DROP/-j ACCEPT/"))
    assert r.returncode == 1
    assert r.stdout.splitlines()[-1] == (
        "pyharness: unverified (rule 2 of PYH-T is not: "
        "-m statistic --mode random --probability 0.3 -j DROP)")
    # An address the kernel prints with its /32 still counts as the one given...
    rule = "-s 10.99.0.1 -p tcp --dport 2380 -j DROP"
    ok = _apply(netns, [rule])
    assert ok.returncode == 0 and "pyharness: verified" in ok.stdout, ok.stdout
    # ...and a longer address that merely starts like it does not.
    near = _apply(netns, [rule, DROP_B],
                  iptables=_lying_restore(tmp_path, "s/10.99.0.1 /10.99.0.10 /"))
    assert near.returncode == 1
    assert near.stdout.splitlines()[-1] == f"pyharness: unverified (rule 1 of PYH-T is not: {rule})"


def test_another_table_and_parent(netns: str) -> None:
    r = _apply(netns, ["-j ACCEPT"], jump_from="FORWARD", table="filter")
    assert r.returncode == 0, r.stderr
    assert _rules(netns, "FORWARD")[1] == "-A FORWARD -j PYH-T"  # type: ignore[index]
    assert _rules(netns, "INPUT") == ["-P INPUT ACCEPT"]


def test_without_report_the_caller_reads_the_outcome(netns: str) -> None:
    script = "changed=0\n" + chain_filter.iptables_chain("PYH-T", [DROP_A], report=False) \
        + 'echo "changed=$changed unverified=[$unverified] evidence=[$evidence]"\n'
    r = _run(netns, script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (f"changed=1 unverified=[] evidence=[INPUT jumps first to "
                                f"PYH-T: {DROP_A}]")


def test_removing_where_iptables_cannot_list_is_not_an_error(netns: str) -> None:
    # heal.yml removes the chain first; a host without usable iptables must
    # not stop it before it resumes and restarts members.
    r = _run(netns, chain_filter.iptables_chain("PYH-T", [], state="absent",
                                                iptables="/nonexistent/iptables"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["pyharness: unchanged", "pyharness: verified (no PYH-T chain)"]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="state must be present or absent"):
        chain_filter.iptables_chain("PYH-T", [], state="gone")
    with pytest.raises(ValueError, match="bad chain name"):
        chain_filter.iptables_chain("PY H", [])
