"""Model-based testing of the variable store, the way Lasp was tested.

Derflow/Lasp was tested with Erlang QuickCheck's ``eqc_statem``: a *model*
(here :class:`pyharness.varstore.model.Model`) says what each command should
do; a state machine generates command sequences from the model's state, runs
them against the real system, and compares. Its parts, as Hypothesis'
``RuleBasedStateMachine`` spells them:

- *rules*: the commands (declare, bind, read, a threshold read, a read that
  must block until a bind arrives, a read that must time out, two binds that
  race). Arguments come from strategies; variables from ``Bundle``\\s, so a
  rule only ever names a declared variable. Racing binds run the halves of
  two binds (read, then swap) in a fixed order, read-read-swap-swap, as
  QuickCheck's PULSE scheduler did for Erlang processes: the race that
  compare-and-swap exists for happens every time, so it shrinks;
- *preconditions*: when a command may run. A rule drawing from an empty
  bundle is disabled (no bind before a declare); a plain read of a
  single-assignment variable is enabled once one is bound (an unbound one
  must then time out), and a threshold read is given only a threshold the
  model says is met;
- *postconditions*: after each command, the store's outcome must equal the
  model's (a bind fails only for a rebind to another value or a non-lattice
  value; a read returns the bound value, at least the threshold);
- *invariants*: after every step, the state stored in etcd equals the
  model's, and only ever inflates.

On a failure Hypothesis *shrinks*: it deletes and simplifies steps while the
test still fails, and prints the minimal sequence. It saves the failing
example in its database (the next run replays it first) and prints a
``@reproduce_failure`` blob; ``--seed`` replays the same generation.

``--parallel`` is what ``eqc_statem``'s ``parallel_commands`` gave and
Hypothesis lacks: a sequential prefix, then branches of commands run by
several processes at once, recorded as a history of
:class:`pyharness.history.Op`. The history must pass the varstore checker
and be *linearizable* to the model (:mod:`pyharness.varstore.linearize`).
Races are nondeterministic, so each generated program runs up to
``PARALLEL_REPEATS`` times before it is judged correct.

Every example works under a fresh key prefix and deletes it afterwards.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rich.console import Console

from checkers.varstore import VarStoreChecker
from pyharness.etcd.endpoints import connect_kv
from pyharness.history import Op
from pyharness.varstore import bugs
from pyharness.varstore.lattice import TYPES, lattice
from pyharness.varstore.linearize import SearchTooLarge, linearize
from pyharness.varstore.model import Model, Outcome
from pyharness.varstore.ops import invocation, perform
from pyharness.varstore.store import VarStore, VarStoreError

NAMES = ("a", "b")  # few names, so commands meet on the same variable
REPLICAS = ("r0", "r1", "r2")
STEP_COUNT = 12
READ_TIMEOUT = 3.0  # a read that should succeed, or a blocked read awaiting its bind
SHORT_TIMEOUT = 0.1  # a read that should time out
KEY_ROOT = "/pyharness-quickcheck"
DEFAULT_DB = Path(".hypothesis") / "pyharness-quickcheck"
PARALLEL_VARS = {"s": "single", "g": "gset", "c": "gcounter", "m": "max"}
PARALLEL_REPEATS = 3
PARALLEL_READ_TIMEOUT = 0.1  # threshold reads in branches may time out; that is allowed

VALUES: dict[str, st.SearchStrategy[Any]] = {
    "single": st.integers(0, 2),
    "gset": st.frozensets(st.integers(0, 4), min_size=1, max_size=3),
    "gcounter": st.dictionaries(st.sampled_from(REPLICAS), st.integers(1, 4),
                                min_size=1, max_size=2),
    "max": st.integers(0, 6),
}


class Counterexample(AssertionError):
    """The store disagreed with the model. Carries what the failing run did:
    its steps (sequential) or its history and verdict (parallel)."""

    def __init__(self, message: str, steps: Sequence[str] = (),
                 history: Sequence[Op] = (), check: dict[str, Any] | None = None,
                 program: Any = None) -> None:
        super().__init__(message)
        self.program = program
        self.steps = list(steps)
        self.history = list(history)
        self.check = check or {}


def parse_endpoint(s: str) -> tuple[str, int]:
    """``http://host:port``, ``host:port`` or ``host`` (port 2379)."""
    s = s.removeprefix("http://").rstrip("/")
    host, _, port = s.rpartition(":")
    if not host:
        return s, 2379
    return host, int(port)


