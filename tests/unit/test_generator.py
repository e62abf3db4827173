"""Generators, driven by the real interpreter against an in-memory client."""

from __future__ import annotations

import dataclasses
import itertools
import random
import threading
from collections import Counter
from pathlib import Path

import pytest

from pyharness.gen import generator as g
from pyharness.gen import interpreter
from pyharness.history import FAIL, INFO, INVOKE, NEMESIS, OK, HistoryWriter, Op, read_jsonl

NS = 1_000_000_000


def ctx(free: set[int | str], workers: dict[int | str, int | str] | None = None,
        t: int = 0) -> g.Context:
    workers = workers or {w: w for w in free}
    return g.Context(time=t, free_threads=frozenset(free), workers=workers,
                     rng=random.Random(1))


def drain(gen: g.Generator, c: g.Context, n: int = 100) -> list[Op]:
    """Pull ops without completing them, as if every process stayed free."""
    ops = []
    for _ in range(n):
        res = gen.op(c)
        if res is None or res is g.PENDING:
            break
        op, gen = res
        ops.append(op)
    return ops


def test_op_map_is_emitted_once() -> None:
    ops = drain(g.lift({"f": "read"}), ctx({0}))
    assert [(o.f, o.type, o.process) for o in ops] == [("read", INVOKE, 0)]


def test_limit_and_seq() -> None:
    gen = g.seq(g.limit(2, g.repeat({"f": "a"})), {"f": "b"})
    assert [o.f for o in drain(gen, ctx({0}))] == ["a", "a", "b"]


def test_iterate_gives_distinct_ascending_values_even_when_reasked() -> None:
    gen = g.Iterate(lambda n: {"f": "add", "value": n})
    c = ctx({0})
    res1 = gen.op(c)
    res2 = gen.op(c)  # asking the same generator again must not skip a value
    assert res1 is not None and res2 is not None
    assert res1[0].value == res2[0].value == 0
    assert [o.value for o in drain(gen, c, 5)] == [0, 1, 2, 3, 4]


def test_cycle_restarts_and_stops_on_empty() -> None:
    gen = g.cycle([{"f": "start"}, {"f": "stop"}])
    assert [o.f for o in drain(gen, ctx({0}), 5)] == ["start", "stop", "start", "stop", "start"]
    assert g.cycle([]).op(ctx({0})) is None


def test_mix_uses_all_generators() -> None:
    gen = g.mix(g.repeat({"f": "a"}), g.repeat({"f": "b"}))
    counts = Counter(o.f for o in drain(gen, ctx({0}), 200))
    assert counts["a"] > 50 and counts["b"] > 50


def test_stagger_spaces_ops_with_mean_interval() -> None:
    ops = drain(g.stagger(0.1, g.repeat({"f": "x"})), ctx({0}), 1000)
    gaps = [b.time - a.time for a, b in itertools.pairwise(ops)]
    assert all(0 <= gap <= 0.2 * NS for gap in gaps)
    assert 0.08 * NS < sum(gaps) / len(gaps) < 0.12 * NS


def test_time_limit_cuts_off_ops_scheduled_past_the_deadline() -> None:
    ops = drain(g.time_limit(1.0, g.stagger(0.1, g.repeat({"f": "x"}))), ctx({0}), 1000)
    assert 5 < len(ops) < 20
    assert all(o.time < NS for o in ops)


def test_no_free_process_is_pending() -> None:
    assert g.lift({"f": "x"}).op(ctx(set(), {0: 0})) is g.PENDING


def test_clients_and_nemesis_routing() -> None:
    c = ctx({0, 1, NEMESIS})
    assert {o.process for o in drain(g.clients(g.repeat({"f": "x"})), c, 20)} <= {0, 1}
    assert {o.process for o in drain(g.nemesis(g.repeat({"f": "x"})), c, 5)} == {NEMESIS}
    # Only the nemesis is free: clients wait.
    assert g.clients({"f": "x"}).op(ctx({NEMESIS}, {0: 0, NEMESIS: NEMESIS})) is g.PENDING


