"""Generators: what operations to run, when, and on which process.

A generator is an immutable value, as in Jepsen. The interpreter asks it
``op(ctx)`` and gets one of:

- ``None``: the generator is exhausted;
- ``PENDING``: nothing to do right now (e.g. no free process); ask again
  after the next completion;
- ``(op, next_gen)``: an invocation ``Op`` with ``process`` and ``time`` set,
  and the generator to use after dispatching it. If ``op.time`` is in the
  future the interpreter may wait, or ask the *same* generator again later, so
  ``op`` must not change the generator it was called on.

``update(ctx, event)`` returns the generator after an invocation or completion
has happened, so generators can react to results (``until_ok``).

Plain values lift into generators: a ``dict`` is one op (``{"f": "read"}``), a
list is a sequence, a function ``ctx -> dict | None`` is an endless source.
Combinators compose them: ``phases``, ``mix``, ``stagger``, ``limit``,
``time_limit``, ``once``, ``cycle``, ``sleep``, ``until_ok``, and ``clients`` /
``nemesis`` to route ops to client threads or the nemesis.

A *thread* is a worker (``0..concurrency-1`` or ``"nemesis"``); a *process* is
the identity a thread currently runs as. When an op crashes (``info``) its
process can never be used again, so the thread continues as a new process.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Final, Union

from pyharness.history import INVOKE, NEMESIS, OK, Op

NS = 1_000_000_000


class _Pending:
    def __repr__(self) -> str:
        return "PENDING"


PENDING: Final = _Pending()

Thread = int | str
OpResult = Union[None, _Pending, tuple[Op, "Generator"]]  # noqa: UP007 (forward ref)
GenLike = Union["Generator", Mapping[str, Any], Sequence[Any], Callable[..., Any], None]

SLEEP = "sleep"  # an op type the interpreter runs by idling the thread; never recorded
LOG = "log"  # an op type the interpreter logs; never recorded


def pick(rng: random.Random, n: int) -> int:
    """A uniform index below ``n``: ``int(random() * n)`` costs a fifth of
    ``randrange(n)``, and generators draw several an op. (The bias, for any
    ``n`` a generator picks among, is below 2**-40.)"""
    return int(rng.random() * n)


def _ordered(threads: Iterable[Thread]) -> list[Thread]:
    """Client threads in number order, then named ones (the nemesis): the
    order the interpreter created them in, so a seed picks the same thread
    whatever Python's string hashing."""
    try:
        return sorted(threads)  # all numbers, or all names: the common case, one sort
    except TypeError:
        ints = sorted(t for t in threads if isinstance(t, int))
        return ints + sorted(t for t in threads if not isinstance(t, int))


class _Kept(Mapping[Thread, Any]):
    """The part of a mapping whose threads ``keep`` accepts, without a copy."""

    __slots__ = ("_base", "_keep")

    def __init__(self, base: Mapping[Thread, Any], keep: Callable[[Thread], bool]) -> None:
        self._base, self._keep = base, keep

    def __getitem__(self, t: Thread) -> Any:
        if not self._keep(t):
            raise KeyError(t)
        return self._base[t]

    def __contains__(self, t: object) -> bool:
        return t in self._base and self._keep(t)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Thread]:
        return (t for t in self._base if self._keep(t))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _KeptSet(AbstractSet[Thread]):
    """The part of a set of threads that ``keep`` accepts, without a copy."""

    __slots__ = ("_base", "_keep")

    def __init__(self, base: AbstractSet[Thread], keep: Callable[[Thread], bool]) -> None:
        self._base, self._keep = base, keep

    def __contains__(self, t: object) -> bool:
        return t in self._base and self._keep(t)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Thread]:
        return (t for t in self._base if self._keep(t))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _unfiltered(threads: AbstractSet[Thread]) -> AbstractSet[Thread]:
    """The set a restricted view was made from: for a caller that filters by
    its own index anyway, which is cheaper than the view's predicate."""
    while type(threads) is _KeptSet:  # not isinstance: an ABC check costs 10x
        threads = threads._base
    return threads