def meet(type_name: str, probe: Any, state: Any) -> Any:
    """A threshold at or below ``state``, shaped by ``probe``."""
    if type_name == "gset":
        return probe & state
    if type_name == "gcounter":
        return {r: min(n, state.get(r, 0)) for r, n in probe.items() if state.get(r, 0)}
    return min(probe, state)


def above(type_name: str, probe: Any, state: Any) -> Any:
    """A threshold strictly above ``state``, shaped by ``probe``."""
    t = lattice(type_name).join(state, probe)
    if t != state:
        return t
    if type_name == "gset":
        return state | {max(state) + 1}
    if type_name == "gcounter":
        return {**state, "r0": state.get("r0", 0) + 1}
    return state + 1


def _call(fn: Callable[[], Any]) -> Outcome:
    try:
        return Outcome(True, fn())
    except VarStoreError as e:
        return Outcome(False, error=e.code)


# -- the sequential state machine ---------------------------------------------

class _Base(RuleBasedStateMachine):
    """Set up by :func:`machine_class` with ``endpoints`` and ``bug``."""

    endpoints: Sequence[tuple[str, int]] = ()
    bug: str | None = None
    api: str = "v2"

    def __init__(self) -> None:
        super().__init__()
        prefix = f"{KEY_ROOT}/{uuid.uuid4().hex}"
        n = len(self.endpoints)
        # A second store, on another member when there is one, races the
        # first and blocks in reads while the first binds.
        self.store = _store(self.api, self.endpoints[0], prefix, self.bug)
        self.other = _store(self.api, self.endpoints[1 % n], prefix, self.bug)
        self.model = Model()
        self.steps: list[str] = []
        self.seen: dict[str, tuple[str, Any]] = {}

    def teardown(self) -> None:
        try:
            self.store.drop()
        finally:
            for s in (self.store, self.other):
                s.close()

    def _expect(self, what: str, got: Outcome, want: Outcome) -> None:
        self.steps.append(f"{what} -> {got}")
        if got != want:
            self._fail(f"{what}: the store gave {got}, the model says {want}")

    def _fail(self, message: str) -> None:
        raise Counterexample(message, self.steps)

    def _has_bound_single(self) -> bool:
        return any(t == "single" and s is not None for t, s in self.model.vars.values())

    @invariant()
    def stored_state_is_the_model(self) -> None:
        stored = self.store.dump()
        want = dict(self.model.vars)
        if stored != want:
            self._fail(f"invariant: etcd holds {stored}, the model {want}")
        for name, (t, s) in stored.items():
            prev = self.seen.get(name)
            if prev is not None and prev[0] == t and not lattice(t).leq(prev[1], s):
                self._fail(f"invariant: {name} went down from {prev[1]!r} to {s!r}")
        self.seen = stored


def _declare_rule(t: str, bundle: Bundle[str]) -> Callable[..., Any]:
    @rule(target=bundle, name=st.sampled_from(NAMES))
    def declare(self: _Base, name: str) -> Any:
        want, nxt = self.model.declare(name, t)
        self._expect(f"declare {name} {t}", _call(lambda: self.store.declare(name, t)), want)
        self.model = nxt
        return name if want.ok else multiple()
    return declare


def _bind_rule(t: str, bundle: Bundle[str]) -> Callable[..., Any]:
    @rule(var=bundle, value=VALUES[t])
    def bind(self: _Base, var: str, value: Any) -> None:
        want, nxt = self.model.bind(var, value)
        self._expect(f"bind {var} {value!r}", _call(lambda: self.store.bind(var, value)), want)
        self.model = nxt
    return bind


def _read_rule(t: str, bundle: Bundle[str]) -> Callable[..., Any]:
    def read(self: _Base, var: str) -> None:
        want = self.model.read(var)
        if want.ok:
            got = _call(lambda: self.store.read(var, timeout=READ_TIMEOUT))
        else:  # an unbound single: the store must block, then time out
            got = _call(lambda: self.store.read(var, timeout=SHORT_TIMEOUT))
        self._expect(f"read {var}", got, want)
    read_rule = rule(var=bundle)(read)
    if t == "single":
        # Read single-assignment variables once something is bound (unbound
        # ones are read by read_single_waits_for_bind).
        return precondition(lambda self: self._has_bound_single())(read_rule)
    return read_rule