def test_phases_wait_for_outstanding_ops() -> None:
    gen = g.phases({"f": "a"}, {"f": "b"})
    res = gen.op(ctx({0, 1}))
    assert res is not None and res is not g.PENDING
    op, gen = res
    assert op.f == "a"
    # Process 0 is busy with "a": the barrier holds "b" back.
    assert gen.op(ctx({1}, {0: 0, 1: 1})) is g.PENDING
    res = gen.op(ctx({0, 1}))
    assert res is not None and res is not g.PENDING and res[0].f == "b"


class Register:
    """A toy client: an in-memory register whose ops can be told to fail."""

    def __init__(self, outcomes: dict[str, str] | None = None) -> None:
        self.outcomes = outcomes or {}
        self.lock = threading.Lock()
        self.value = 0
        self.opened: list[str] = []

    def open(self, test: object, node: str) -> Register:
        self.opened.append(node)
        return self

    def close(self, test: object) -> None:
        pass

    def invoke(self, test: object, op: Op) -> Op:
        kind = self.outcomes.get(op.f, OK)
        if kind != OK:
            return op.completion(kind, error=["injected"])
        with self.lock:
            if op.f == "write":
                self.value = op.value
                return op.completion(OK)
            return op.completion(OK, value=self.value)


class Recorder:
    fs = frozenset({"start", "stop"})

    def __init__(self) -> None:
        self.calls: list[str] = []

    def invoke(self, test: object, op: Op) -> Op:
        self.calls.append(op.f)
        return op.completion(INFO, value="done")

    def heal(self, test: object) -> None:
        self.calls.append("heal")


def run(tmp_path: Path, gen: g.Generator, client: Register, nem: Recorder | None = None,
        concurrency: int = 3) -> list[Op]:
    w = HistoryWriter(tmp_path / "history.jsonl")
    interpreter.run({}, gen, client, nem, ["n1", "n2"], concurrency, w, rng=random.Random(7))
    w.close()
    ops = read_jsonl(tmp_path / "history.jsonl")
    assert [o.to_dict() for o in ops] == [o.to_dict() for o in w.ops]
    return ops


def test_interpreter_records_invoke_then_completion(tmp_path: Path) -> None:
    client = Register()
    gen = g.clients(g.limit(20, g.mix(g.repeat({"f": "read"}),
                                      g.Iterate(lambda n: {"f": "write", "value": n}))))
    ops = run(tmp_path, gen, client)
    assert len(ops) == 40
    assert [o.index for o in ops] == list(range(40))
    assert all(a.time <= b.time for a, b in itertools.pairwise(ops))
    open_by_process: dict[object, Op] = {}
    for op in ops:
        if op.type == INVOKE:
            assert op.process not in open_by_process  # one op at a time per process
            open_by_process[op.process] = op
        else:
            inv = open_by_process.pop(op.process)
            assert inv.f == op.f and op.node == inv.node and op.node in ("n1", "n2")
    assert not open_by_process


def test_info_retires_the_process(tmp_path: Path) -> None:
    client = Register({"write": INFO})
    ops = run(tmp_path, g.clients(g.limit(6, g.repeat({"f": "write", "value": 1}))), client,
              concurrency=2)
    procs = [o.process for o in ops if o.type == INVOKE]
    assert len(set(procs)) == 6  # every crash moves the thread to a fresh process
    assert {p % 2 for p in procs} == {0, 1}


def test_fail_keeps_the_process(tmp_path: Path) -> None:
    ops = run(tmp_path, g.clients(g.limit(6, g.repeat({"f": "write", "value": 1}))),
              Register({"write": FAIL}), concurrency=1)
    assert {o.process for o in ops} == {0}


def test_until_ok_retries_only_until_success(tmp_path: Path) -> None:
    client = Register({"read": FAIL})
    ops = run(tmp_path, g.clients(g.until_ok(g.limit(4, g.repeat({"f": "read"})))), client)
    assert [o.type for o in ops if o.type != INVOKE] == [FAIL] * 4
    (tmp_path / "b").mkdir()
    ops = run(tmp_path / "b", g.clients(g.until_ok(g.limit(4, g.repeat({"f": "read"})))),
              Register())
    assert [o.type for o in ops if o.type != INVOKE] == [OK]