@dataclass(slots=True)
class Context:
    """What a generator may look at: the time, which threads are free, and
    which process each thread currently runs as.

    The interpreter hands generators *live* views of its own tables rather
    than copies, so that asking for an op costs the same at 500 threads as at
    5: a context is only valid during the ``op`` or ``update`` call it was
    passed to, and a generator must not keep it. ``owners`` (process →
    thread) makes :meth:`thread_of` a lookup; without it, a scan. Contexts
    are not frozen only because a frozen dataclass costs four times as much
    to make, and several are made for every op: treat them as read-only.
    """

    time: int
    free_threads: AbstractSet[Thread]
    workers: Mapping[Thread, int | str]
    rng: random.Random = field(compare=False, default_factory=random.Random)
    owners: Mapping[int | str, Thread] | None = field(compare=False, default=None)

    def all_threads(self) -> list[Thread]:
        return list(self.workers)

    def free_processes(self) -> list[int | str]:
        return [self.workers[t] for t in _ordered(self.free_threads) if t in self.workers]

    def has_free(self) -> bool:
        """Is any thread free? Cheaper than :meth:`some_free_process`: no sort, no draw."""
        workers = self.workers
        if type(workers) is dict:  # the interpreter's and only()'s: a test in C
            return not workers.keys().isdisjoint(self.free_threads)
        return any(t in workers for t in self.free_threads)

    def some_free_process(self) -> int | str | None:
        # Free threads, not all workers: under load only a few are free.
        workers = self.workers
        free = [t for t in _ordered(self.free_threads) if t in workers]
        if not free:
            return None
        n = len(free)
        return workers[free[int(self.rng.random() * n)]] if n > 1 else workers[free[0]]

    def thread_of(self, process: int | str) -> Thread | None:
        if self.owners is not None:
            t = self.owners.get(process)
            return t if t is not None and t in self.workers \
                and self.workers[t] == process else None
        for t, p in self.workers.items():
            if p == process:
                return t
        return None

    def restrict(self, keep: Callable[[Thread], bool]) -> Context:
        # The constructor, not dataclasses.replace: this runs several times an op.
        return Context(self.time, _KeptSet(self.free_threads, keep), _Kept(self.workers, keep),
                       self.rng, self.owners)

    def only(self, threads: Sequence[Thread]) -> Context:
        """Restricted to a few known threads: costs their number, not all."""
        # Test each thread once against the restrictions' predicates, rather
        # than at every lookup through the views: this runs several times an op.
        workers: Mapping[Thread, Any] = self.workers
        keeps: tuple[Callable[[Thread], bool], ...] = ()
        while type(workers) is _Kept:
            keeps += (workers._keep,)
            workers = workers._base
        if type(threads) is not tuple:
            threads = tuple(threads)  # a key of _KEPT
        if keeps:
            # A restriction's predicate depends on the thread alone, so which of
            # a group's threads it keeps is worked out once, not every op.
            ck = (threads, keeps)
            kept = _KEPT.get(ck)
            if kept is None:
                if len(_KEPT) >= _KEPT_MAX:
                    _KEPT.clear()
                kept = _KEPT[ck] = tuple(t for t in threads if all(k(t) for k in keeps))
            threads = kept
        mine = {t: workers[t] for t in threads if t in workers}
        free = _unfiltered(self.free_threads)
        return Context(self.time, frozenset([t for t in mine if t in free]), mine, self.rng,
                       self.owners)


# (threads, restriction predicates) -> the threads kept: see Context.only
_KEPT: dict[tuple[Sequence[Thread], tuple[Callable[[Thread], bool], ...]], tuple[Thread, ...]] = {}
_KEPT_MAX = 4096


class Generator:
    """Base class: subclasses override ``op`` and, if they care, ``update``."""

    def op(self, ctx: Context) -> OpResult:
        raise NotImplementedError

    def update(self, ctx: Context, event: Op) -> Generator:
        return self

    def ignores_updates(self) -> bool:
        """True if ``update`` always returns this generator as it is, so a
        caller may skip it and the context it would build: most op sources
        never look at completions, and this saves work on every op."""
        return type(self).update is Generator.update


def lift(g: GenLike) -> Generator | None:
    """Turn plain values into generators (see the module docstring)."""
    if g is None or isinstance(g, Generator):
        return g
    if isinstance(g, Mapping):
        return OpMap(dict(g))
    if isinstance(g, (list, tuple)):
        return Seq(tuple(lift(x) for x in g))
    if callable(g):
        return Fn(g)
    raise TypeError(f"cannot make a generator from {g!r}")


