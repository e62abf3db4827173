"""The varstore checker: did a Lasp-style variable store keep its promises?

The workload (:mod:`pyharness.workloads.varstore`) declares variables,
binds values to them and reads them, some reads with a threshold. Op values
are ``[name, arg]``: ``declare [name, type]``, ``bind [name, value]``,
``read [name, threshold]``; an ``ok`` read completes with ``[name, state]``
and an ``ok`` bind may carry the state it left in ``extra["state"]``. Values
are the JSON forms of :mod:`pyharness.varstore.lattice`.

A bind is *possible* for a read if it was invoked before the read completed
and did not ``fail`` (``ok``, ``info`` and never-completed binds may all have
happened). The checks, each listed apart in the result:

- ``rebinds``: a single-assignment variable with two different acknowledged
  values (from ``ok`` binds or ``ok`` reads);
- ``unexpected-reads``: a read whose state is not a join of possible binds.
  For any lattice, a state ``R`` is such a join iff ``R`` equals the join of
  the possible binds below it; for single-assignment, iff it was bound. A
  value that only a ``fail``\\ed bind carried counts: ``fail`` promises
  the bind had no effect;
- ``nonmonotonic``: a process saw a variable go down (each ``ok`` read, and
  the state an ``ok`` bind reports, is an observation; one process's
  observations of a variable must only inflate);
- ``lost``: an acknowledged bind not covered by the variable's final read
  (the ``ok`` read that completed last), as in the set checker;
- ``early-reads``: a read that returned before its threshold was met (or,
  for single-assignment, before the variable was bound).

Any of these makes the history invalid. A variable with acknowledged binds
and no ``ok`` read cannot be judged for lost binds: ``"unknown"``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checkers.core import UNKNOWN, Valid, merge_valid
from pyharness.history import FAIL, OK, Op, pairs
from pyharness.varstore.lattice import Lattice, join_all, lattice

MAX_LISTED = 50  # details per check; counts stay exact


@dataclass
class _Bind:
    value: Any
    inv: Op
    comp: Op | None

    @property
    def acked(self) -> bool:
        return self.comp is not None and self.comp.type == OK

    @property
    def failed(self) -> bool:
        return self.comp is not None and self.comp.type == FAIL


@dataclass
class _Read:
    threshold: Any
    state: Any
    inv: Op
    comp: Op


def _where(inv: Op, comp: Op | None) -> dict[str, Any]:
    return {"process": inv.process, "node": inv.node, "invoke-index": inv.index,
            "complete-index": comp.index if comp is not None else None}


class VarStoreChecker:
    name = "varstore"

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        types: dict[str, str] = {}
        binds: dict[str, list[_Bind]] = defaultdict(list)
        reads: dict[str, list[_Read]] = defaultdict(list)
        observations: dict[tuple[Any, str], list[tuple[int, Any, Op]]] = defaultdict(list)
        problems: dict[str, list[dict[str, Any]]] = {
            k: [] for k in ("rebinds", "unexpected-reads", "nonmonotonic", "lost",
                            "early-reads", "malformed")}
        counts: dict[str, int] = dict.fromkeys(problems, 0)

        def flag(kind: str, item: dict[str, Any]) -> None:
            counts[kind] += 1
            if len(problems[kind]) < MAX_LISTED:
                problems[kind].append(item)

        paired = list(pairs(history))
        for inv, _comp in paired:
            if inv.f == "declare":
                name, type_name = inv.value
                types.setdefault(name, type_name)
        for inv, comp in paired:
            if inv.f not in ("bind", "read"):
                continue
            name, arg = inv.value
            if name not in types:
                flag("malformed", {"error": f"{name} was never declared", **_where(inv, comp)})
                continue
            lat = lattice(types[name])
            try:
                if inv.f == "bind":
                    b = _Bind(lat.decode(arg), inv, comp)
                    binds[name].append(b)
                    if b.acked and comp is not None and "state" in comp.extra:
                        observations[(inv.process, name)].append(
                            (comp.index, lat.decode(comp.extra["state"]), comp))
                elif comp is not None and comp.type == OK:
                    threshold = None if arg is None else lat.decode(arg)
                    state = lat.decode(comp.value[1])
                    reads[name].append(_Read(threshold, state, inv, comp))
                    observations[(inv.process, name)].append((comp.index, state, comp))
            except (ValueError, TypeError, IndexError) as e:
                flag("malformed", {"error": str(e), **_where(inv, comp)})

        verdicts: list[Valid] = []
        never_read: list[str] = []
        for name, type_name in sorted(types.items()):
            lat = lattice(type_name)
            self._rebinds(name, lat, binds[name], reads[name], flag)
            self._reads(name, lat, binds[name], reads[name], flag)
            if not self._lost(name, lat, binds[name], reads[name], flag):
                never_read.append(name)
        for (process, name), obs in observations.items():
            lat = lattice(types[name])
            obs.sort(key=lambda o: o[0])
            for (_, a, _op_a), (_, b, op_b) in itertools.pairwise(obs):
                if not lat.leq(a, b):
                    flag("nonmonotonic", {"variable": name, "process": process,
                                          "before": lat.encode(a), "after": lat.encode(b),
                                          "index": op_b.index})

        verdicts.append(not any(counts.values()))
        if never_read:
            verdicts.append(UNKNOWN)
        return {
            "valid?": merge_valid(verdicts),
            "variable-count": len(types),
            "bind-count": sum(len(b) for b in binds.values()),
            "acknowledged-bind-count": sum(b.acked for bs in binds.values() for b in bs),
            "ok-read-count": sum(len(r) for r in reads.values()),
            "never-read": never_read,
            **{f"{k}-count": v for k, v in counts.items()},
            **problems,
        }

    @staticmethod
    def _rebinds(name: str, lat: Lattice, binds: list[_Bind], reads: list[_Read],
                 flag: Any) -> None:
        if lat.name != "single":
            return
        seen: dict[Any, int] = {}
        for b in binds:
            if b.acked and b.comp is not None:
                seen.setdefault(b.value, b.comp.index)
        for r in reads:
            if r.state is not None:
                seen.setdefault(r.state, r.comp.index)
        if len(seen) > 1:
            flag("rebinds", {"variable": name, "values": sorted(seen, key=seen.__getitem__),
                             "first-seen-index": sorted(seen.values())})

    @staticmethod
    def _reads(name: str, lat: Lattice, binds: list[_Bind], reads: list[_Read],
               flag: Any) -> None:
        for r in reads:
            possible = [b.value for b in binds
                        if not b.failed and b.inv.index < r.comp.index]
            below = [v for v in possible if lat.leq(v, r.state)]
            if lat.name == "single":
                explained = r.state is None or r.state in below
            else:
                explained = join_all(lat, below) == r.state
            if not explained:
                flag("unexpected-reads", {"variable": name, "state": lat.encode(r.state),
                                          "possible": [lat.encode(v) for v in possible][:20],
                                          **_where(r.inv, r.comp)})
            unbound_single = lat.name == "single" and r.state is None
            if unbound_single or (r.threshold is not None and not lat.leq(r.threshold, r.state)):
                flag("early-reads", {"variable": name, "state": lat.encode(r.state),
                                     "threshold": None if r.threshold is None
                                     else lat.encode(r.threshold), **_where(r.inv, r.comp)})

    @staticmethod
    def _lost(name: str, lat: Lattice, binds: list[_Bind], reads: list[_Read],
              flag: Any) -> bool:
        """Flag lost binds; False if the variable cannot be judged (acked
        binds, no read)."""
        acked = [b for b in binds if b.acked]
        if not reads:
            return not acked
        final = max(reads, key=lambda r: (r.comp.time, r.comp.index))
        for b in acked:
            if not lat.leq(b.value, final.state):
                flag("lost", {"variable": name, "value": lat.encode(b.value),
                              "final-read": lat.encode(final.state),
                              "final-read-index": final.comp.index, **_where(b.inv, b.comp)})
        return True