def _threshold_read_rule(t: str, bundle: Bundle[str]) -> Callable[..., Any]:
    @rule(var=bundle, probe=VALUES[t])
    def threshold_read(self: _Base, var: str, probe: Any) -> None:
        threshold = meet(t, probe, self.model.state(var))
        want = self.model.read(var, threshold)
        got = _call(lambda: self.store.read(var, threshold, timeout=READ_TIMEOUT))
        self._expect(f"read {var} threshold {threshold!r}", got, want)
    return threshold_read


def _timeout_read_rule(t: str, bundle: Bundle[str]) -> Callable[..., Any]:
    @rule(var=bundle, probe=VALUES[t])
    def read_times_out(self: _Base, var: str, probe: Any) -> None:
        threshold = above(t, probe, self.model.state(var))
        want = self.model.read(var, threshold)
        got = _call(lambda: self.store.read(var, threshold, timeout=SHORT_TIMEOUT))
        self._expect(f"read {var} threshold {threshold!r} (unmet)", got, want)
    return read_times_out


def _blocked_read_rule(t: str, bundle: Bundle[str]) -> Callable[..., Any]:
    @rule(var=bundle, value=VALUES[t])
    def read_waits_for_bind(self: _Base, var: str, value: Any) -> None:
        state = self.model.state(var)
        if t == "single":
            if state is not None:
                self._expect(f"read {var}", _call(lambda: self.store.read(var)),
                             self.model.read(var))
                return
            threshold, bind_value = None, value
        else:
            threshold = above(t, value, state)
            bind_value = threshold
        blocked = threading.Event()
        result: list[Outcome] = []
        reader = threading.Thread(target=lambda: result.append(_call(
            lambda: self.other.read(var, threshold, timeout=READ_TIMEOUT,
                                    on_block=blocked.set))), daemon=True)
        reader.start()
        deadline = time.monotonic() + READ_TIMEOUT
        while not blocked.wait(0.01) and reader.is_alive() and time.monotonic() < deadline:
            pass
        waited = blocked.is_set()
        want_bind, nxt = self.model.bind(var, bind_value)
        self._expect(f"bind {var} {bind_value!r} while a read of {threshold!r} waits",
                     _call(lambda: self.store.bind(var, bind_value)), want_bind)
        self.model = nxt
        reader.join(READ_TIMEOUT + 1)
        got = result[0] if result else Outcome(False, error="reader-hung")
        if not waited:
            self.steps.append(f"read {var} threshold {threshold!r} -> {got} without waiting")
            self._fail(
                f"read {var} threshold {threshold!r}: returned {got} at once; the threshold "
                f"was not met (state {state!r}), so it had to wait for the bind")
        self._expect(f"read {var} threshold {threshold!r} (woken by the bind)", got,
                     self.model.read(var, threshold))
    return read_waits_for_bind


def _racing_binds_rule(t: str, bundle: Bundle[str]) -> Callable[..., Any]:
    @rule(var=bundle, v1=VALUES[t], v2=VALUES[t])
    def racing_binds(self: _Base, var: str, v1: Any, v2: Any) -> None:
        """Both binds read before either writes: the schedule CAS exists
        for. The outcomes must be those of the two binds run one after the
        other, in some order (a bind that finds its value already there
        writes nothing and takes effect at its read, before the other)."""
        start1 = _call(lambda: self.store.start_bind(var, v1))
        start2 = _call(lambda: self.other.start_bind(var, v2))
        got = [_call(lambda p=start.value, s=store: s.finish_bind(p)) if start.ok else start
               for start, store in ((start1, self.store), (start2, self.other))]
        orders = []
        for first, second in (((0, v1), (1, v2)), ((1, v2), (0, v1))):
            o1, m1 = self.model.bind(var, first[1])
            o2, m2 = m1.bind(var, second[1])
            want = [o1, o2] if first[0] == 0 else [o2, o1]
            orders.append((want, m2))
        self.steps.append(f"racing binds {var} {v1!r} | {v2!r} -> {got[0]} | {got[1]}")
        for want, model in orders:
            if got == want:
                self.model = model
                return
        self._fail(
            f"racing binds {var} {v1!r} | {v2!r}: the store gave {got[0]} | {got[1]}; "
            f"the model allows {orders[0][0][0]} | {orders[0][0][1]} "
            f"or {orders[1][0][0]} | {orders[1][0][1]}")
    return racing_binds