_OP_FIELDS = frozenset(("f", "value", "type", "process", "time"))


def fill(template: Mapping[str, Any], ctx: Context) -> Op | None:
    """Build an invocation from an op map, on a free process, at ctx.time."""
    get = template.get
    process = get("process")
    if process is None:
        process = ctx.some_free_process()
        if process is None:
            return None
    elif process not in ctx.free_processes():
        return None
    extra = {} if template.keys() <= _OP_FIELDS else \
        {k: v for k, v in template.items() if k not in _OP_FIELDS}
    return Op(get("type", INVOKE), template["f"], get("value"), process,
              get("time", ctx.time), -1, None, None, extra)  # positional: every op


@dataclass(frozen=True)
class OpMap(Generator):
    """A single op, given as a map. Exhausted once emitted."""

    template: Mapping[str, Any]

    def op(self, ctx: Context) -> OpResult:
        op = fill(self.template, ctx)
        if op is None:
            return PENDING
        return op, Void()


@dataclass(frozen=True)
class Void(Generator):
    def op(self, ctx: Context) -> OpResult:
        return None


@dataclass(frozen=True)
class Fn(Generator):
    """An endless generator from ``f(ctx) -> op map | None`` (None ends it).

    ``f`` is called again each time the interpreter asks, so it must be cheap
    and should draw randomness from ``ctx.rng`` to keep runs reproducible."""

    f: Callable[[Context], Mapping[str, Any] | None]

    def op(self, ctx: Context) -> OpResult:
        if not ctx.has_free():
            return PENDING
        template = self.f(ctx)
        if template is None:
            return None
        op = fill(template, ctx)
        return PENDING if op is None else (op, self)


@dataclass(frozen=True)
class Seq(Generator):
    """Each generator in turn, without waiting between them."""

    gens: tuple[Generator | None, ...]

    def op(self, ctx: Context) -> OpResult:
        gens = self.gens
        while gens:
            head = gens[0]
            res = head.op(ctx) if head is not None else None
            if res is None:
                gens = gens[1:]
                continue
            if res is PENDING:
                return PENDING
            op, nxt = res  # type: ignore[misc]
            return op, Seq((nxt, *gens[1:]))
        return None

    def ignores_updates(self) -> bool:
        return not self.gens or self.gens[0] is None or self.gens[0].ignores_updates()

    def update(self, ctx: Context, event: Op) -> Generator:
        if self.ignores_updates():
            return self
        return Seq((self.gens[0].update(ctx, event), *self.gens[1:]))


def seq(*gens: GenLike) -> Generator:
    return Seq(tuple(lift(g) for g in gens))


def once(g: GenLike) -> Generator:
    return limit(1, g)


@dataclass(frozen=True)
class Limit(Generator):
    """At most ``remaining`` ops from ``gen``."""

    remaining: int
    gen: Generator

    def op(self, ctx: Context) -> OpResult:
        if self.remaining <= 0:
            return None
        res = self.gen.op(ctx)
        if res is None or res is PENDING:
            return res
        op, nxt = res  # type: ignore[misc]
        return op, Limit(self.remaining - 1, nxt)

    def update(self, ctx: Context, event: Op) -> Generator:
        if self.gen.ignores_updates():
            return self
        return Limit(self.remaining, self.gen.update(ctx, event))

    def ignores_updates(self) -> bool:
        return self.gen.ignores_updates()


def limit(n: int, g: GenLike) -> Generator:
    gen = lift(g)
    return Limit(n, gen) if gen is not None else Void()


@dataclass(frozen=True)
class Repeat(Generator):
    """Emit ``gen``'s ops forever: ``gen`` restarts from its initial value each
    time it is exhausted (``cycle``). A generator that is exhausted at once
    ends the repeat rather than spinning."""

    initial: Generator
    gen: Generator
    emitted: bool = False

    def op(self, ctx: Context) -> OpResult:
        res = self.gen.op(ctx)
        if res is None:
            if not self.emitted:
                return None
            res = self.initial.op(ctx)
            if res is None or res is PENDING:
                return res
            op, nxt = res  # type: ignore[misc]
            return op, Repeat(self.initial, nxt, True)
        if res is PENDING:
            return PENDING
        op, nxt = res  # type: ignore[misc]
        return op, Repeat(self.initial, nxt, True)

    def update(self, ctx: Context, event: Op) -> Generator:
        if self.gen.ignores_updates():
            return self
        return Repeat(self.initial, self.gen.update(ctx, event), self.emitted)

    def ignores_updates(self) -> bool:
        return self.gen.ignores_updates()