def test_nemesis_and_clients_run_side_by_side_then_phases(tmp_path: Path) -> None:
    nem = Recorder()
    gen = g.phases(
        g.time_limit(0.6, g.any_(g.clients(g.stagger(0.01, g.repeat({"f": "read"}))),
                                 g.nemesis(g.cycle([g.sleep(0.1), {"f": "start"},
                                                    g.sleep(0.1), {"f": "stop"}])))),
        g.nemesis(g.once({"f": "stop"})),
        g.clients(g.once({"f": "read"})),
    )
    ops = run(tmp_path, gen, Register(), nem)
    nem_ops = [o for o in ops if o.process == NEMESIS]
    assert nem.calls[:2] == ["start", "stop"] and nem.calls[-1] == "stop"
    assert all(o.type in (INVOKE, INFO) for o in nem_ops)
    # The last phase's read comes after the final stop has completed.
    last_stop = max(o.index for o in nem_ops)
    assert ops[-1].f == "read" and ops[-2].index > last_stop
    # Reads happened while the nemesis was active, not only before or after.
    first_start = min(o.time for o in nem_ops)
    assert any(o.f == "read" and o.time > first_start for o in ops if o.index < last_stop)


def test_stuck_generator_is_an_error(tmp_path: Path) -> None:
    class Stuck(g.Generator):
        def op(self, ctx: g.Context) -> g.OpResult:
            return g.PENDING

    with pytest.raises(interpreter.GeneratorStuck):
        run(tmp_path, Stuck(), Register())


def test_independent_gives_each_group_its_own_keys(tmp_path: Path) -> None:
    client = Register()
    gen = g.clients(g.independent(2, lambda key: g.limit(5, g.repeat({"f": "write",
                                                                        "value": key}))))
    w = HistoryWriter(tmp_path / "h.jsonl")
    interpreter.run({}, g.limit(40, gen), client, None, ["n1"], 4, w, rng=random.Random(3))
    ops = [o for o in w.ops if o.type == INVOKE]
    assert len(ops) == 40
    by_key: dict[int, set[int]] = {}
    for o in ops:
        key, value = o.value
        assert value == key  # the per-key generator saw its own key
        by_key.setdefault(key, set()).add(o.process % 4)
    counts = Counter(o.value[0] for o in ops)
    assert all(count <= 5 for count in counts.values())
    assert sorted(counts.values()).count(5) >= len(counts) - 2  # only the last keys are partial
    # A key is worked on by one group of threads: {0, 1} or {2, 3}; both work.
    assert all(threads <= {0, 1} or threads <= {2, 3} for threads in by_key.values())
    assert {0, 1, 2, 3} == set().union(*by_key.values())


class DeadMember:
    """n2 refuses every connection, as a killed member does; n1 answers."""

    def __init__(self, node: str = "") -> None:
        self.node = node

    def open(self, test: object, node: str) -> DeadMember:
        return DeadMember(node)

    def invoke(self, test: object, op: Op) -> Op:
        if self.node == "n2":
            return op.completion(FAIL, error=["connect-failed", "NewConnectionError"])
        return op.completion(OK)

    def close(self, test: object) -> None:
        pass


def _attempts_on_dead_member(tmp_path: Path, backoff_s: float) -> tuple[int, int]:
    w = HistoryWriter(tmp_path / f"h-{backoff_s}.jsonl")
    gen = g.clients(g.time_limit(1.0, g.stagger(0.002, g.repeat({"f": "read"}))))
    interpreter.run({}, gen, DeadMember(), None, ["n1", "n2"], 2, w, rng=random.Random(5),
                    connect_backoff_s=backoff_s)
    w.close()
    ops = read_jsonl(tmp_path / f"h-{backoff_s}.jsonl")
    invokes = Counter(o.node for o in ops if o.type == INVOKE)
    fails = [o for o in ops if o.type == FAIL]
    assert len(fails) == invokes["n2"]  # one fail per attempt sent: none hidden
    assert all(a.time <= b.time for a, b in itertools.pairwise(ops))
    return invokes["n2"], invokes["n1"]


