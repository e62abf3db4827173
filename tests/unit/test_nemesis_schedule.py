"""Nemesis specs, schedules, targets and partition shapes, without a lab."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyharness import nemesis
from pyharness.nemesis import partition, registry, schedule, targets
from pyharness.nemesis.kinds.partition import PARTITION_SHAPE_FOR

NODES = ["n1", "n2", "n3", "n4", "n5"]


def test_unknown_fault_is_named_in_one_line() -> None:
    with pytest.raises(ValueError) as e:
        nemesis.build("partition,kil", {}, None, NODES)  # type: ignore[arg-type]
    msg = str(e.value)
    assert msg.startswith("--nemesis must be") and "'kil'" in msg and "\n" not in msg


def test_old_names_keep_their_schedule() -> None:
    pkg = nemesis.build("partition-random-halves", {"nemesis_interval": 2}, None,  # type: ignore[arg-type]
                        NODES)
    assert pkg.nemesis is not None and pkg.nemesis.fs == {"start-partition", "stop-partition"}
    assert pkg.final_generator == {"f": "stop-partition"}
    assert "partition-random-halves" in nemesis.names() and "none" in nemesis.names()


def test_combined_specs_are_known_names() -> None:
    assert nemesis.parse_spec("partition,kill,pause,loss,slow")
    with pytest.raises(ValueError):
        nemesis.parse_spec("partition,bogus")
    pkg = nemesis.build("partition,kill,pause,loss,slow", {"seed": 1}, None,  # type: ignore[arg-type]
                        NODES)
    assert pkg.nemesis is not None
    assert {f.split("-", 1)[1] for f in pkg.nemesis.fs} == {"partition", "kill", "pause",
                                                             "loss", "slow"}
    assert [op["f"] for op in pkg.final_generator] == [  # type: ignore[union-attr]
        "stop-partition", "stop-kill", "stop-pause", "stop-loss", "stop-slow"]


@given(st.integers(0, 2**31),
       st.lists(st.sampled_from([k.name for k in registry.all_kinds()]), min_size=2,
                max_size=6, unique=True))
def test_plan_is_reproducible_and_flip_flops_each_fault(seed: int, faults: list[str]) -> None:
    a = schedule.plan(faults, 2.0, seed, 60)
    assert a == schedule.plan(faults, 2.0, seed, 60)
    state: dict[str, str] = {}
    for delay, f in a:
        assert 1.0 <= delay <= 3.0
        verb, _, name = f.partition("-")
        assert name in faults
        assert state.get(name, "stop") != verb  # start, stop, start, ... per fault
        state[name] = verb


def test_plans_differ_between_seeds_and_overlap_faults() -> None:
    plans = {tuple(f for _, f in schedule.plan(["partition", "pause"], 1, s, 20))
             for s in range(10)}
    assert len(plans) > 5
    overlapping = 0
    for s in range(10):
        active: set[str] = set()
        for _, f in schedule.plan(["partition", "pause"], 1, s, 20):
            verb, _, name = f.partition("-")
            (active.add if verb == "start" else active.discard)(name)
            overlapping += len(active) == 2
    assert overlapping > 0  # Jepsen's combined nemesis lets faults overlap


def test_target_kinds() -> None:
    rng = random.Random(1)
    assert len(targets.choose("one", NODES, rng, {})[0]) == 1
    assert len(targets.choose("minority", NODES, rng, {})[0]) == 2
    assert len(targets.choose("majority", NODES, rng, {})[0]) == 3
    assert targets.choose("all", NODES, rng, {})[0] == NODES
    assert targets.choose("leader", NODES, rng, {}, leader=lambda t: "n4") == (
        ["n4"], {"leader": "n4"})
    hosts, info = targets.choose("leader", NODES, rng, {}, leader=lambda t: None)
    assert len(hosts) == 1 and info == {"leader": None}
    assert targets.parse("one, leader") == ("one", "leader")
    with pytest.raises(ValueError, match=r"--nemesis-targets .*'most'"):
        targets.parse("one,most")


def test_majorities_ring_gives_every_node_a_different_majority() -> None:
    cut = partition.majorities_ring(NODES, random.Random(3))
    seen = {n: frozenset(set(NODES) - set(cut.grudge.get(n, []))) for n in NODES}
    assert all(len(s) == 3 and n in s for n, s in seen.items())
    assert len(set(seen.values())) == 5
    for n, drops in cut.grudge.items():  # symmetric for 5 nodes
        assert all(n in cut.grudge[d] for d in drops)


def test_bridge_node_sees_both_sides() -> None:
    cut = partition.bridge(NODES, random.Random(4))
    link = cut.info["bridge"]  # type: ignore[index]
    assert link not in cut.grudge and all(link not in d for d in cut.grudge.values())
    a, b = cut.components  # type: ignore[misc]
    assert set(a) & set(b) == {link}
    for n in set(a) - {link}:
        assert set(cut.grudge[n]) == set(b) - {link}


def test_isolate_leader_cuts_off_the_leader() -> None:
    cut = partition.cut_for("isolate-leader", NODES, random.Random(), {},
                            leader=lambda t: "n2")
    assert cut.components == [["n2"], ["n1", "n3", "n4", "n5"]]
    assert cut.grudge["n2"] == ["n1", "n3", "n4", "n5"] and cut.grudge["n1"] == ["n2"]


def test_grudge_file_yaml_and_json(tmp_path: Path) -> None:
    y = tmp_path / "g.yml"
    y.write_text("n1: [n2, n3]\nn2: [n1]\n")
    assert partition.load_grudge(y, NODES) == {"n1": ["n2", "n3"], "n2": ["n1"]}
    j = tmp_path / "g.json"
    j.write_text('{"n5": ["n4"]}')
    pkg = nemesis.build("partition-grudge", {"grudge_file": str(j)}, None,  # type: ignore[arg-type]
                        NODES)
    assert pkg.nemesis is not None


@pytest.mark.parametrize(("content", "fragment"), [
    ("n1: [n2\n", "not JSON or YAML at line"),
    ("[n1, n2]", "must map each host"),
    ("n9: [n1]", "host 'n9' is not in the inventory"),
    ("n1: [n7]", "peer 'n7' of n1"),
    ("n1: n2", "must be a list"),
])
def test_bad_grudge_file_is_one_line_naming_the_file(tmp_path: Path, content: str,
                                                     fragment: str) -> None:
    f = tmp_path / "grudge.yml"
    f.write_text(content)
    with pytest.raises(ValueError) as e:
        partition.load_grudge(f, NODES)
    msg = str(e.value)
    assert msg.startswith(f"--grudge-file {f}:") and fragment in msg and "\n" not in msg


def test_partition_shape_follows_targets() -> None:
    counts = Counter(PARTITION_SHAPE_FOR[k] for k in targets.KINDS)
    assert set(counts) <= set(partition.ALL_SHAPES)