def cycle(g: GenLike) -> Generator:
    gen = lift(g)
    return Repeat(gen, gen) if gen is not None else Void()


def repeat(template: Mapping[str, Any]) -> Generator:
    """The same op map, forever."""
    t = dict(template)
    return Fn(lambda _ctx: t)


@dataclass(frozen=True)
class Mix(Generator):
    """A uniformly random choice among generators, for each op."""

    gens: tuple[Generator, ...]
    # Whether every choice ignores updates, worked out once: asked every op.
    _ignores: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ignores", all(g.ignores_updates() for g in self.gens))

    def op(self, ctx: Context) -> OpResult:
        gens = self.gens
        if not gens:
            return None
        j = int(ctx.rng.random() * len(gens))  # pick(), inlined: every op
        res = gens[j].op(ctx)
        live: list[int] | None = None
        while res is None:  # that choice is exhausted: draw among the others
            if live is None:
                live = list(range(len(gens)))
            live.remove(j)
            if not live:
                return None
            j = live[pick(ctx.rng, len(live))]
            res = gens[j].op(ctx)
        if res is PENDING:
            return PENDING
        op, nxt = res  # type: ignore[misc]
        if nxt is gens[j]:  # an endless source (Fn) is its own next: nothing changed
            return op, self
        return op, Mix((*gens[:j], nxt, *gens[j + 1:]))

    def update(self, ctx: Context, event: Op) -> Generator:
        if self._ignores:
            return self
        return Mix(tuple(g.update(ctx, event) for g in self.gens))

    def ignores_updates(self) -> bool:
        return self._ignores


def mix(*gens: GenLike) -> Generator:
    return Mix(tuple(g for g in (lift(x) for x in gens) if g is not None))


@dataclass(frozen=True)
class Stagger(Generator):
    """Spaces ops by a random interval in [0, 2·dt], so ``dt`` is the mean.

    The schedule is kept across ops (not restarted per op), which is what makes
    ``--rate`` an aggregate rate rather than a per-thread one."""

    dt_ns: int
    gen: Generator
    next_time: int | None = None

    def op(self, ctx: Context) -> OpResult:
        res = self.gen.op(ctx)
        if res is None or res is PENDING:
            return res
        op, nxt = res  # type: ignore[misc]
        due = self.next_time if self.next_time is not None else ctx.time
        t = max(op.time, due)
        op = op.evolve(time=t)
        # The next op is due one interval after this one was *due*, not after
        # it went out: otherwise every wake-up's lateness adds up and the
        # rate falls short. An op far behind its schedule (every worker was
        # busy) restarts the schedule instead of bursting to catch up.
        anchor = due if t - due <= max(4 * self.dt_ns, _CATCH_UP_NS) else t
        return op, Stagger(self.dt_ns, nxt, anchor + int(ctx.rng.uniform(0, 2 * self.dt_ns)))

    def update(self, ctx: Context, event: Op) -> Generator:
        if self.gen.ignores_updates():
            return self
        return Stagger(self.dt_ns, self.gen.update(ctx, event), self.next_time)

    def ignores_updates(self) -> bool:
        return self.gen.ignores_updates()


_CATCH_UP_NS = 50_000_000  # lateness a staggered schedule still makes up for


def stagger(dt_seconds: float, g: GenLike) -> Generator:
    gen = lift(g)
    return Stagger(int(dt_seconds * NS), gen) if gen is not None else Void()


@dataclass(frozen=True)
class TimeLimit(Generator):
    """Ops from ``gen`` until ``limit_ns`` after this generator's first op."""

    limit_ns: int
    gen: Generator
    deadline: int | None = None

    def op(self, ctx: Context) -> OpResult:
        deadline = self.deadline if self.deadline is not None else ctx.time + self.limit_ns
        if ctx.time >= deadline:
            return None
        res = self.gen.op(ctx)
        if res is None or res is PENDING:
            return res
        op, nxt = res  # type: ignore[misc]
        if op.time >= deadline:
            return None
        if nxt is self.gen and self.deadline is not None:
            return op, self
        return op, TimeLimit(self.limit_ns, nxt, deadline)

    def update(self, ctx: Context, event: Op) -> Generator:
        if self.gen.ignores_updates():
            return self
        return TimeLimit(self.limit_ns, self.gen.update(ctx, event), self.deadline)

    def ignores_updates(self) -> bool:
        return self.gen.ignores_updates()


