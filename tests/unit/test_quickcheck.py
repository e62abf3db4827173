"""quickcheck against a real etcd: a correct store passes, and every planted
store bug is caught and shrunk to a short command sequence.

Uses the ``local_etcd`` fixture (one etcd member on loopback). Seeds are
fixed so the runs are repeatable; Hypothesis' example database is off so
that no test replays another's failure.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from pyharness.run.quickcheck import (
    parse_endpoint,
    quickcheck,
    run_parallel_once,
    run_quickcheck,
)
from pyharness.varstore import BUGS
from tests.conftest import LocalEtcd

# How short "short" is: the longest minimal sequence (in commands, invariant
# checks not counted) that a bug may shrink to. Each bug needs a declare and
# at most two more commands; one more leaves Hypothesis' shrinker some slack.
SHORT = 4


def endpoints(etcd: LocalEtcd) -> list[tuple[str, int]]:
    return [(etcd.address, etcd.port)]


@pytest.mark.parametrize("api", ["v2", "v3"])
def test_a_correct_store_passes(local_etcd: LocalEtcd, api: str) -> None:
    res = quickcheck(endpoints(local_etcd), examples=40, seed=11, database=None, api=api)
    assert res.passed, res.best and res.best.error
    assert res.failures == []


# What each bug's minimal sequence must mention: the command that exposes it.
HINTS = {
    # Lost updates need two binds whose reads both precede both writes.
    "bind-without-cas": "racing_binds",
    # A rebind is a second bind of a single-assignment variable.
    "rebind-allowed": "single",
    # Only the G-Set's join is broken.
    "join-drops-element": "gset",
    # Only a read that has to wait can return too early.
    "early-threshold-read": "read",
}


@pytest.mark.parametrize("api", ["v2", "v3"])
@pytest.mark.parametrize("bug", BUGS)
def test_each_store_bug_is_caught_and_shrunk(local_etcd: LocalEtcd, bug: str, api: str) -> None:
    res = quickcheck(endpoints(local_etcd), examples=40, seed=11, store_bug=bug, database=None,
                     api=api)
    assert not res.passed
    best = res.best
    assert best is not None
    assert 1 < len(best.commands) <= SHORT, best.commands
    assert "declare" in best.commands[0]
    assert HINTS[bug] in "\n".join(best.commands[1:]), best.commands
    assert best.steps, "the failing run's own log is kept"
    assert best.blob is not None and best.blob.startswith("@reproduce_failure(")


def test_a_seed_replays_the_same_counterexample(local_etcd: LocalEtcd) -> None:
    runs = [quickcheck(endpoints(local_etcd), examples=40, seed=5,
                       store_bug="early-threshold-read", database=None) for _ in range(2)]
    a, b = (r.best for r in runs)
    assert a is not None and b is not None
    assert a.commands == b.commands and a.steps == b.steps


def test_the_cli_entry_point_prints_the_sequence_and_how_to_replay(
        local_etcd: LocalEtcd) -> None:
    buf = io.StringIO()
    out = Console(file=buf, width=200)
    code = run_quickcheck([local_etcd.url], 30, 3, "early-threshold-read", False, out,
                          database=None)
    text = buf.getvalue()
    assert code == 1
    assert "minimal failing sequence:" in text
    assert re.search(r"replay: pyharness quickcheck --seed 3 .*--store-bug early-threshold-read",
                     text)
    assert "@reproduce_failure(" in text
    buf = io.StringIO()
    code = run_quickcheck([local_etcd.url], 10, 3, None, False, Console(file=buf), database=None)
    assert code == 0 and "passed" in buf.getvalue()


def test_parallel_mode_passes_a_correct_store(local_etcd: LocalEtcd) -> None:
    res = quickcheck(endpoints(local_etcd), examples=10, seed=2, parallel=True, database=None)
    assert res.passed, res.best and res.best.error


def test_parallel_mode_catches_and_shrinks_a_rebind(local_etcd: LocalEtcd) -> None:
    # This bug needs no race (two binds in any order show it): one run per
    # program is enough, which keeps shrinking quick.
    res = quickcheck(endpoints(local_etcd), examples=15, seed=2, store_bug="rebind-allowed",
                     parallel=True, database=None, repeats=1)
    assert not res.passed and res.best is not None
    best = res.best
    assert best.check["rebinds-count"] >= 1
    assert best.check["linearizable?"] is False
    # Two binds of different values to one variable, and at most one other
    # command (a program has two non-empty branches, which limits shrinking).
    assert 2 <= len(best.commands) <= 3, best.commands
    assert sum("'bind', 's'" in c for c in best.commands) == 2, best.commands
    assert best.history, "the failing history is kept"


def test_parallel_binds_without_cas_lose_updates(local_etcd: LocalEtcd) -> None:
    """Three processes each add four elements to one G-Set at once. With CAS
    every add survives; without, some add is lost in one of a few tries."""
    program = ([], [[("bind", "g", frozenset({10 * b + i})) for i in range(4)]
                    for b in range(3)])
    for _ in range(3):
        _history, verdict = run_parallel_once(endpoints(local_etcd), None, *program)
        assert verdict["valid?"] is True and verdict["linearizable?"] is True, verdict
    verdicts = [run_parallel_once(endpoints(local_etcd), "bind-without-cas", *program)[1]
                for _ in range(5)]
    lost = [v for v in verdicts if v["valid?"] is False]
    assert lost, verdicts
    assert lost[0]["lost-count"] >= 1
    assert lost[0]["linearizable?"] is False


def test_parse_endpoint() -> None:
    assert parse_endpoint("http://10.77.0.1:2379") == ("10.77.0.1", 2379)
    assert parse_endpoint("127.0.0.1:2479") == ("127.0.0.1", 2479)
    assert parse_endpoint("localhost") == ("localhost", 2379)