def test_a_worker_backs_off_from_a_member_that_refuses(tmp_path: Path) -> None:
    dead_now, _ = _attempts_on_dead_member(tmp_path, 0)
    dead_backoff, live_backoff = _attempts_on_dead_member(tmp_path, 0.2)
    # Without backoff the dead member gets as many attempts as the live one
    # (about 250 in the second; fewer on a loaded machine, hence the margin);
    # with it, a handful (50 ms doubling to 200 ms over one second).
    assert dead_now > 40
    assert dead_backoff <= 15
    assert live_backoff > 40  # the other worker is not held back


def test_backoff_grows_with_jitter_and_resets() -> None:
    b = interpreter.Backoff(1.0, random.Random(1))
    refused = Op(type=FAIL, f="read", error=["connect-failed", "x"])
    waits = [b.after(0, refused) for _ in range(7)]
    assert 0.025 <= waits[0] <= 0.05 and 0.05 <= waits[1] <= 0.1
    assert all(0.5 <= w <= 1.0 for w in waits[5:])  # capped at max_s, jittered below it
    assert b.after(0, Op(type=OK, f="read")) == 0.0
    assert 0.025 <= b.after(0, refused) <= 0.05  # a success reset the streak
    assert b.after(1, Op(type=FAIL, f="cas", error=["compare-failed"])) == 0.0


def test_until_ok_under_clients_sees_a_crashed_attempt(tmp_path: Path) -> None:
    """An info completion retires its process; the generator must still learn
    of it (through the old process), or until_ok waits for it forever."""

    class CrashFirst(Register):
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        def invoke(self, test: object, op: Op) -> Op:
            self.n += 1
            return op.completion(INFO) if self.n == 1 else op.completion(OK, value=None)

    ops = run(tmp_path, g.clients(g.until_ok(g.repeat({"f": "read"}))), CrashFirst(),
              concurrency=1)
    assert [o.type for o in ops] == [INVOKE, INFO, INVOKE, OK]
    assert ops[0].process != ops[2].process


def test_independent_asks_only_groups_with_a_free_thread() -> None:
    """What an op costs grows with the free threads, not with all of them:
    at 500 threads, a busy group's generator is never asked."""
    asked: Counter[int] = Counter()

    @dataclasses.dataclass(frozen=True)
    class Counting(g.Generator):
        key: int

        def op(self, c: g.Context) -> g.OpResult:
            asked[self.key] += 1
            op = g.fill({"f": "read"}, c)
            return g.PENDING if op is None else (op, self)

    gen: g.Generator = g.independent(5, Counting)
    threads = list(range(500))
    res = gen.op(ctx(set(threads)))  # first op: every group gets a key
    assert res is not None and res is not g.PENDING
    _, gen = res
    asked.clear()
    free = {7}  # group 1 (threads 5..9) alone has a free thread
    res = gen.op(ctx(free, workers={t: t for t in threads}))
    assert res is not None and res is not g.PENDING
    op, _ = res
    assert op.process == 7 and op.value[0] in asked
    assert len(asked) == 1


def test_rate_is_honoured_although_each_wake_up_is_late() -> None:
    """--rate is a schedule: a dispatch that wakes up late must not push
    every later op back. At 400 ops/s with every wake-up 1 ms late (a busy
    driver), 2 s still send about 800 ops, not 2/3 of them."""
    gen: g.Generator = g.stagger(1 / 400, g.repeat({"f": "read"}))
    rng = random.Random(5)  # one stream across calls, as the interpreter's
    now, sent = 0, 0
    while now < 2 * NS:
        res = gen.op(g.Context(time=now, free_threads=frozenset({0}), workers={0: 0}, rng=rng))
        assert res is not None and res is not g.PENDING
        op, nxt = res
        if op.time > now:
            now = op.time + 1_000_000  # woke up for it, 1 ms late; ask again
            continue
        sent += 1
        gen = nxt
    assert 0.95 * 800 <= sent <= 1.05 * 800, sent