def _store(api: str, endpoint: tuple[str, int], prefix: str, bug: str | None) -> VarStore:
    return VarStore(connect_kv(api, *endpoint, timeout=2.0), prefix, bug)


def machine_class(endpoints: Sequence[tuple[str, int]], bug: str | None = None,
                  api: str = "v2") -> type[_Base]:
    """A state machine class against ``endpoints`` with ``bug`` switched on,
    speaking etcd's ``api``."""
    bugs.check(bug)
    ns: dict[str, Any] = {"endpoints": tuple(endpoints), "bug": bug, "api": api}
    for t in TYPES:
        bundle: Bundle[str] = Bundle(t)
        ns[f"declare_{t}"] = _declare_rule(t, bundle)
        ns[f"bind_{t}"] = _bind_rule(t, bundle)
        ns[f"read_{t}"] = _read_rule(t, bundle)
        ns[f"read_{t}_waits_for_bind"] = _blocked_read_rule(t, bundle)
        ns[f"racing_binds_{t}"] = _racing_binds_rule(t, bundle)
        if t != "single":
            ns[f"threshold_read_{t}"] = _threshold_read_rule(t, bundle)
            ns[f"read_{t}_times_out"] = _timeout_read_rule(t, bundle)
    for attr, fn in list(ns.items()):
        spec = getattr(fn, "hypothesis_stateful_rule", None)
        if spec is not None:
            # Hypothesis prints each step by its function's name: make it the
            # method's, so a printed sequence can be pasted back.
            spec.function.__name__ = spec.function.__qualname__ = attr
    ns["__module__"] = __name__
    return type("VarStoreMachine", (_Base,), ns)


# -- running it ---------------------------------------------------------------

@dataclass
class Failure:
    """One shrunk counterexample. Hypothesis may report several (one per
    distinct failing assertion), each shrunk on its own."""

    error: str
    notes: list[str] = field(default_factory=list)  # Hypothesis' report of it
    steps: list[str] = field(default_factory=list)  # what the store did in that run
    history: list[Op] = field(default_factory=list)  # parallel mode
    check: dict[str, Any] = field(default_factory=dict)
    program: Any = None  # parallel mode: (prefix, branches)

    @property
    def sequence(self) -> list[str]:
        """The minimal failing example, as Hypothesis prints it."""
        lines = [ln for ln in self.notes if ln.strip().startswith("state") or " = state." in ln]
        return lines or [ln for ln in self.notes if "parallel_commands(" in ln]

    @property
    def commands(self) -> list[str]:
        """The commands of the minimal example: rule calls (no invariant
        checks), or the parallel program's commands."""
        if self.program is not None:
            prefix, branches = self.program
            return [f"{i}: {c}" for i, cmds in enumerate([prefix, *branches]) for c in cmds]
        return [ln.strip() for ln in self.sequence
                if "state." in ln and not any(w in ln for w in (
                    "stored_state_is_the_model", "teardown"))]

    @property
    def blob(self) -> str | None:
        """``@reproduce_failure(...)`` for this example."""
        found = [m.group(0) for ln in self.notes
                 for m in [re.search(r"@reproduce_failure\([^)]*\)", ln)] if m]
        return found[-1] if found else None


@dataclass
class Result:
    passed: bool
    seed: int
    examples: int
    parallel: bool
    bug: str | None
    api: str = "v2"
    failures: list[Failure] = field(default_factory=list)
    flaky: bool = False  # the failure did not reproduce while shrinking

    @property
    def best(self) -> Failure | None:
        """The shortest counterexample."""
        return min(self.failures, key=lambda f: (len(f.commands), len(f.history)),
                   default=None)