def time_limit(seconds: float, g: GenLike) -> Generator:
    gen = lift(g)
    return TimeLimit(int(seconds * NS), gen) if gen is not None else Void()


def sleep(seconds: float) -> Generator:
    """Idle one free thread for ``seconds`` (Jepsen's ``sleep``). In a
    ``nemesis`` or ``clients`` context this delays that side only."""
    return OpMap({"type": SLEEP, "f": SLEEP, "value": seconds})


def log(message: str) -> Generator:
    return OpMap({"type": LOG, "f": LOG, "value": message})


@dataclass(frozen=True)
class On(Generator):
    """Restrict a generator to threads matching a predicate, which depends on
    the thread alone (as Jepsen's ``on-threads``)."""

    keep: Callable[[Thread], bool]
    gen: Generator

    def op(self, ctx: Context) -> OpResult:
        res = self.gen.op(ctx.restrict(self.keep))
        if res is None or res is PENDING:
            return res
        op, nxt = res  # type: ignore[misc]
        return op, (self if nxt is self.gen else On(self.keep, nxt))

    def update(self, ctx: Context, event: Op) -> Generator:
        if self.gen.ignores_updates():
            return self
        thread = ctx.thread_of(event.process)
        if thread is None or not self.keep(thread):
            return self
        return On(self.keep, self.gen.update(ctx.restrict(self.keep), event))

    def ignores_updates(self) -> bool:
        return self.gen.ignores_updates()


def _is_nemesis(t: Thread) -> bool:
    return t == NEMESIS


def _is_client(t: Thread) -> bool:
    return t != NEMESIS


def clients(g: GenLike) -> Generator:
    gen = lift(g)
    return On(_is_client, gen) if gen is not None else Void()


def nemesis(g: GenLike) -> Generator:
    gen = lift(g)
    return On(_is_nemesis, gen) if gen is not None else Void()


@dataclass(frozen=True)
class Any_(Generator):
    """Whichever generator offers the soonest op; all get every update. Used to
    run clients and nemesis side by side."""

    gens: tuple[Generator, ...]

    def op(self, ctx: Context) -> OpResult:
        best: tuple[int, Op, Generator] | None = None
        pending = False
        for i, g in enumerate(self.gens):
            res = g.op(ctx)
            if res is None:
                continue
            if res is PENDING:
                pending = True
                continue
            op, nxt = res  # type: ignore[misc]
            if best is None or op.time < best[1].time:
                best = (i, op, nxt)
        if best is None:
            if pending:
                return PENDING
            return None
        i, op, nxt = best
        if nxt is self.gens[i]:
            return op, self
        return op, Any_((*self.gens[:i], nxt, *self.gens[i + 1:]))

    def update(self, ctx: Context, event: Op) -> Generator:
        if self.ignores_updates():
            return self
        return Any_(tuple(g.update(ctx, event) for g in self.gens))

    def ignores_updates(self) -> bool:
        return all(g.ignores_updates() for g in self.gens)


def any_(*gens: GenLike) -> Generator:
    return Any_(tuple(g for g in (lift(x) for x in gens) if g is not None))


@dataclass(frozen=True)
class Phases(Generator):
    """Run generators one after another, waiting for every outstanding op of
    one phase to complete before the next begins (Jepsen's ``phases``)."""

    gens: tuple[Generator, ...]

    def op(self, ctx: Context) -> OpResult:
        gens = self.gens
        while gens:
            res = gens[0].op(ctx)
            if res is None:
                if len(ctx.free_threads) < len(ctx.workers):
                    return PENDING  # barrier: wait for the phase to drain
                gens = gens[1:]
                continue
            if res is PENDING:
                return PENDING
            op, nxt = res  # type: ignore[misc]
            return op, Phases((nxt, *gens[1:]))
        return None

    def update(self, ctx: Context, event: Op) -> Generator:
        if self.ignores_updates():
            return self
        return Phases((self.gens[0].update(ctx, event), *self.gens[1:]))

    def ignores_updates(self) -> bool:
        return not self.gens or self.gens[0].ignores_updates()