def test_the_register_mix_weights_the_ops() -> None:
    """--mix R:W:C: a weight of 0 leaves that op out; the others come in proportion."""
    import random as _random
    from collections import Counter

    from pyharness.gen import generator as gen
    from pyharness.workloads.register import _ops

    def fs(mix: str, n: int = 3000) -> Counter[str]:
        ctx = gen.Context(time=0, free_threads=frozenset({0}), workers={0: 0},
                          rng=_random.Random(7))
        g: gen.Generator | None = _ops({"mix": mix})
        out: Counter[str] = Counter()
        for _ in range(n):
            assert g is not None
            res = g.op(ctx)
            op, g = res  # type: ignore[misc]
            out[op.f] += 1
        return out

    assert set(fs("0:0:1")) == {"cas"}
    mixed = fs("1:0:3")
    assert set(mixed) == {"read", "cas"}
    assert 2.5 < mixed["cas"] / mixed["read"] < 3.5


def test_only_generators_that_listen_are_handed_completions() -> None:
    fn = g.Fn(lambda _c: {"f": "read"})
    assert g.limit(3, g.mix(fn, fn)).ignores_updates()
    assert g.seq(fn, g.until_ok(fn)).ignores_updates()  # only the head is updated
    listening = g.limit(5, g.until_ok(fn))
    assert not listening.ignores_updates()
    assert not g.mix(fn, listening).ignores_updates()
    # Inside independent keys, a listening generator still learns of its ok:
    # until_ok stops its key after the first ok, and the group moves on.
    ind = g.independent(1, lambda _k: g.until_ok(g.Fn(lambda _c: {"f": "read"})))
    c = ctx({0})
    keys = []
    for _ in range(3):
        op, ind = ind.op(c)
        keys.append(op.value[0])
        ind = ind.update(c, op)
        ind = ind.update(c, op.completion(OK, value=[op.value[0], 1]))
    assert keys == [0, 1, 2]


def test_full_collections_are_rare_while_ops_run_and_as_before_after(tmp_path: Path) -> None:
    import gc

    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []

    class Watching(Register):
        def invoke(self, test: object, op: Op) -> Op:
            seen.append(gc.get_threshold())
            return super().invoke(test, op)

    ops = run(tmp_path, g.clients(g.limit(5, g.repeat({"f": "read"}))), Watching())
    assert len(ops) == 10 and len(seen) == 5
    # young generations as they were; the full pass waits for many more of theirs
    assert all(t[:2] == before[:2] and t[2] >= interpreter._FULL_GC_AFTER for t in seen)
    assert gc.get_threshold() == before
    # a run that ends in an error restores it too
    (tmp_path / "stuck").mkdir()
    with pytest.raises(interpreter.GeneratorStuck):
        run(tmp_path / "stuck", g.clients(g.phases(g.limit(1, g.repeat({"f": "read"})),
                                                   g.Fn(lambda _: {"f": "x", "process": 99}))),
            Watching())
    assert gc.get_threshold() == before


def test_independent_picks_among_free_groups_evenly_however_many_are_busy() -> None:
    # 100 groups, only the first two with free threads: enough free threads to
    # walk the groups rather than gather them, and a long run of busy ones
    # before group 0 that must not favour it.
    procs = {t: t for t in range(1000)}
    free = set(range(1, 10)) | set(range(11, 20))
    first = Counter()
    for seed in range(1000):
        gen = g.independent(10, lambda _k: g.Fn(lambda _c: {"f": "read"}))
        res = gen.op(g.Context(0, free, procs, random.Random(seed), dict(procs)))
        assert res is not None and res is not g.PENDING
        first[res[0].process // 10] += 1
    assert set(first) == {0, 1} and min(first.values()) > 400
