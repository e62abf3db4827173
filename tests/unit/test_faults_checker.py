"""The faults checker: a fault asked for that never took effect is never valid;
and the facts that explain a failed op."""

from __future__ import annotations

from checkers.explain import op_facts
from checkers.faults import FaultsChecker, requested_faults
from checkers.windows import fault_windows
from pyharness.history import INFO, NEMESIS, OK, Op

S = 1_000_000_000


def _nem(f: str, t: int, index: int, **extra: object) -> list[Op]:
    inv = Op(type=INFO, f=f, process=NEMESIS, time=t, index=index)
    done = Op(type=INFO, f=f, process=NEMESIS, time=t + S // 10, index=index + 1,
              extra=dict(extra))
    return [inv, done]


def _test(spec: str) -> dict:
    return {"options": {"nemesis": spec}}


def test_requested_faults_name_what_ops_carry() -> None:
    assert requested_faults("partition-isolate-one,kill") == ["partition", "kill"]
    assert requested_faults("none") == [] and requested_faults(None) == []
    # A run records each name's kind from the registry; that wins over names.
    assert requested_faults("halves-ish,kill", ["partition", "kill"]) == ["partition", "kill"]


def test_the_runs_recorded_fault_kinds_decide_what_is_expected() -> None:
    h = (_nem("start-kill", 1 * S, 0, hosts=["n1"], verified={"n1": "port closed"},
              unverified={})
         + _nem("stop-kill", 2 * S, 2, hosts=["n1"], verified={"n1": "listening"},
                unverified={}))
    r = FaultsChecker().check({"options": {"nemesis": "freeze,kill"},
                               "fault-kinds": ["pause", "kill"]}, h)
    assert r["valid?"] == "unknown" and "pause" in r["reason"]


def test_every_fault_in_effect_is_valid() -> None:
    h = (_nem("start-kill", 1 * S, 0, hosts=["n1"], verified={"n1": "port closed"},
              unverified={})
         + _nem("stop-kill", 2 * S, 2, hosts=["n1"], verified={"n1": "listening"},
                unverified={}))
    r = FaultsChecker().check(_test("kill"), h)
    assert r["valid?"] is True
    assert r["faults"]["kill"] == {"started": 1, "in-effect": 1, "not-in-effect": 0}


def test_a_fault_that_never_took_effect_is_unknown_with_the_host_and_reason() -> None:
    h = _nem("start-kill", 1 * S, 0, hosts=["n4"], verified={},
             unverified={"n4": "pid 7 is gone but port 2379 still listens"})
    r = FaultsChecker().check(_test("kill"), h)
    assert r["valid?"] == "unknown"
    assert "kill never took effect" in r["reason"] and "2379 still listens" in r["reason"]
    assert r["not-in-effect"][0]["host"] == "n4"


def test_a_fault_never_started_is_unknown() -> None:
    h = _nem("start-kill", 1 * S, 0, hosts=["n1"], verified={"n1": "ok"}, unverified={})
    r = FaultsChecker().check(_test("kill,pause"), h)
    assert r["valid?"] == "unknown" and "pause was never started" in r["reason"]


def test_ops_without_evidence_prove_nothing() -> None:
    # A history from before ops carried evidence, or a nemesis that records none.
    h = _nem("start-partition", 1 * S, 0, hosts=["n1", "n2"])
    r = FaultsChecker().check(_test("partition-halves"), h)
    assert r["valid?"] == "unknown"
    assert {m["host"] for m in r["not-in-effect"]} == {"n1", "n2"}


def test_partly_in_effect_is_listed_but_valid_once_one_start_took_effect() -> None:
    h = (_nem("start-pause", 1 * S, 0, hosts=["n1", "n2"], verified={"n1": "state T"},
              unverified={"n2": "no live etcd"})
         + _nem("start-pause", 3 * S, 2, hosts=["n3"], verified={"n3": "state T"},
                unverified={}))
    r = FaultsChecker().check(_test("pause"), h)
    assert r["valid?"] is True and r["not-in-effect-count"] == 1
    assert r["faults"]["pause"]["not-in-effect"] == 1


def test_a_stop_that_finds_its_effect_not_reached_takes_back_the_start() -> None:
    """partition-snapshot: the cut was verified, but the heal came before the
    leader was far enough ahead to force a snapshot. Never valid alone."""
    grudge = {"n1": "cut from n2 n3; reaches none", "n2": "cut from n1", "n3": "cut from n1"}
    short = "the leader was only 812 entries past n1 after 60 s, not 5200"
    spec = {"options": {"nemesis": "partition-snapshot"},
            "fault-kinds": ["partition-snapshot"]}
    h = (_nem("start-partition-snapshot", 1 * S, 0, hosts=["n1", "n2", "n3"], verified=grudge,
              unverified={})
         + _nem("stop-partition-snapshot", 3 * S, 2, hosts=["n1", "n2", "n3"],
                verified={"n1": "ok", "n2": "ok", "n3": "ok"}, unverified={}, member="n1",
                **{"effect-not-reached": short}))
    r = FaultsChecker().check(spec, h)
    assert r["valid?"] == "unknown" and "812 entries" in r["reason"]
    assert r["faults"]["partition-snapshot"] == {"started": 1, "in-effect": 0,
                                                 "not-in-effect": 1}
    assert r["not-in-effect"][0]["host"] == "n1"
    # A second cycle that did reach the lag makes the run valid, the first listed.
    reached = (_nem("start-partition-snapshot", 5 * S, 4, hosts=["n1", "n2", "n3"],
                    verified=grudge, unverified={})
               + _nem("stop-partition-snapshot", 9 * S, 6, hosts=["n1", "n2", "n3"],
                      verified={"n1": "ok", "n2": "ok", "n3": "ok"}, unverified={},
                      member="n1", **{"snapshot-lag": 5300}))
    r = FaultsChecker().check(spec, h + reached)
    assert r["valid?"] is True and r["not-in-effect-count"] == 1
    assert r["faults"]["partition-snapshot"]["in-effect"] == 1


def test_facts_name_value_return_member_and_the_fault_that_just_healed() -> None:
    h = (_nem("start-partition", 1 * S, 0, hosts=["n4", "n5"], effective_ns=1 * S + S // 20)
         + _nem("stop-partition", 5 * S, 2, hosts=["n4", "n5"]))
    read = Op(type="invoke", f="read", value=None, process=3, time=int(5.8 * S), index=4,
              node="n4")
    got = Op(type=OK, f="read", value=None, process=3, time=int(5.85 * S), index=5, node="n4")
    facts = op_facts(read, got, fault_windows([*h, read, got]), int(6 * S))
    assert facts["member"] == "n4" and facts["returned"] is None and facts["type"] == "ok"
    assert facts["faults-on-member"][0]["kind"] == "partition"
    assert facts["explanation"] == ("read returned nil on n4 (5.80-5.85 s); "
                                    "on n4: partition ended 0.7 s before")
    elsewhere = op_facts(read, got, fault_windows(_nem("start-kill", 5 * S, 0, hosts=["n1"])),
                         int(6 * S))
    assert elsewhere["faults-on-member"] == []
    assert elsewhere["explanation"].endswith("no fault on n4 then")