def phases(*gens: GenLike) -> Generator:
    return Phases(tuple(g for g in (lift(x) for x in gens) if g is not None))


@dataclass(frozen=True)
class UntilOk(Generator):
    """Ops from ``gen`` until one of them completes ok. Each attempt is an
    ordinary op in the history; nothing is retried behind the history's back."""

    gen: Generator
    outstanding: frozenset[int | str] = frozenset()
    done: bool = False

    def op(self, ctx: Context) -> OpResult:
        if self.done:
            return None
        if self.outstanding:
            return PENDING  # wait to learn whether the attempt in flight succeeds
        res = self.gen.op(ctx)
        if res is None or res is PENDING:
            return res
        op, nxt = res  # type: ignore[misc]
        return op, UntilOk(nxt, self.outstanding, self.done)

    def update(self, ctx: Context, event: Op) -> Generator:
        outstanding = self.outstanding
        if event.type == INVOKE:
            outstanding = outstanding | {event.process}
        elif event.process in outstanding:
            outstanding = outstanding - {event.process}
            if event.type == OK:
                return UntilOk(self.gen, outstanding, True)
        return UntilOk(self.gen.update(ctx, event), outstanding, self.done)


def until_ok(g: GenLike) -> Generator:
    gen = lift(g)
    return UntilOk(gen) if gen is not None else Void()


@dataclass(frozen=True)
class Iterate(Generator):
    """Ops made from successive integers ``make(start)``, ``make(start+1)``, …:
    each integer is used by exactly one emitted op, e.g. distinct ascending
    values for a set's adds."""

    make: Callable[[int], Mapping[str, Any]]
    n: int = 0

    def op(self, ctx: Context) -> OpResult:
        op = fill(self.make(self.n), ctx)
        return PENDING if op is None else (op, Iterate(self.make, self.n + 1))


def _unwrap(event: Op) -> Op:
    """An independent op's value ``[key, v]`` as the per-key generator saw it."""
    v = event.value
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return event.evolve(value=v[1])
    return event


