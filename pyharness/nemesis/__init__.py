"""Nemeses by name. A nemesis injects and heals faults through playbooks;
its schedule (when to start and stop faults) is a generator.

``--nemesis`` names one fault or a comma-separated combination, from the
fault registry (:mod:`pyharness.nemesis.registry`; the kinds are in
:mod:`pyharness.nemesis.kinds`): ``partition`` (shape chosen per op from
the targets) or a fixed ``partition-SHAPE``, ``kill``, ``pause``, ``loss``,
``slow``, ``netem``. ``none`` runs no faults.

Options read (all optional): ``nemesis_interval``, ``nemesis_targets`` (one,
minority, majority, all, leader; comma-separated), ``seed``, ``time_limit``,
every kind's own options (``loss_probability``, ...; defaults from the
registry), and ``nemesis_agent`` (default true: faults go through a
pre-started Ansible run, see :mod:`pyharness.nemesis.agent`; the nemesis'
``close()`` ends it).

Cheap to import (the CLI reads the registry for ``--help``): Ansible is
imported only to build a nemesis.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyharness.gen.client import Nemesis
from pyharness.gen.generator import Generator, GenLike
from pyharness.nemesis import registry, schedule, targets
from pyharness.nemesis.registry import Fault

if TYPE_CHECKING:
    from pyharness.control.ansible import Ansible


@dataclass
class NemesisPackage:
    """A nemesis plus the schedule that drives it and the ops that heal it."""

    nemesis: Nemesis | None
    generator: Generator | None
    final_generator: GenLike = None


def fault_names() -> tuple[str, ...]:
    """Every ``--nemesis`` name but none."""
    return registry.names()


def _usage(bad: str) -> ValueError:
    return ValueError(f"--nemesis must be none or a comma-separated list of "
                      f"{', '.join(fault_names())}; unknown: {bad!r}")


def parse_spec(spec: str) -> list[str]:
    """``"partition,kill"`` -> ``["partition", "kill"]``; ValueError (one line,
    naming the bad part) otherwise. ``none`` -> ``[]``."""
    parts = [p.strip() for p in spec.split(",")]
    if parts == ["none"]:
        return []
    for p in parts:
        if registry.kind_of(p) is None:
            raise _usage(p)
    if len(set(parts)) != len(parts):
        dup = next(p for p in parts if parts.count(p) > 1)
        raise ValueError(f"--nemesis names {dup!r} twice")
    kinds = [registry.kind_of(p) for p in parts]
    for group in sorted({k.group for k in kinds if k is not None and k.group}):
        same = [p for p, k in zip(parts, kinds, strict=True) if k is not None and k.group == group]
        if len(same) > 1:
            raise ValueError(f"--nemesis may name one {group} fault, got {', '.join(same)}")
    return parts


def fault(name: str, opts: Mapping[str, Any] | None = None,
          nodes: Sequence[str] = ()) -> Fault:
    """The fault ``name`` (a ``--nemesis`` name), built by its kind from
    ``opts`` (its options; defaults from the registry). ValueError, one line
    naming the option, for a value its kind does not allow: callers other
    than ``pyharness test`` (the bench, a test) get the same checks."""
    kind = registry.kind_of(name)
    if kind is None:
        raise _usage(name)
    values = {**(opts or {}), **registry.option_values(opts or {})}
    for o in kind.options:
        if o.kind == "path" and isinstance(values[o.field], str):
            values[o.field] = Path(values[o.field])  # as the command line parses it
        expected = o.expected(values[o.field])
        if expected is not None:
            raise ValueError(f"{o.flag} must be {expected}, got {values[o.field]!r}")
    return kind.make(kind, name, values, list(nodes))


def build(spec: str, opts: Mapping[str, Any], ansible: Ansible,
          nodes: list[str]) -> NemesisPackage:
    """The nemesis, schedule and final heal for ``spec``. Raises ValueError
    with a one-line message naming the bad option."""
    tokens = parse_spec(spec)
    if not tokens:
        return NemesisPackage(None, None)
    faults = [fault(t, opts, nodes) for t in tokens]
    kinds = targets.parse(opts.get("nemesis_targets"))
    interval = float(opts.get("nemesis_interval", 5.0))
    if not interval > 0:
        raise ValueError(f"--nemesis-interval must be greater than 0, got {interval}")
    seed = opts.get("seed")
    from pyharness.control.ansible import Ansible
    from pyharness.nemesis.faults import FaultNemesis

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
    return ["none", *fault_names()]