def _settings(examples: int, steps: int, database: ExampleDatabase | None) -> settings:
    # No "explain" phase: it traces coverage, which slows every example.
    return settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                    database=database, print_blob=True,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target,
                            Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def quickcheck(endpoints: Sequence[tuple[str, int]], examples: int = 50,
               seed: int | None = None, store_bug: str | None = None, parallel: bool = False,
               steps: int = STEP_COUNT, database: Path | None = DEFAULT_DB,
               repeats: int = PARALLEL_REPEATS, api: str = "v2") -> Result:
    """Run the sequential (or parallel) model test; never raises on a
    counterexample, returns it."""
    bugs.check(store_bug)
    seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    db = DirectoryBasedExampleDatabase(str(database)) if database is not None else None
    res = Result(passed=True, seed=seed, examples=examples, parallel=parallel, bug=store_bug,
                 api=api)
    sets = _settings(examples, steps, db)
    if parallel:
        test = hypothesis.seed(seed)(_parallel_test(endpoints, store_bug, sets, repeats, api))
    else:
        machine = hypothesis.seed(seed)(machine_class(endpoints, store_bug, api))

        def test() -> None:
            run_state_machine_as_test(machine, settings=sets)
    try:
        with with_reporter(lambda _msg: None):  # the failures carry what we print
            test()
    except Exception as e:
        res.passed = False
        res.flaky = isinstance(e, Flaky)
        res.failures = _failures(e)
    return res


def _failures(e: BaseException, notes: Sequence[str] = ()) -> list[Failure]:
    """One Failure per leaf exception; a group's notes go to its members."""
    notes = [*notes, *getattr(e, "__notes__", [])]
    if isinstance(e, BaseExceptionGroup):
        return [f for x in e.exceptions for f in _failures(x, notes)]
    f = Failure(error=f"{type(e).__name__}: {e}", notes=notes)
    if isinstance(e, Counterexample):
        f.steps, f.history, f.check, f.program = e.steps, e.history, e.check, e.program
    return [f]


# -- parallel mode ------------------------------------------------------------

def _command(names: dict[str, str]) -> st.SearchStrategy[tuple[str, str, Any]]:
    def for_var(name: str) -> st.SearchStrategy[tuple[str, str, Any]]:
        t = names[name]
        threshold = st.none() if t == "single" else st.none() | VALUES[t]
        return st.one_of(st.tuples(st.just("bind"), st.just(name), VALUES[t]),
                         st.tuples(st.just("read"), st.just(name), threshold))
    return st.sampled_from(sorted(names)).flatmap(for_var)


@st.composite
def parallel_program(draw: st.DrawFn) -> tuple[list[Any], list[list[Any]]]:
    """A sequential prefix, then 2–3 branches to run at once."""
    cmd = _command(PARALLEL_VARS)
    prefix = draw(st.lists(cmd, max_size=3))
    branches = draw(st.lists(st.lists(cmd, min_size=1, max_size=4), min_size=2, max_size=3))
    return prefix, branches