@dataclass(frozen=True)
class Independent(Generator):
    """Jepsen's independent concurrent generator: client threads are split
    into groups of ``group_size``; each group works on one key at a time with
    ``make(key)``, whose op values are wrapped as ``[key, value]``. When a
    key's generator is exhausted, its group moves on to the next unused key.
    Checkers can then judge each key alone.

    Only groups with a free thread are asked for an op (the others could not
    run one), so an op costs the free threads, not all of them."""

    group_size: int
    make: Callable[[int], Generator]
    groups: tuple[tuple[int, Generator | None], ...] = ()
    next_key: int = 0
    # The groups' threads, fixed at the first op: a run's threads never change.
    layout: tuple[tuple[Thread, ...], ...] = field(default=(), compare=False)
    group_of: Mapping[Thread, int] = field(default_factory=dict, compare=False)
    # How many groups' generators look at completions, kept as groups change:
    # when none does, an update is skipped without visiting the groups.
    listening: int = field(default=0, compare=False)

    def _layout(self, ctx: Context) -> tuple[tuple[tuple[Thread, ...], ...], Mapping[Thread, int]]:
        if self.layout:
            return self.layout, self.group_of
        threads = sorted(t for t in ctx.workers if isinstance(t, int))
        n = self.group_size
        layout = tuple(tuple(threads[i:i + n]) for i in range(0, len(threads), n))
        return layout, {t: i for i, ts in enumerate(layout) for t in ts}

    def op(self, ctx: Context) -> OpResult:
        layout, group_of = self.layout, self.group_of
        if not layout:
            layout, group_of = self._layout(ctx)
        n = len(layout)
        groups = self.groups or ((-1, None),) * n
        free = _unfiltered(ctx.free_threads)
        # The groups with a free thread: found from the free threads when
        # they are few (under load), else by walking the groups from a random
        # one, which stops at the first that has an op due now. Finding them
        # costs the free threads, walking about n / free groups: walk once
        # the free threads number more than about the root of 3n (at 500
        # workers and 100 groups, finding them from 99 free threads made each
        # op cost a fifth more).
        nf = len(free)
        few = nf * nf < 3 * n
        ready: Sequence[int] = sorted({group_of[t] for t in free if t in group_of}) \
            if few else range(n)
        m = len(ready)
        disjoint = free.isdisjoint  # every Set has it; the builtin sets' is C
        # Start at a random group, so that ties (ops due now) go to a random
        # one and a group whose ops finish fast can't starve the others; stop
        # at the first op that is due now.
        s = int(ctx.rng.random() * m) if m > 1 else 0  # pick(), inlined: every op
        if not few:
            # Walking from a random group alone would favour a free group that
            # follows a run of busy ones: start at the group of a random free
            # thread instead (skipping through a set runs in C).
            t = next(islice(free, int(ctx.rng.random() * nf), None))
            s = group_of.get(t, s)
        next_key = self.next_key
        now = ctx.time
        best: tuple[int, Op, tuple[int, Generator]] | None = None
        pending = m < n  # a busy group will have ops later
        # the groups asked: index -> (old generator, new (key, generator))
        asked: dict[int, tuple[Generator | None, tuple[int, Generator | None]]] = {}
        for r in range(m):
            i = ready[(s + r) % m]
            if not few and disjoint(layout[i]):
                pending = True
                continue
            key, gen = groups[i]
            old = gen
            sub = ctx.only(layout[i])
            for _ in range(2):  # the current key, then at most one fresh key
                if gen is None:
                    key, gen = next_key, self.make(next_key)
                    next_key += 1
                res = gen.op(sub)
                if res is None:
                    gen = None
                    continue
                break
            else:
                asked[i] = (old, groups[i])  # both ran out: the group stays as it was
                continue
            asked[i] = (old, (key, gen))
            if res is PENDING:
                pending = True
                continue
            op, nxt = res  # type: ignore[misc]
            t = op.time
            if best is None or t < best[1].time:
                # Op.evolve(value=...), without its keyword arguments: every op
                best = (i, Op(op.type, op.f, [key, op.value], op.process, t, op.index,
                              op.error, op.node, op.extra), (key, nxt))
            if t <= now:
                break
        if best is None:
            # Nothing was emitted, so nothing changes: asking again hands out
            # the same fresh keys.
            return PENDING if pending else None
        i, op, group = best
        asked[i] = (asked[i][0], group)
        listening = self.listening
        if len(asked) == 1:  # the common case: one group asked, one changed
            new_groups = (*groups[:i], group, *groups[i + 1:])
            old, now_i = asked[i][0], group[1]
            # _listens, inlined
            listening += (0 if now_i is None or now_i.ignores_updates() else 1) \
                - (0 if old is None or old.ignores_updates() else 1)
        else:
            changed = list(groups)
            for j, (old, now_j) in asked.items():
                changed[j] = now_j
                listening += _listens(now_j[1]) - _listens(old)
            new_groups = tuple(changed)
        new = object.__new__(Independent)  # not the frozen constructor: see _with
        d = new.__dict__
        d.update(self.__dict__)
        d["groups"], d["next_key"], d["listening"] = new_groups, next_key, listening
        if not self.layout:
            d["layout"], d["group_of"] = layout, group_of
        return op, new

    def update(self, ctx: Context, event: Op) -> Generator:
        if not self.listening:
            return self
        thread = ctx.thread_of(event.process)
        if not isinstance(thread, int) or not self.groups:
            return self
        i = self.group_of.get(thread)
        if i is None or i >= len(self.groups):
            return self
        key, gen = self.groups[i]
        if gen is None or gen.ignores_updates():
            return self
        groups = list(self.groups)
        new = gen.update(ctx.only(self.layout[i]), _unwrap(event))
        groups[i] = (key, new)
        return self._with(groups=tuple(groups), listening=self.listening - 1 + _listens(new))

    def _with(self, **changes: Any) -> Independent:
        """A copy with ``changes``, without the frozen constructor, which
        costs about a microsecond for these eight fields: this runs every op."""
        new = object.__new__(Independent)
        new.__dict__.update(self.__dict__, **changes)
        return new

    def ignores_updates(self) -> bool:
        # Only the groups' current generators see an update: one made for a
        # fresh key later never saw the events before it.
        return not self.listening


def _listens(gen: Generator | None) -> int:
    return 0 if gen is None or gen.ignores_updates() else 1


def independent(group_size: int, make: Callable[[int], GenLike]) -> Generator:
    def build(key: int) -> Generator:
        return lift(make(key)) or Void()
    return Independent(group_size, build)
