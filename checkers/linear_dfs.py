"""The second search: depth first over the history, with a cache (Wing & Gong, Lowe).

This is the algorithm Porcupine runs. The history is a doubly linked list of
call and return entries in time order. The search walks it from the front:

- at a *call*, it tries to linearize that op now: if the model accepts it and
  the pair (set of linearized ops, new state) was never reached before, the
  op is taken out of the list (its call and its return), pushed on a stack,
  and the walk restarts from the front;
- at a *return* whose op is not yet linearized, the ops taken so far cannot
  be right: the last one is put back, and the walk goes on after it.

It succeeds when every op that completed is linearized, and fails when it has
to put back an op with nothing left on the stack. The cache makes it visit
each (linearized set, state) pair once, so it never repeats work, but it may
visit many: it is quick when the history is linearizable with few choices, or
when a violation shows early, and hopeless when many crashed ops may each go
anywhere. The frontier search (:mod:`checkers.linear_search`) is strong where
this one is weak, and the reverse: with 50 concurrent appends the frontier holds
every order of them, while this search commits to one order and keeps it
unless a later read refutes it. :class:`checkers.linear_search.Search` runs
them in competition, as Knossos does, and takes the first definite answer.

A crashed op (no completion) may take effect at any time after its call, or
never: its return sits after everything else, and it never has to be
linearized. The model's steps come from the frontier search (memoized there),
so the two never disagree on what an op does.

Memory is bounded: when the cache would take more than ``max_bytes``, this
search gives up and leaves the verdict to the other.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable
from typing import Any

from checkers.linear_prep import CLOSE, CRASH, OPEN, Problem

# A stack cell: (entry id, state before it, its possible next states, the one
# taken, parent cell); a linked list, so that keeping the deepest stack is free.
Cell = tuple[int, Hashable, tuple[Hashable, ...], int, Any] | None

DEFAULT_MAX_BYTES = 200_000_000  # of cache: linearized sets, states, ~120 B an entry


class DepthFirst:
    """One key's depth-first search, run in slices by :meth:`advance`."""

    def __init__(self, problem: Problem, init: Hashable,
                 step: Callable[[Hashable, int], tuple[Hashable, ...]], cid: list[int],
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.step = step
        self.cid = cid
        self.max_bytes = max_bytes
        entries = problem.entries
        self.crashed = [e.crashed for e in entries]
        n = len(entries)
        # Nodes 0..n-1 are calls, n..2n-1 returns, 2n the head. Crashed ops'
        # returns go after everything else.
        order: list[int] = []
        late: list[int] = []
        for kind, eid in problem.events:
            if kind == OPEN:
                order.append(eid)
            elif kind == CLOSE:
                order.append(n + eid)
            elif kind == CRASH:
                order.append(eid)
                late.append(n + eid)
        order += late
        self.n = n
        self.head = 2 * n
        self.nxt = [-1] * (2 * n + 1)
        self.prv = [-1] * (2 * n + 1)
        last = self.head
        for node in order:
            self.nxt[last] = node
            self.prv[node] = last
            last = node
        self.cur = self.nxt[self.head]
        self.state = init
        self.lin = 0  # linearized entries, a bit each
        self.left = sum(1 for c in self.crashed if not c)  # completed ops still to place
        self.stack: Cell = None
        self.depth = 0
        self.cache: set[tuple[int, Hashable]] = set()
        self.bytes = 0
        self.steps = 0
        self.gave_up: str | None = None
        # the deepest place it got stuck: (depth, blocking entry, stack, states there)
        self.best: tuple[int, int, Cell, list[Hashable]] | None = None

    def _lift(self, eid: int) -> None:
        nxt, prv = self.nxt, self.prv
        for node in (eid, self.n + eid):
            a, b = prv[node], nxt[node]
            nxt[a] = b
            if b >= 0:
                prv[b] = a

    def _unlift(self, eid: int) -> None:
        nxt, prv = self.nxt, self.prv
        for node in (self.n + eid, eid):
            a, b = prv[node], nxt[node]
            nxt[a] = node
            if b >= 0:
                prv[b] = node

    def _take(self, eid: int, alts: tuple[Hashable, ...], start: int) -> bool:
        """Linearize ``eid`` into the first of ``alts[start:]`` not seen before."""
        lin = self.lin | (1 << eid)
        for j in range(start, len(alts)):
            key = (lin, alts[j])
            if key in self.cache:
                continue
            self.cache.add(key)
            self.bytes += (lin.bit_length() >> 3) + 120 + sys.getsizeof(alts[j])
            self.stack = (eid, self.state, alts, j, self.stack)
            self.depth += 1
            self.state = alts[j]
            self.lin = lin
            self.left -= not self.crashed[eid]
            self._lift(eid)
            self.cur = self.nxt[self.head]
            return True
        return False

    def advance(self, budget: int) -> bool | None:
        """Run at most ``budget`` steps: True (linearizable), False (not), or
        None (not decided yet, or given up: see ``gave_up``)."""
        if self.gave_up is not None:
            return None
        n, nxt, step, cid = self.n, self.nxt, self.step, self.cid
        for i in range(budget):
            if self.left == 0:
                self.steps += i
                return True
            if self.bytes > self.max_bytes:
                self.gave_up = f"its cache passed {self.max_bytes // 1_000_000} MB"
                self.cache.clear()
                self.steps += i
                return None
            node = self.cur
            if node < n:  # a call: linearize it here if that is new
                if not self._take(node, step(self.state, cid[node]), 0):
                    self.cur = nxt[node]
                continue
            # a return whose op is still in the list: undo the last choice
            blocked = node - n
            self._note_block(blocked)
            if self.stack is None:
                self.steps += i
                return False
            eid, prev, alts, j, parent = self.stack
            self.stack = parent
            self.depth -= 1
            self.state = prev
            self.lin &= ~(1 << eid)
            self.left += not self.crashed[eid]
            self._unlift(eid)
            if not self._take(eid, alts, j + 1):
                self.cur = nxt[eid]
        self.steps += budget
        return None

    def decide(self, max_steps: int, slice_steps: int = 10_000) -> bool | None:
        """Run alone for at most about ``max_steps``: the verdict, or None."""
        while self.steps < max_steps and self.gave_up is None:
            verdict = self.advance(slice_steps)
            if verdict is not None:
                return verdict
        return None

    def _note_block(self, eid: int) -> None:
        best = self.best
        if best is None or self.depth > best[0]:
            self.best = (self.depth, eid, self.stack, [self.state])
        elif self.depth == best[0] and eid == best[1] and len(best[3]) < 16 \
                and self.state not in best[3]:
            best[3].append(self.state)

    def failure(self) -> tuple[int, list[Hashable], list[int]]:
        """Where it got stuck deepest: (the op it could not place, the states it
        was tried in, the ops linearized before it, in order)."""
        assert self.best is not None
        _, eid, cell, states = self.best
        prefix: list[int] = []
        while cell is not None:
            prefix.append(cell[0])
            cell = cell[4]
        prefix.reverse()
        return eid, states, prefix
