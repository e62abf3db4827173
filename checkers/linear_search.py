"""Searching for a linearization: a frontier of configurations, event by event.

This is Lowe's *just-in-time linearization* (also Knossos's ``linear``
algorithm), with reductions that keep the frontier small.

A *configuration* is what a partial linearization leaves behind:

- the model state it produced;
- ``L``: open (invoked, not yet completed) operations it already linearized;
- ``A``: open operations it may treat as linearized or not, at its choice
  (*optional*, see below);
- ``U``: how many crashed operations of each interchangeable class it used.

Walking the history in order, an invocation changes nothing (the new op is
merely available) and a crashed invocation adds one op to its class's pool.
At the completion of op ``o`` every configuration must have linearized ``o``;
those that have not try every way of linearizing some other open or crashed
operations and then ``o`` (a breadth-first *closure*). Configurations that
cannot are dropped. If none is left, no linearization exists: ``o`` is the op
that cannot be placed. Ops placed after ``o`` are never tried at ``o``'s
completion; they are tried "just in time", at their own completions, so the
work is the history length times the frontier size.

Reductions, each sound because it only removes configurations that another
one *dominates* (can do everything it can):

- *Optional ops.* An open op that could run now without changing the state
  (a read that matches, a write of the value already held) can be slotted in
  at this instant at no cost, so from now on it is optional: it may be
  considered done, or still be placed later with an effect. Likewise a blind
  write (one that sets the state whatever it was) can hide, invisibly, just
  before another blind write; any number of them can, since each is legal in
  every state. (Ops legal only in some states cannot all hide at once: a cas
  that hid changes what the next one sees.) Optional beats both "done"
  and "still to do", which collapses the orders of concurrent writes nobody
  observed: the blow-up that makes Knossos and Porcupine slow with many
  concurrent writers.
- *Crashed ops as counts.* Crashed ops of one class (same function and
  argument) are interchangeable and available forever after invocation. A
  configuration with the same state, same open-op statuses and fewer crashed
  ops used dominates. Placing a crashed op that does not change the state is
  never useful.

Budgets: a deadline and a cap on configurations held at once (frontier plus
closure). Exceeding either gives the verdict ``"unknown"`` with a reason,
never an unbounded run. A search its deadline stopped can :meth:`Search.resume`
with a later one: it carries on from the event it was at, with the same
frontier, so cutting a key's search into turns costs no repeated work.

*In competition.* A key whose frontier grows large also gets the
depth-first search of :mod:`checkers.linear_dfs`, on its own core where it
can (:mod:`checkers.linear_rival`), and the first definite answer wins
(Knossos runs its two algorithms the same way). Each is fast where the
other stalls: many concurrent state-dependent writes (appends) blow up this
frontier, while many crashed ops blow up the depth-first search. Easy keys
never pay for it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Literal

from checkers.linear_dfs import DepthFirst
from checkers.linear_prep import CLOSE, CRASH, OPEN, Problem
from checkers.linear_rival import Outcome, Rival
from checkers.models import Call, Model

Verdict = bool | Literal["unknown"]

# A path is a linked list of cells, newest first, shared between configurations:
# (entry id or -1, (ops hidden before it, ops made no-op after it: bit masks, and the
# bit -> entry map to read them) or None, entries made optional, parent, depth)
Path = tuple[int, Any, tuple[int, ...] | None, Any, int] | None

DEFAULT_MAX_CONFIGS = 500_000
_MEMO_MAX = 500_000  # steps remembered; states may be long strings (kv)
# A key also gets the depth-first search once it took this long and its
# frontier (or one closure) grew past RIVAL_CONFIGS: a long history with a
# small frontier is going well, and sharing its time would only slow it down.
RIVAL_AFTER_S = 0.05
RIVAL_CONFIGS = 1024
# Nor in a turn shorter than this: a rival starts afresh in each turn, and the
# short first turns of a key's search (checkers.linearizable) would only
# pay for forks whose work is thrown away.
RIVAL_MIN_TURN_S = 0.25


TIME_LIMIT = "time limit reached"


class Abort(Exception):
    """A budget ran out; carries the reason."""


@dataclass
class _Suspended:
    """Where a search its deadline stopped stands: event ``n`` is still to do."""

    n: int
    frontier: Frontier
    slot_of: dict[int, int]
    free_bits: list[int]
    next_bit: int
    open_list: list[tuple[int, int]]
    avail: list[int]
    closing: tuple[int, int] | None = None  # (entry, bit) while its completion is searched


class _Decided(Exception):
    """The depth-first rival reached a verdict first."""

    def __init__(self, result: SearchResult) -> None:
        super().__init__()
        self.result = result


@dataclass
class SearchResult:
    valid: Verdict
    reason: str | None = None
    failed_entry: int | None = None
    previous_states: list[Any] = field(default_factory=list)
    reachable_states: list[Any] = field(default_factory=list)
    prefix: list[int] = field(default_factory=list)  # entry ids, in linearization order
    max_frontier: int = 0
    explored: int = 0
    timed_out: bool = False  # unknown because the deadline came, not a memory bound


# U packs one 16-bit counter per crashed class; bit 15 of each is a guard bit, so
# "every counter of a <= its counter in b" is one subtraction: no field borrows
# iff ((b | H) - a) & H == H, where H holds the guard bits.
FIELD = 16
MAX_COUNT = (1 << (FIELD - 1)) - 1

Config = tuple[int, int, int, Path]  # L, A, U, path
Frontier = dict[Hashable, list[Config]]


def _insert(front: Frontier, s: Hashable, L: int, A: int, U: int, path: Path, H: int) -> bool:
    """Add a configuration unless one already held dominates it; drop those it dominates.

    ``c1`` dominates ``c2`` (same state) when every open op is as free in c1
    as in c2 (optional beats done and to-do) and c1 used no more crashed ops.
    """
    lst = front.get(s)
    if lst is None:
        front[s] = [(L, A, U, path)]
        return True
    LA = L | A
    for L2, A2, U2, _ in lst:
        if (not (L2 & ~L) and not (LA & ~(L2 | A2))
                and (U2 == U or ((U | H) - U2) & H == H)):
            return False
    keep = [c for c in lst
            if (L & ~c[0]) or ((c[0] | c[1]) & ~LA) or ((c[2] | H) - U) & H != H]
    keep.append((L, A, U, path))
    front[s] = keep
    return True


def _size(front: Frontier) -> int:
    return sum(map(len, front.values()))


class Search:
    """One key's search. Construct, then :meth:`run`."""

    def __init__(self, model: Model, problem: Problem, deadline: float | None = None,
                 max_configs: int = DEFAULT_MAX_CONFIGS) -> None:
        self.model = model
        self.problem = problem
        self.deadline = deadline
        self.max_configs = max_configs
        self.calls: list[Call] = []
        cids: dict[Call, int] = {}
        self.cid: list[int] = []
        # crashed ops: one class per distinct call; instances in invocation order
        self.crash_class: dict[int, int] = {}
        self.class_cid: list[int] = []
        self.class_blind: list[bool] = []
        self.class_instances: list[list[int]] = []
        crash_ix: dict[Call, int] = {}
        for e in problem.entries:
            c = cids.get(e.call)
            if c is None:
                c = cids[e.call] = len(self.calls)
                self.calls.append(e.call)
            self.cid.append(c)
            if e.crashed:
                k = crash_ix.get(e.call)
                if k is None:
                    k = crash_ix[e.call] = len(self.class_cid)
                    self.class_cid.append(c)
                    self.class_blind.append(model.blind(e.call))
                    self.class_instances.append([])
                self.class_instances[k].append(e.id)
                self.crash_class[e.id] = k
        self.ro = [model.read_only(e.call) for e in problem.entries]
        self.bl = [model.blind(e.call) for e in problem.entries]
        self.memo: dict[tuple[Hashable, int], tuple[Hashable, ...]] = {}
        self.H = sum(1 << (FIELD * k + FIELD - 1) for k in range(len(self.class_cid)))

        self.max_frontier = 0
        self.explored = 0
        self.on_frontier: Callable[[int, Frontier], None] | None = None  # for studies
        self.on_progress: Callable[[int], None] | None = None  # events done so far
        self.rival: Rival | None = None
        self.rival_after_s = RIVAL_AFTER_S  # None: never start it
        self.rival_forked: bool | None = None  # None: in a child process where fork exists
        self._started = 0.0
        self._turn = 0.0  # when this search's current turn began
        self._spent = 0.0  # seconds of its earlier turns
        self._turn_s = 0.0  # how long this turn may take (inf: no deadline)
        self._suspended: _Suspended | None = None

    # -- model steps, memoized: histories repeat the same few calls and states
    def step(self, s: Hashable, c: int) -> tuple[Hashable, ...]:
        k = (s, c)
        r = self.memo.get(k)
        if r is None:
            if len(self.memo) > _MEMO_MAX:
                self.memo.clear()
            r = self.memo[k] = tuple(self.model.step(s, self.calls[c]))
        return r

    def _check_time(self, crowded: bool = False) -> None:
        now = time.monotonic()
        if self.deadline is not None and now > self.deadline:
            # A verdict the rival already sent still counts.
            if self.rival is not None:
                out = self.rival.turn(0.0)
                if out is not None and out.verdict is not None:
                    raise _Decided(self._rival_result(out))
            raise Abort(TIME_LIMIT)
        if self.rival is None:
            if self.rival_after_s is None or self._turn_s < RIVAL_MIN_TURN_S \
                    or self._spent + now - self._started < self.rival_after_s \
                    or not (crowded or self.max_frontier >= RIVAL_CONFIGS):
                return
            self._start_rival()
        rival = self.rival
        assert rival is not None
        if rival.gave_up is not None:
            return
        # In turns (without fork): equal ones.
        out = rival.turn(now - self._turn)
        self._turn = time.monotonic()
        if out is not None and out.verdict is not None:
            raise _Decided(self._rival_result(out))

    def _start_rival(self) -> None:
        dfs = DepthFirst(self.problem, self.model.init(), self.step, self.cid)
        self.rival = Rival(dfs, self.deadline, self.rival_forked)

    def _rival_result(self, out: Outcome) -> SearchResult:
        explored = self.explored + out.steps
        if out.verdict:
            return SearchResult(True, max_frontier=self.max_frontier, explored=explored)
        assert out.failure is not None
        eid, states, prefix = out.failure
        return SearchResult(False, failed_entry=eid, previous_states=states,
                            reachable_states=states, prefix=prefix,
                            max_frontier=self.max_frontier, explored=explored)

    @property
    def resumable(self) -> bool:
        """Its deadline stopped it, and :meth:`resume` carries on where it was."""
        return self._suspended is not None

    def held(self) -> int:
        """What a stopped search keeps: configurations and remembered steps."""
        s = self._suspended
        return len(self.memo) + (0 if s is None else _size(s.frontier))

    def resume(self, deadline: float | None) -> SearchResult:
        """Carry on a search its deadline stopped, until ``deadline``: the
        frontier goes on from the event it was at (the depth-first rival, if
        it comes, starts afresh)."""
        assert self._suspended is not None, "only a search its deadline stopped resumes"
        self.deadline = deadline
        if self.rival is not None:
            self.rival.close()
            self.rival = None
        return self.run()

    def run(self) -> SearchResult:
        self._started = self._turn = time.monotonic()
        self._turn_s = float("inf") if self.deadline is None else self.deadline - self._started
        try:
            try:
                return self._run()
            except _Decided as d:
                self._suspended = None
                return d.result
            except Abort as e:
                why = str(e)
            # Out of the except clause: the frontier's frames (held by the
            # traceback) are freed before the rival may run on alone.
            return self._aborted(why)
        finally:
            self._spent += time.monotonic() - self._started
            if self.rival is not None:
                self.rival.close()

    def _aborted(self, why: str) -> SearchResult:
        timed_out = why == TIME_LIMIT
        if not timed_out:
            # The frontier ran out of room; the depth-first search may still answer.
            if self.rival is None and self.rival_after_s is not None:
                self._start_rival()
            if self.rival is not None:
                out = self.rival.finish()
                if out.verdict is not None:
                    return self._rival_result(out)
                timed_out = out.gave_up == TIME_LIMIT
                if not timed_out:
                    why += f"; the depth-first search gave up: {out.gave_up}"
        return SearchResult("unknown", reason=why, max_frontier=self.max_frontier,
                            explored=self.explored, timed_out=timed_out)

    def _noops(self, s: Hashable, open_list: list[tuple[int, int]]) -> int:
        m = 0
        for bit, x in open_list:
            if self.step(s, self.cid[x]) == (s,):
                m |= bit
        return m

    def _run(self) -> SearchResult:
        sus, self._suspended = self._suspended, None
        if sus is None:
            sus = _Suspended(0, {self.model.init(): [(0, 0, 0, None)]}, {}, [], 1, [],
                             [0] * len(self.class_cid))
        try:
            return self._events(sus)
        except Abort as e:
            if str(e) == TIME_LIMIT:
                # Event sus.n is still to do, on the frontier as it was before
                # it: a completion's closure builds new configurations and
                # never touches the frontier; only the op's bit is given back.
                if sus.closing is not None:
                    eid, bit = sus.closing
                    sus.slot_of[eid] = bit
                    sus.closing = None
                self._suspended = sus
            raise

    def _events(self, sus: _Suspended) -> SearchResult:
        """The events from ``sus.n`` on; ``sus`` follows, so a stop can resume."""
        step, cid, H = self.step, self.cid, self.H
        # slot_of: open entry id -> bit; open_list: (bit, entry id); avail: crashed
        # ops of each class invoked so far. Mutated in place.
        frontier, slot_of, free_bits = sus.frontier, sus.slot_of, sus.free_bits
        next_bit, open_list, avail = sus.next_bit, sus.open_list, sus.avail
        events = self.problem.events
        for n in range(sus.n, len(events)):
            kind, eid = events[n]
            sus.n = n
            if n & 255 == 0:
                self._check_time()
                if self.on_progress is not None:
                    self.on_progress(n)
            if kind == CRASH:
                k = self.crash_class[eid]
                avail[k] += 1
                if avail[k] > MAX_COUNT:
                    raise Abort(f"more than {MAX_COUNT} crashed ops of one kind")
                continue
            if kind == OPEN:
                if free_bits:
                    bit = free_bits.pop()
                else:
                    bit, next_bit = next_bit, next_bit << 1
                    sus.next_bit = next_bit
                slot_of[eid] = bit
                open_list.append((bit, eid))
                c = cid[eid]
                for s, lst in frontier.items():
                    # a config whose state lets the new op run as a no-op gets it as optional
                    if step(s, c) == (s,):
                        frontier[s] = [(L, A | bit, U, (-1, None, (eid,), p, _depth(p) + 1))
                                       for L, A, U, p in lst]
                continue
            assert kind == CLOSE
            bit = slot_of.pop(eid)
            sus.closing = (eid, bit)
            new: Frontier = {}
            todo: list[tuple[Hashable, int, int, int, Path]] = []
            effect = not self.ro[eid]
            for s, lst in frontier.items():
                for L, A, U, p in lst:
                    if L & bit:
                        _insert(new, s, L & ~bit, A, U, p, H)
                    elif A & bit:
                        # optional: either it hid earlier, or it takes effect now
                        _insert(new, s, L, A & ~bit, U, p, H)
                        if effect:
                            todo.append((s, L, A & ~bit, U, p))
                    else:
                        todo.append((s, L, A, U, p))
            seen: Frontier = {}
            if todo:
                seen = self._closure(todo, bit, eid, open_list, avail, new)
            if not new:
                return self._failure(eid, frontier, seen)
            open_list.remove((bit, eid))
            free_bits.append(bit)
            frontier = sus.frontier = new
            sus.closing = None
            if self.on_frontier is not None:
                self.on_frontier(n, frontier)
            size = _size(frontier)
            if size > self.max_frontier:
                self.max_frontier = size
        return SearchResult(True, max_frontier=self.max_frontier, explored=self.explored)

    def _closure(self, todo: list[tuple[Hashable, int, int, int, Path]], target: int,
                 target_eid: int, open_list: list[tuple[int, int]], avail: list[int],
                 new: Frontier) -> Frontier:
        """Extend configs lacking ``target`` until they linearize it; results go to ``new``."""
        step, cid, ro, bl, H = self.step, self.cid, self.ro, self.bl, self.H
        seen: Frontier = {}
        queue: deque[tuple[Hashable, int, int, int, Path, bool]] = deque()
        for cfg in todo:
            if _insert(seen, *cfg, H):
                queue.append((*cfg, False))
        budget = self.max_configs - _size(new)
        held = len(queue)
        n = 0
        target_effect = not ro[target_eid]
        moves = [(bit, x, cid[x], bl[x]) for bit, x in open_list if not ro[x]]
        blind_mask = 0
        for bit, x in open_list:
            if bl[x]:
                blind_mask |= bit
        slots = dict(open_list)  # for paths: bit -> entry, fixed during this closure
        noop: dict[Hashable, int] = {}  # state -> open ops that are no-ops there
        crash = [(k, self.class_cid[k], FIELD * k, self.class_blind[k], self.class_instances[k])
                 for k in range(len(avail)) if avail[k]]

        def emit(s2: Hashable, L2: int, A2: int, U2: int, p: Path, x: int, blind: bool,
                 crashed: bool) -> None:
            nonlocal held
            # other blind writes can hide just before a blind write, in any number
            before = blind_mask & ~(L2 | A2) if blind else 0
            A2 |= before
            after = noop.get(s2)
            if after is None:
                after = noop[s2] = self._noops(s2, open_list)
            after &= ~(L2 | A2)  # ops that are no-ops in the new state
            A2 |= after
            p2 = (x, (before, after, slots) if before or after else None, None, p,
                  _depth(p) + 1 + (before | after).bit_count())
            if (L2 | A2) & target:
                _insert(new, s2, L2 & ~target, A2 & ~target, U2, p2, H)
                if L2 & target or not target_effect:
                    return
                # it hid on the way; placing it with effect later is another option
                A2 &= ~target
            if _insert(seen, s2, L2, A2, U2, p2, H):
                # a crashed op nobody observed yet: only a state-dependent op may follow
                queue.append((s2, L2, A2, U2, p2, crashed and not (after & ~target)))
                held += 1
                if held > budget:
                    raise Abort(f"more than {self.max_configs} configurations")

        while queue:
            s, L, A, U, p, fresh = queue.popleft()
            n += 1
            if n & 1023 == 0:
                self._check_time(crowded=True)
            for bit, x, c, blind in moves:
                if L & bit or (fresh and blind):
                    continue
                for s2 in step(s, c):
                    emit(s2, L | bit, A & ~bit, U, p, x, blind, False)
            for k, c, shift, blind, instances in crash:
                used = (U >> shift) & 0xFFFF
                if used >= avail[k] or (fresh and blind):
                    continue
                for s2 in step(s, c):
                    if s2 != s:
                        # no hiding before a crashed write: it is placed only to be observed
                        emit(s2, L, A, U + (1 << shift), p, instances[used], False, True)
        self.explored += n
        return seen

    def _failure(self, eid: int, frontier: Frontier, seen: Frontier) -> SearchResult:
        best: Path = None
        for front in (frontier, seen):
            for lst in front.values():
                for _, _, _, p in lst:
                    if _depth(p) > _depth(best):
                        best = p
        cut = self.problem.entries[eid].comp_pos
        done = {e.id for e in self.problem.entries if 0 <= e.comp_pos < cut and not e.crashed}
        return SearchResult(
            False,
            failed_entry=eid,
            previous_states=list(frontier),
            reachable_states=list(dict.fromkeys([*frontier, *seen])),
            prefix=linear_order(best, done),
            max_frontier=self.max_frontier,
            explored=self.explored,
        )


def _depth(p: Path) -> int:
    return 0 if p is None else p[4]


def linear_order(path: Path, done: set[int]) -> list[int]:
    """Entry ids in linearization order along ``path``.

    An op placed with an effect sits where it was placed; an op only ever
    optional sits where it became optional, and counts only if ``done`` (it
    completed, so the path did treat it as linearized).
    """
    cells = []
    while path is not None:
        cells.append(path)
        path = path[3]
    seq: list[tuple[int, bool]] = []  # (entry, placed with effect)
    for x, masks, after, _, _ in reversed(cells):
        if masks is not None:  # (hidden-before mask, no-op-after mask, bit -> entry)
            bmask, amask, slots = masks
            seq.extend((y, False) for b, y in slots.items() if bmask & b)
            if x >= 0:
                seq.append((x, True))
            seq.extend((y, False) for b, y in slots.items() if amask & b)
            continue
        if x >= 0:
            seq.append((x, True))
        seq.extend((y, False) for y in after or ())
    placed = {x for x, eff in seq if eff}
    out: list[int] = []
    seen: set[int] = set()
    for x, eff in seq:
        if x in seen:
            continue
        if eff or (x not in placed and x in done):
            seen.add(x)
            out.append(x)
    return out