class _Recorder:
    """An in-memory history: index and time assigned under one lock, so the
    order of the list is the order things happened."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self._lock = threading.Lock()
        self._t0 = time.monotonic_ns()

    def add(self, op: Op) -> Op:
        with self._lock:
            op.index, op.time = len(self.ops), time.monotonic_ns() - self._t0
            self.ops.append(op)
        return op


def run_parallel_once(endpoints: Sequence[tuple[str, int]], bug: str | None,
                      prefix_cmds: Sequence[Any], branches: Sequence[Sequence[Any]],
                      api: str = "v2") -> tuple[list[Op], dict[str, Any]]:
    """Run one parallel program; return its history and verdict."""
    key = f"{KEY_ROOT}/{uuid.uuid4().hex}"
    rec = _Recorder()
    types = dict(PARALLEL_VARS)
    stores = [_store(api, endpoints[i % len(endpoints)], key, bug)
              for i in range(len(branches) + 1)]

    def run(store: VarStore, process: int, cmds: Sequence[Any],
            timeout: float = PARALLEL_READ_TIMEOUT) -> None:
        for f, name, arg in cmds:
            inv = rec.add(invocation(f, name, arg, types[name], process))
            rec.add(perform(store, inv, types, timeout))

    try:
        run(stores[0], 0, [("declare", n, None) for n in sorted(types)])
        run(stores[0], 0, prefix_cmds)
        go = threading.Barrier(len(branches))

        def branch(i: int) -> None:
            go.wait()
            run(stores[i + 1], i + 1, branches[i])
        threads = [threading.Thread(target=branch, args=(i,), daemon=True)
                   for i in range(len(branches))]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        # Final reads, after every branch is done: nothing is in flight, so
        # an unbound single-assignment variable needs no long wait.
        run(stores[0], 0, [("read", n, None) for n in sorted(types)], timeout=0.01)
    finally:
        try:
            stores[0].drop()
        finally:
            for s in stores:
                s.close()
    history = rec.ops
    verdict = VarStoreChecker().check({}, history)
    try:
        order = linearize(history)
        verdict["linearizable?"] = order is not None
    except SearchTooLarge:
        verdict["linearizable?"] = "unknown"
    return history, verdict


def _parallel_test(endpoints: Sequence[tuple[str, int]], bug: str | None,
                   sets: settings, repeats: int, api: str) -> Callable[[], None]:

    @sets
    @given(program=parallel_program())
    def parallel_commands(program: tuple[list[Any], list[list[Any]]]) -> None:
        prefix_cmds, branches = program
        for _ in range(repeats):
            history, verdict = run_parallel_once(endpoints, bug, prefix_cmds, branches, api)
            if verdict["valid?"] is False or verdict["linearizable?"] is False:
                raise Counterexample(_verdict_summary(verdict), history=history,
                                     check=verdict, program=program)
    return parallel_commands


def _verdict_summary(v: dict[str, Any]) -> str:
    parts = [f"{k} {v[k + '-count']}" for k in ("rebinds", "unexpected-reads", "nonmonotonic",
                                                 "lost", "early-reads")
             if v.get(k + "-count")]
    if v.get("linearizable?") is False:
        parts.append("no sequential order of the model explains the history")
    return "history invalid: " + ", ".join(parts)


# -- the CLI entry point ------------------------------------------------------

def run_quickcheck(endpoints: list[str], examples: int, seed: int | None,
                   store_bug: str | None, parallel: bool, out: Console,
                   database: Path | None = DEFAULT_DB, api: str = "v2") -> int:
    """``pyharness quickcheck``: 0 if no counterexample, 1 otherwise."""
    eps = [parse_endpoint(e) for e in endpoints]
    for host, port in eps:
        probe = connect_kv(api, host, port, timeout=2.0)
        try:
            probe.get(KEY_ROOT)
        except Exception as e:
            out.print(f"[red]error:[/red] cannot reach etcd's {api} API at {host}:{port} "
                      f"({probe.classify(e).error[0]})")
            return 1
        finally:
            probe.close()
    mode = "parallel" if parallel else "sequential"
    out.print(f"quickcheck ({mode}, {api}) against {', '.join(endpoints)}: {examples} examples, "
              f"seed {seed if seed is not None else '(random)'}"
              + (f", store bug {store_bug}" if store_bug else ""), highlight=False)
    t0 = time.monotonic()
    res = quickcheck(eps, examples=examples, seed=seed, store_bug=store_bug,
                     parallel=parallel, database=database, api=api)
    took = time.monotonic() - t0
    if res.passed:
        out.print(f"[green]passed[/green]: {examples} examples in {took:.1f}s (seed {res.seed})")
        return 0
    report_failure(res, took, out, database)
    return 1


def report_failure(res: Result, took: float, out: Console, database: Path | None) -> None:
    def say(line: str = "") -> None:
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    best = res.best
    assert best is not None
    out.print(f"[red]counterexample[/red] after {took:.1f}s "
              f"({len(res.failures)} distinct failure(s); the shortest follows)")
    say(best.error)
    if res.flaky:
        say("(nondeterministic: it did not fail again every time while shrinking; the "
            "failing run below is real)")
    say("minimal failing sequence:")
    for ln in best.sequence or best.notes:
        if "stored_state_is_the_model" not in ln:
            say("  " + ln.strip())
    if best.steps:
        say("what the store did in that run:")
        for step in best.steps:
            say(f"  {step}")
    if best.history:
        say("the history:")
        for op in best.history:
            say(f"  {op.index:3} {op.process!s:>2} {op.type:6} {op.f:7} {op.value} "
                f"{op.error or ''} {op.extra or ''}".rstrip())
    replay = f"pyharness quickcheck --seed {res.seed} --examples {res.examples}"
    if res.bug:
        replay += f" --store-bug {res.bug}"
    if res.parallel:
        replay += " --parallel"
    if res.api != "v2":
        replay += f" --api {res.api}"
    say(f"replay: {replay} (with the same -i)")
    if database is not None:
        say(f"the example is saved in {database}; the next run replays it first")
    if best.blob:
        say(f"or replay exactly: decorate the test with {best.blob}")
