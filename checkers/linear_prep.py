"""From a history to linearizability problems, one per key.

A history interleaves invocations and completions of many processes. Before
searching for a linearization we turn it into *entries* (one per logical
operation) and *events* (when each entry opens and closes), per key:

- An ``ok`` operation must take effect between its invocation and completion:
  an entry with an ``open`` and a ``close`` event.
- A ``fail`` operation did not happen and is dropped, unless the source says
  a failure is a *definite answer* (Porcupine's reading of etcd: a failed
  compare-and-set found another value). Then it is placed like an ok op and
  the model checks its answer.
- An ``info`` operation, or one still open when the history ends, *crashed*:
  it may take effect at any moment after its invocation, or never. It gets
  only a ``crash`` event. Crashed operations with the same function and
  argument are interchangeable, so the search counts them by class instead of
  tracking each; crashed operations that cannot change the state (reads) are
  dropped, since placing them or not changes nothing.

Keys are independent (P-compositionality: a history is linearizable iff each
key's sub-history is), so each key is checked alone. Keys come from Jepsen's
independent tuples (``value = [key, v]``) or from a ``key`` field (Porcupine's
kv histories).
"""

from __future__ import annotations

import gc
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from checkers.models import Call, Model, freeze
from pyharness.history import FAIL, INFO, INVOKE, NEMESIS, OK, Op

Independent = Literal["tuple", "key"] | None

OPEN, CLOSE, CRASH = 0, 1, 2


@dataclass(slots=True)
class Entry:
    """One logical operation of one key."""

    id: int
    call: Call
    process: Any
    invoke: Op
    complete: Op | None
    crashed: bool
    inv_pos: int  # positions in the history given to the checker
    comp_pos: int  # -1 when it never completed

    @property
    def index(self) -> int:
        return self.invoke.index


@dataclass
class Problem:
    """One key's entries and events, in history order."""

    key: Hashable
    entries: list[Entry] = field(default_factory=list)
    events: list[tuple[int, int]] = field(default_factory=list)  # (kind, entry id)
    dropped: int = 0


def split_value(op: Op, independent: Independent) -> tuple[Hashable, Any]:
    """(key, value) of an op; key None when the history is not keyed."""
    if independent == "tuple":
        v = op.value
        if isinstance(v, list | tuple) and len(v) == 2:
            return freeze(v[0]), v[1]
        return None, v
    if independent == "key":
        return freeze(op.extra.get("key")), op.value
    return None, op.value


def first_bad_value(history: Sequence[Op], model: Model,
                    independent: Independent = None) -> tuple[int, str] | None:
    """(position, what was expected) of the first client op whose value (or key)
    the model cannot take, e.g. a cas whose value is not ``[old new]``."""
    for pos, op in enumerate(history):
        if not op.is_client or op.f not in model.fs:
            continue
        try:
            key, value = split_value(op, independent)
            hash(key)
        except TypeError:
            return pos, f"expected a key the model can compare, got {op.extra.get('key')!r}"
        problem = model.value_problem(op.f, op.type, value)
        if problem is not None:
            return pos, problem
    return None


def prepare(history: Sequence[Op], model: Model, *, definite_fail: bool = False,
            independent: Independent = None) -> tuple[dict[Hashable, Problem], int]:
    """Split ``history`` into per-key problems; also return how many client ops
    were ignored because the model has no such function."""
    # As in reading, no reference cycles are made here: the cyclic collector
    # would only walk the history again and again (a fifth of the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _prepare(history, model, definite_fail, independent)
    finally:
        if collecting:
            gc.enable()


def _prepare(history: Sequence[Op], model: Model, definite_fail: bool,
             independent: Independent) -> tuple[dict[Hashable, Problem], int]:
    problems: dict[Hashable, Problem] = {}
    # (key, argument, invocation, position of invocation) for each open op, by process
    open_: dict[Any, tuple[Hashable, Any, Op, int]] = {}
    ignored = 0
    fs = model.fs
    keyed = independent is not None
    # Each history position holds at most one event (an invocation opens or
    # crashes, a completion closes), so events land in history order by
    # position, with no sort: (key, kind, entry id) at ``at[pos]``.
    at: list[tuple[Hashable, int, int] | None] = [None] * len(history)

    def place(ipos: int, cpos: int, key: Hashable, inv: Op, comp: Op | None,
              arg: Any, ret: Any) -> None:
        prob = problems.get(key)
        if prob is None:
            prob = problems[key] = Problem(key)
        status = comp.type if comp is not None else INFO
        if status == FAIL and not definite_fail:
            prob.dropped += 1
            return
        if status != OK and status != FAIL:
            status = INFO
        call = Call(inv.f, freeze(arg), freeze(ret) if status == OK else None, status)
        crashed = status == INFO
        if crashed and model.read_only(call):
            prob.dropped += 1
            return
        entries = prob.entries
        eid = len(entries)
        entries.append(Entry(eid, call, inv.process, inv, comp, crashed, ipos,
                             cpos if comp is not None else -1))
        if crashed:
            at[ipos] = (key, CRASH, eid)
        else:
            at[ipos] = (key, OPEN, eid)
            at[cpos] = (key, CLOSE, eid)

    for pos, op in enumerate(history):
        if op.process == NEMESIS:
            continue
        if op.f not in fs:
            ignored += op.type == INVOKE
            continue
        if op.type == INVOKE:
            prev = open_.pop(op.process, None)
            if prev is not None:  # the process moved on without an answer: crashed
                place(prev[3], -1, prev[0], prev[2], None, prev[1], None)
            if keyed:
                key, arg = split_value(op, independent)
            else:
                key, arg = None, op.value
            open_[op.process] = (key, arg, op, pos)
            continue
        started = open_.pop(op.process, None)
        if started is None:
            continue  # a completion without invocation (e.g. history cut): nothing to place
        key, arg, inv, ipos = started
        place(ipos, pos, key, inv, op, arg, split_value(op, independent)[1] if keyed else op.value)
    for key, arg, inv, ipos in open_.values():
        place(ipos, -1, key, inv, None, arg, None)

    if len(problems) == 1:
        (prob,) = problems.values()
        prob.events = [(kind, eid) for _, kind, eid in filter(None, at)]
    else:
        for key, kind, eid in filter(None, at):
            problems[key].events.append((kind, eid))
    return problems, ignored
