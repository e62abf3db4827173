"""Is a concurrent history explained by the sequential model?

This is the check behind QuickCheck's ``parallel_commands``: run commands
from several processes at once, then search for *one* sequential order of
them that (1) respects real time: if op A completed before op B was invoked,
A comes first; and (2) gives, op by op, the outcomes the store reported when
run on :class:`~pyharness.varstore.model.Model`. If no such order exists the
store is not linearizable to the model, and the history is the proof.

The search is a depth-first walk over "which ops are done" with the model
state, memoised on both, as in Knossos/Porcupine but small: the histories
quickcheck makes have a few dozen ops. Ops of unknown outcome (``info``, or
no completion) may have taken effect or not; the search tries both. A read
that failed (it timed out, or etcd refused it) constrains nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyharness.history import FAIL, OK, Op, pairs
from pyharness.varstore.lattice import lattice
from pyharness.varstore.model import Model, Outcome

MAX_STATES = 200_000  # bound on the search; past it the answer is "unknown"


@dataclass(frozen=True)
class _Entry:
    inv: Op
    comp: Op | None
    start: int  # history index of the invocation
    end: float  # history index of the completion (inf if none)


class SearchTooLarge(RuntimeError):
    pass


def _step(model: Model, e: _Entry) -> list[Model]:
    """Models after linearizing ``e`` now; empty if its outcome can't happen."""
    inv, comp = e.inv, e.comp
    name, arg = inv.value
    type_name = inv.value[1] if inv.f == "declare" else model.type_of(name)
    if type_name is None:
        want = Outcome(False, error="not-declared")
        return [model] if comp is not None and comp.type == FAIL and comp.error == want.error \
            else []
    decoded = None if inv.f == "declare" or arg is None else lattice(type_name).decode(arg)
    if inv.f == "read":
        if comp is None or comp.type != OK:
            return [model]
        exp = model.read(name, decoded)
        got = lattice(type_name).decode(comp.value[1])
        return [model] if exp.ok and exp.value == got else []
    if inv.f == "declare":
        exp, nxt = model.declare(name, type_name)
    else:
        exp, nxt = model.bind(name, decoded)
    if comp is None or comp.type not in (OK, FAIL):
        return [nxt, model] if exp.ok else [model]  # unknown: happened or not
    if comp.type == FAIL:
        # A refusal the model makes must be the model's; a lost CAS race or
        # a definite etcd error (a list from classify) just had no effect.
        if not isinstance(comp.error, str) or comp.error in ("too-many-conflicts",
                                                              "unavailable"):
            return [model]
        return [model] if comp.error == exp.error else []
    if not exp.ok:
        return []
    if inv.f == "bind" and "state" in comp.extra:
        got = lattice(type_name).decode(comp.extra["state"])
        if got != exp.value:
            return []
    return [nxt]


def linearize(history: Sequence[Op], model: Model | None = None) -> list[Op] | None:
    """A sequential order of the client invocations that the model explains,
    or None if there is none. Raises SearchTooLarge past ``MAX_STATES``."""
    entries = [
        _Entry(inv, comp, inv.index, comp.index if comp is not None else float("inf"))
        for inv, comp in pairs(history)
    ]
    n = len(entries)
    full = (1 << n) - 1
    seen: set[tuple[int, str]] = set()

    def dfs(done: int, m: Model) -> list[int] | None:
        if done == full:
            return []
        key = (done, m.key())
        if key in seen:
            return None
        if len(seen) >= MAX_STATES:
            raise SearchTooLarge(f"more than {MAX_STATES} states")
        seen.add(key)
        pending = [i for i in range(n) if not done >> i & 1]
        horizon = min(entries[i].end for i in pending)
        for i in pending:
            if entries[i].start > horizon:
                continue  # some pending op completed before this one began
            for nxt in _step(m, entries[i]):
                rest = dfs(done | 1 << i, nxt)
                if rest is not None:
                    return [i, *rest]
        return None

    order = dfs(0, model or Model())
    return None if order is None else [entries[i].inv for i in order]

