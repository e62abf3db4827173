"""Nemeses by name. A nemesis injects and heals faults through playbooks;
its schedule (when to start and stop faults) is a generator.

``--nemesis`` names one fault or a comma-separated combination:

- ``partition`` (shape chosen per op from the targets: one -> isolate-one,
  minority/majority -> random-halves, all -> majorities-ring, leader ->
  isolate-leader), or a fixed shape ``partition-SHAPE`` for SHAPE in
  halves, random-halves, isolate-one, isolate-leader, majorities-ring,
  bridge, grudge (the last reads ``grudge_file``);
- ``kill``, ``pause``: SIGKILL/SIGSTOP the etcd member by its pid file;
- ``loss``, ``slow``, ``netem``: degraded links.

``none`` runs no faults. Options read (all optional): ``nemesis_interval``,
``nemesis_targets`` (one, minority, majority, all, leader; comma-separated),
``seed``, ``time_limit``, ``grudge_file``, ``loss_probability``,
``slow_rate``, ``netem_delay``, ``netem_jitter``, ``netem_loss``,
``netem_duplicate``, ``netem_reorder``, ``kill_start_timeout``, and
``nemesis_agent`` (default true: faults go through a pre-started Ansible run,
see :mod:`pyharness.nemesis.agent`; the nemesis' ``close()`` ends it).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyharness.control.ansible import Ansible
from pyharness.gen.client import Nemesis
from pyharness.gen.generator import Generator, GenLike
from pyharness.nemesis import partition, schedule, targets
from pyharness.nemesis.faults import Fault, FaultNemesis, LinkFault, PartitionFault, ProcessFault


@dataclass
class NemesisPackage:
    """A nemesis plus the schedule that drives it and the ops that heal it."""

    nemesis: Nemesis | None
    generator: Generator | None
    final_generator: GenLike = None


SIMPLE_FAULTS = ("partition", "kill", "pause", "loss", "slow", "netem")
PARTITION_NAMES = tuple(f"partition-{s}" for s in partition.ALL_SHAPES)
FAULT_NAMES = (*SIMPLE_FAULTS, *PARTITION_NAMES)


def _usage(bad: str) -> ValueError:
    return ValueError(f"--nemesis must be none or a comma-separated list of "
                      f"{', '.join(FAULT_NAMES)}; unknown: {bad!r}")


def parse_spec(spec: str) -> list[str]:
    """``"partition,kill"`` -> ``["partition", "kill"]``; ValueError (one line,
    naming the bad part) otherwise. ``none`` -> ``[]``."""
    parts = [p.strip() for p in spec.split(",")]
    if parts == ["none"]:
        return []
    for p in parts:
        if p not in FAULT_NAMES:
            raise _usage(p)
    if len(set(parts)) != len(parts):
        dup = next(p for p in parts if parts.count(p) > 1)
        raise ValueError(f"--nemesis names {dup!r} twice")
    parts_of_partition = [p for p in parts if p.startswith("partition")]
    if len(parts_of_partition) > 1:
        raise ValueError(f"--nemesis may name one partition fault, got "
                         f"{', '.join(parts_of_partition)}")
    return parts


def _link_vars(name: str, opts: Mapping[str, Any]) -> dict[str, Any]:
    if name == "loss":
        p = float(opts.get("loss_probability", 0.3))
        if not 0 < p <= 1:
            raise ValueError(f"--loss-probability must be in (0, 1], got {p}")
        return {"link_fault_loss_probability": p}
    if name == "slow":
        return {"link_fault_rate": str(opts.get("slow_rate", "1mbit"))}
    out: dict[str, Any] = {"link_fault_delay": str(opts.get("netem_delay", "100ms")),
                           "link_fault_jitter": str(opts.get("netem_jitter", "20ms"))}
    for key in ("loss", "duplicate", "reorder"):
        v = opts.get(f"netem_{key}")
        if v:
            out["link_fault_netem_loss" if key == "loss" else f"link_fault_{key}"] = float(v)
    return out


def _fault(token: str, opts: Mapping[str, Any], nodes: list[str]) -> Fault:
    if token == "partition":
        return PartitionFault()
    if token.startswith("partition-"):
        shape = token[len("partition-"):]
        grudge = None
        if shape == "grudge":
            path = opts.get("grudge_file")
            if not path:
                raise ValueError("--nemesis partition-grudge needs --grudge-file FILE")
            grudge = partition.load_grudge(path, nodes)
        return PartitionFault(shape, grudge)
    if token in ("kill", "pause"):
        return ProcessFault(token, int(opts.get("kill_start_timeout", 30)))
    return LinkFault(token, _link_vars(token, opts))


def build(spec: str, opts: Mapping[str, Any], ansible: Ansible,
          nodes: list[str]) -> NemesisPackage:
    """The nemesis, schedule and final heal for ``spec``. Raises ValueError
    with a one-line message naming the bad option."""
    tokens = parse_spec(spec)
    if not tokens:
        return NemesisPackage(None, None)
    faults = [_fault(t, opts, nodes) for t in tokens]
    kinds = targets.parse(opts.get("nemesis_targets"))
    interval = float(opts.get("nemesis_interval", 5.0))
    if not interval > 0:
        raise ValueError(f"--nemesis-interval must be greater than 0, got {interval}")
    seed = opts.get("seed")
    runner: Any = ansible
    if isinstance(ansible, Ansible) and opts.get("nemesis_agent", True):
        from pyharness.nemesis.agent import AgentRunner
        runner = AgentRunner(ansible.inventory, ansible.data_dir.parent / "nemesis-agent",
                             ansible.extravars, warn=opts.get("warn"))
    nem = FaultNemesis(runner, nodes, faults,
                       random.Random(f"pyharness-nemesis-{seed}" if seed is not None else None),
                       kinds)
    names = [f.name for f in faults]
    tl = opts.get("time_limit")
    gen = schedule.generator(names, interval, seed, float(tl) if tl else None)
    final = schedule.final(names)
    return NemesisPackage(nem, gen, final[0] if len(final) == 1 else final)


def names() -> list[str]:
    """Every single fault name; ``--nemesis`` also takes comma-separated lists."""
    return ["none", *FAULT_NAMES]
