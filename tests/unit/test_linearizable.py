"""Linearizability checker: crafted histories, budgets, reports, and a brute-force oracle."""

from __future__ import annotations

import itertools
import multiprocessing
import random
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.core import compose
from checkers.linear_dfs import DepthFirst
from checkers.linear_prep import CLOSE, Problem, prepare
from checkers.linear_search import TIME_LIMIT, Abort, Search
from checkers.linearizable import Linearizable
from checkers.models import Call, Model, make_model
from pyharness.history import Op


def h(*rows: tuple[Any, str, str, Any]) -> list[Op]:
    """History from (process, type, f, value) rows."""
    ops = [Op(type=t, f=f, value=v, process=p) for p, t, f, v in rows]
    for i, op in enumerate(ops):
        op.index = i
    return ops


def knossos(**kw: Any) -> Linearizable:
    return Linearizable("cas-register", initial=0, nil_read_matches_any=True, **kw)


def ours(**kw: Any) -> Linearizable:
    return Linearizable("cas-register", initial=None, independent="tuple", **kw)


# -- crafted histories --------------------------------------------------------

def test_sequential_history_is_linearizable() -> None:
    hist = h((0, "invoke", "write", 1), (0, "ok", "write", 1),
             (0, "invoke", "read", None), (0, "ok", "read", 1),
             (0, "invoke", "cas", [1, 2]), (0, "ok", "cas", [1, 2]),
             (0, "invoke", "read", None), (0, "ok", "read", 2))
    assert knossos().check({}, hist)["valid?"] is True


def test_stale_read_after_completed_write_is_not_linearizable() -> None:
    hist = h((0, "invoke", "write", 1), (0, "ok", "write", 1),
             (0, "invoke", "write", 2), (0, "ok", "write", 2),
             (1, "invoke", "read", None), (1, "ok", "read", 1))
    res = knossos().check({}, hist)
    assert res["valid?"] is False
    key = res["keys"]["all"]
    assert key["op"]["index"] == 4 and key["op"]["f"] == "read" and key["op"]["value"] == 1
    assert key["previous-states"] == ["2"]
    assert key["linearized-prefix"] == [0, 2]  # the two writes, in order


def test_concurrent_write_may_be_seen_by_overlapping_reads_in_either_order() -> None:
    # read 1 then read 0 while a write of 1 is pending: 0 must precede 1
    hist = h((0, "invoke", "write", 1),
             (1, "invoke", "read", None), (1, "ok", "read", 0),
             (2, "invoke", "read", None), (2, "ok", "read", 1),
             (0, "ok", "write", 1))
    assert knossos().check({}, hist)["valid?"] is True
    # but once a reader saw 1, a later (non-overlapping) read of 0 is a violation
    bad = h((0, "invoke", "write", 1),
            (2, "invoke", "read", None), (2, "ok", "read", 1),
            (1, "invoke", "read", None), (1, "ok", "read", 0),
            (0, "ok", "write", 1))
    assert knossos().check({}, bad)["valid?"] is False


def test_crashed_write_may_take_effect_late_or_never() -> None:
    late = h((0, "invoke", "write", 3), (0, "info", "write", 3),
             (1, "invoke", "read", None), (1, "ok", "read", 0),
             (1, "invoke", "read", None), (1, "ok", "read", 3))
    assert knossos().check({}, late)["valid?"] is True
    never = h((0, "invoke", "write", 3), (0, "info", "write", 3),
              (1, "invoke", "read", None), (1, "ok", "read", 0))
    assert knossos().check({}, never)["valid?"] is True
    # it takes effect at most once: 3, then 4, then 3 again is impossible
    twice = h((0, "invoke", "write", 3), (0, "info", "write", 3),
              (1, "invoke", "read", None), (1, "ok", "read", 3),
              (1, "invoke", "write", 4), (1, "ok", "write", 4),
              (1, "invoke", "read", None), (1, "ok", "read", 3))
    assert knossos().check({}, twice)["valid?"] is False


def test_crashed_write_cannot_act_before_its_invocation() -> None:
    hist = h((1, "invoke", "read", None), (1, "ok", "read", 3),
             (0, "invoke", "write", 3), (0, "info", "write", 3))
    assert knossos().check({}, hist)["valid?"] is False


def test_many_crashed_writes_stay_cheap() -> None:
    rows: list[tuple[Any, str, str, Any]] = []
    for p in range(200):  # 200 crashed writers, all pending to the end
        rows.append((p, "invoke", "write", p % 5))
        rows.append((p, "info", "write", p % 5))
    for i in range(200):
        rows.append((1000, "invoke", "read", None))
        rows.append((1000, "ok", "read", i % 5))
    res = knossos(time_limit=30).check({}, h(*rows))
    assert res["valid?"] is True
    assert res["keys"]["all"]["max-frontier"] < 50


def test_failed_ops_are_dropped_in_jepsen_semantics() -> None:
    hist = h((0, "invoke", "write", 1), (0, "fail", "write", 1),
             (1, "invoke", "read", None), (1, "ok", "read", 0))
    assert knossos().check({}, hist)["valid?"] is True


def test_definite_failed_cas_must_fit_where_the_compare_fails() -> None:
    # register holds 1 throughout; cas [1 2] claims it found something else
    rows = [(0, "invoke", "write", 1), (0, "ok", "write", 1),
            (1, "invoke", "cas", [1, 2]), (1, "fail", "cas", [1, 2])]
    porcupine = Linearizable("cas-register", initial=None, definite_fail=True)
    assert porcupine.check({}, h(*rows))["valid?"] is False
    assert knossos().check({}, h(*rows))["valid?"] is True  # dropped there
    # with a concurrent write of 3 the failed cas can be placed after it
    rows2 = [(0, "invoke", "write", 1), (0, "ok", "write", 1),
             (2, "invoke", "write", 3),
             (1, "invoke", "cas", [1, 2]), (1, "fail", "cas", [1, 2]),
             (2, "ok", "write", 3)]
    assert porcupine.check({}, h(*rows2))["valid?"] is True


def test_nil_read_semantics_are_an_option() -> None:
    rows = [(0, "invoke", "write", 1), (0, "ok", "write", 1),
            (1, "invoke", "read", None), (1, "ok", "read", None)]
    assert knossos().check({}, h(*rows))["valid?"] is True  # nil matches anything
    assert Linearizable("cas-register").check({}, h(*rows))["valid?"] is False  # nil = empty


def test_independent_keys_are_checked_separately() -> None:
    rows = [(0, "invoke", "write", ["a", 1]), (0, "ok", "write", ["a", 1]),
            (1, "invoke", "write", ["b", 2]), (1, "ok", "write", ["b", 2]),
            (0, "invoke", "read", ["a", None]), (0, "ok", "read", ["a", 1]),
            (1, "invoke", "read", ["b", None]), (1, "ok", "read", ["b", 1])]
    res = ours().check({}, h(*rows))
    assert res["valid?"] is False
    assert res["keys"]["a"]["valid?"] is True
    assert res["keys"]["b"]["valid?"] is False
    assert [f["key"] for f in res["failures"]] == ["b"]
    absent = h((0, "invoke", "read", ["c", None]), (0, "ok", "read", ["c", None]))
    assert ours().check({}, absent)["valid?"] is True


def test_nemesis_and_unknown_functions_are_ignored() -> None:
    rows = [("nemesis", "info", "kill", None),
            (0, "invoke", "write", 2), (0, "ok", "write", 2),
            (0, "invoke", "add", 7), (0, "ok", "add", 7),
            (1, "invoke", "read", None), (1, "ok", "read", 2)]
    res = knossos().check({}, h(*rows))
    assert res["valid?"] is True
    assert res["ignored-ops"] == 1


def test_time_limit_gives_unknown_with_reason() -> None:
    rows: list[tuple[Any, str, str, Any]] = []
    for i in range(3000):
        rows += [(i % 3, "invoke", "write", i % 5), (i % 3, "ok", "write", i % 5)]
    res = knossos(time_limit=0.0).check({}, h(*rows))
    assert res["valid?"] == "unknown"
    assert res["keys"]["all"]["reason"] == "time limit reached"
    assert res["unknown"] == ["all"]


def test_config_bound_gives_unknown_with_reason() -> None:
    # Concurrent appends and a get that misses one: every order of the appends
    # is a state, more configurations than allowed, and too many orders for
    # the depth-first search to rule out within the time limit.
    hist = concurrent_appends(14, seen="".join(f"<{p}>" for p in range(13)))
    res = Linearizable("kv", initial="", max_configs=5, time_limit=1.0).check({}, hist)
    assert res["valid?"] == "unknown"
    assert "configurations" in res["keys"]["all"]["reason"]


def test_failure_report_writes_self_contained_html(tmp_path: Path) -> None:
    hist = h((0, "invoke", "write", 1), (0, "ok", "write", 1),
             (1, "invoke", "write", 2),
             (0, "invoke", "read", None), (0, "ok", "read", 2),
             (1, "ok", "write", 2),
             (2, "invoke", "read", None), (2, "info", "read", None),
             (0, "invoke", "read", None), (0, "ok", "read", 1))
    res = knossos(out_dir=tmp_path).check({}, hist)
    assert res["valid?"] is False
    path = Path(res["keys"]["all"]["file"])
    assert path == tmp_path / "linear-all.html"
    text = path.read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in text
    svg = text[text.index("<svg"):text.index("</svg>") + 6]
    ElementTree.fromstring(svg)  # well-formed
    assert "CANNOT BE LINEARIZED" in text and "read -&gt; 1" in text


def test_checker_composes_under_the_core_protocol() -> None:
    hist = h((0, "invoke", "write", 1), (0, "ok", "write", 1))
    out = compose([knossos()], {}, hist)
    assert out["valid?"] is True and out["linear"]["valid?"] is True


def test_kv_model_checks_appends_per_key() -> None:
    rows = [(0, "invoke", "append", "x"), (0, "ok", "append", "x"),
            (1, "invoke", "append", "y"), (1, "ok", "append", "y"),
            (2, "invoke", "get", None), (2, "ok", "get", "yx")]
    res = Linearizable("kv", initial="").check({}, h(*rows))
    assert res["valid?"] is False
    res2 = Linearizable("kv", initial="").check({}, h(*rows[:4], (2, "invoke", "get", None),
                                                    (2, "ok", "get", "xy")))
    assert res2["valid?"] is True


def test_a_new_model_plugs_in_without_touching_the_search() -> None:
    class Counter(Model):
        name = "counter"
        fs = frozenset({"inc", "read"})

        def init(self) -> int:
            return 0

        def step(self, state: Any, call: Call) -> tuple[Any, ...]:
            if call.f == "inc":
                return (state + 1,)
            return (state,) if call.status != "ok" or call.ret == state else ()

        def read_only(self, call: Call) -> bool:
            return call.f == "read"

    rows = [(0, "invoke", "inc", None), (1, "invoke", "inc", None),
            (2, "invoke", "read", None), (2, "ok", "read", 1),
            (0, "ok", "inc", None), (1, "ok", "inc", None),
            (2, "invoke", "read", None), (2, "ok", "read", 2)]
    assert Linearizable(Counter()).check({}, h(*rows))["valid?"] is True
    rows[-1] = (2, "ok", "read", 3)
    assert Linearizable(Counter()).check({}, h(*rows))["valid?"] is False


# -- a brute-force oracle on tiny random histories ----------------------------

def brute_force(model: Model, hist: list[Op], definite_fail: bool) -> bool:
    """Try every order of the ops: ok ops within their intervals, crashed ops anywhere
    after invocation or not at all."""
    problems, _ = prepare(hist, model, definite_fail=definite_fail)
    for prob in problems.values():
        pos = {}
        for i, (_, eid) in enumerate(prob.events):
            pos.setdefault(eid, []).append(i)
        inv = {e.id: pos[e.id][0] for e in prob.entries}
        ret = {e.id: pos[e.id][1] if not e.crashed else 1 << 30 for e in prob.entries}
        must = [e.id for e in prob.entries if not e.crashed]
        crashed = [e.id for e in prob.entries if e.crashed]
        found = False
        for k in range(len(crashed) + 1):
            for extra in itertools.combinations(crashed, k):
                for order in itertools.permutations(must + list(extra)):
                    # real time: nothing may be placed after an op invoked after it returned
                    if any(ret[a] < inv[b] for i, b in enumerate(order) for a in order[i + 1:]):
                        continue
                    states = [model.init()]
                    for eid in order:
                        call = prob.entries[eid].call
                        states = [s2 for s in states for s2 in model.step(s, call)]
                        if not states:
                            break
                    if states:
                        found = True
                        break
                if found:
                    break
            if found:
                break
        if not found:
            return False
    return True


def random_history(rng: random.Random, n_ops: int, n_procs: int) -> list[Op]:
    rows: list[tuple[Any, str, str, Any]] = []
    open_: dict[int, tuple[str, Any]] = {}
    procs = list(range(n_procs))
    nxt = n_procs
    started = 0
    while started < n_ops or open_:
        p = rng.choice(procs)
        if p in open_:
            f, v = open_.pop(p)
            r = rng.random()
            if r < 0.15:
                rows.append((p, "info", f, v))
                procs[procs.index(p)] = nxt
                nxt += 1
            elif r < 0.3 and f == "cas":
                rows.append((p, "fail", f, v))
            else:
                rows.append((p, "ok", f, rng.choice([0, 1, 2, None]) if f == "read" else v))
        elif started < n_ops:
            f = rng.choice(["read", "write", "cas"])
            v = None if f == "read" else rng.randrange(3) if f == "write" else \
                [rng.randrange(3), rng.randrange(3)]
            rows.append((p, "invoke", f, v))
            open_[p] = (f, v)
            started += 1
        if started >= n_ops and open_ and rng.random() < 0.1:
            break  # leave some ops open at the end
    return h(*rows)


def register_semantics(name: str) -> tuple[Model, bool]:
    """(model, definite_fail) for each source's reading of a cas register."""
    if name == "knossos":
        return make_model("cas-register", initial=0, nil_read_matches_any=True), False
    return make_model("cas-register", initial=None), name == "porcupine"


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), n_ops=st.integers(1, 6), n_procs=st.integers(1, 3),
       semantics=st.sampled_from(["knossos", "porcupine", "ours"]))
def test_agrees_with_brute_force_on_tiny_histories(seed: int, n_ops: int, n_procs: int,
                                                   semantics: str) -> None:
    hist = random_history(random.Random(seed), n_ops, n_procs)
    model, definite = register_semantics(semantics)
    got = Linearizable(model, definite_fail=definite).check({}, hist)["valid?"]
    expected = brute_force(model, hist, definite)
    assert got is expected
    # the competition's depth-first search, alone
    assert dfs_verdict(model, hist, definite) is expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["read", "write", "cas"]), st.integers(0, 3),
                          st.integers(0, 3)), min_size=1, max_size=40),
       st.integers(1, 5))
def test_sequential_runs_of_the_model_are_always_linearizable(
        steps: list[tuple[str, int, int]], n_procs: int) -> None:
    # ops run one at a time against the model itself, by rotating processes
    model = make_model("cas-register", initial=0)
    state: Any = 0
    rows: list[tuple[Any, str, str, Any]] = []
    for i, (f, a, b) in enumerate(steps):
        p = i % n_procs
        if f == "read":
            rows += [(p, "invoke", "read", None), (p, "ok", "read", state)]
        elif f == "write":
            rows += [(p, "invoke", "write", a), (p, "ok", "write", a)]
            state = a
        else:
            ok = state == a
            rows += [(p, "invoke", "cas", [a, b]), (p, "ok" if ok else "fail", "cas", [a, b])]
            state = b if ok else state
    assert Linearizable(model).check({}, h(*rows))["valid?"] is True


# -- the depth-first rival -----------------------------------------------------

def dfs_verdict(model: Model, hist: list[Op], definite_fail: bool) -> bool | None:
    """The depth-first search alone, on every key: None if it did not decide."""
    problems, _ = prepare(hist, model, definite_fail=definite_fail)
    verdicts = [depth_first(model, prob).decide(2_000_000) for prob in problems.values()]
    return False if False in verdicts else None if None in verdicts else True


def depth_first(model: Model, prob: Problem) -> DepthFirst:
    calls = [e.call for e in prob.entries]
    return DepthFirst(prob, model.init(), lambda s, c: tuple(model.step(s, calls[c])),
                      list(range(len(calls))))


def concurrent_appends(n: int, seen: str | None = None) -> list[Op]:
    """n appends all in flight at once, then a get of ``seen`` (default: all of
    them in invocation order): every order of the appends is a distinct state."""
    rows: list[tuple[Any, str, str, Any]] = []
    rows += [(p, "invoke", "append", f"<{p}>") for p in range(n)]
    rows += [(p, "ok", "append", f"<{p}>") for p in range(n)]
    got = "".join(f"<{p}>" for p in range(n)) if seen is None else seen
    rows += [(n, "invoke", "get", None), (n, "ok", "get", got)]
    return h(*rows)


def test_the_frontier_alone_drowns_in_concurrent_appends() -> None:
    """What the competition is for: the frontier holds every order of the
    appends, and runs out of room."""
    problems, _ = prepare(concurrent_appends(40), make_model("kv", initial=""))
    search = Search(make_model("kv", initial=""), problems[None], max_configs=20_000)
    search.rival_after_s = None  # the frontier search alone
    res = search.run()
    assert res.valid == "unknown" and "configurations" in (res.reason or "")


@pytest.mark.parametrize("forked", [True, False], ids=["own-process", "in-turns"])
def test_the_depth_first_rival_decides_where_the_frontier_drowns(forked: bool) -> None:
    model = make_model("kv", initial="")
    problems, _ = prepare(concurrent_appends(40), model)
    search = Search(model, problems[None], max_configs=20_000)
    search.rival_forked = forked
    assert search.run().valid is True
    assert search.rival is not None and search.rival.forked is forked
    assert not multiprocessing.active_children()  # the child is gone
    res = Linearizable("kv", initial="", max_configs=20_000).check({}, concurrent_appends(40))
    assert res["valid?"] is True, res["keys"]["all"]
    # A get that misses an append that completed before it: not linearizable,
    # found on the first order tried, with the op and the state it saw.
    bad = concurrent_appends(3, seen="<0><1>")
    res = Linearizable("kv", initial="").check({}, bad)
    assert res["valid?"] is False
    assert res["failures"][0]["f"] == "get"


def test_a_decided_key_stops_the_passes_and_the_rest_say_why() -> None:
    """Once one key is not linearizable, undecided keys get a short look only,
    and report why they stayed unknown."""
    a = h((0, "invoke", "append", "x"), (0, "ok", "append", "x"),
          (0, "invoke", "get", None), (0, "ok", "get", ""))
    # key "b": appends in flight at once and a get that misses one, too many
    # orders to rule out
    b = concurrent_appends(14, seen="".join(f"<{p}>" for p in range(13)))
    res = Linearizable("kv", initial="", independent="key").check({}, two_keys(a, b))
    assert res["valid?"] is False
    assert res["keys"]["a"]["valid?"] is False
    assert res["keys"]["b"]["valid?"] == "unknown"
    assert res["keys"]["b"]["reason"] == (
        "not decided: the search stopped once key a was found not linearizable")


def two_keys(a: list[Op], b: list[Op]) -> list[Op]:
    """Key "a"'s ops, then key "b"'s (on processes of their own), as one kv history."""
    for op in a:
        op.extra["key"] = "a"
    for op in b:
        op.process += 1
        op.extra["key"] = "b"
    ops = a + b
    for i, op in enumerate(ops):
        op.index = i
    return ops


def test_a_key_whose_rival_ran_out_of_its_pass_is_searched_again() -> None:
    """The frontier hits its bound at once and the depth-first search needs
    more than its first passes' budgets: the key goes into the next pass (with
    more time) instead of ending unknown."""
    a = h((0, "invoke", "append", "x"), (0, "ok", "append", "x"))
    b = concurrent_appends(9, seen="".join(f"<{p}>" for p in range(8)))
    res = Linearizable("kv", initial="", independent="key", max_configs=5,
                       time_limit=60).check({}, two_keys(a, b))
    assert res["keys"]["a"]["valid?"] is True
    assert res["keys"]["b"]["valid?"] is False, res["keys"]["b"]


def test_a_refused_fork_falls_back_to_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    import checkers.linear_rival as rival_mod

    real = rival_mod.multiprocessing.get_context

    class NoFork:
        def __init__(self) -> None:
            self.ctx = real("fork")

        def Pipe(self, duplex: bool = True) -> Any:
            return self.ctx.Pipe(duplex=duplex)

        def Process(self, **kw: Any) -> Any:
            proc = self.ctx.Process(**kw)

            def refuse() -> None:
                raise OSError(11, "Resource temporarily unavailable")
            proc.start = refuse
            return proc

    monkeypatch.setattr(rival_mod.multiprocessing, "get_context", lambda _kind: NoFork())
    model = make_model("kv", initial="")
    problems, _ = prepare(concurrent_appends(40), model)
    search = Search(model, problems[None], max_configs=20_000)
    search.rival_forked = True
    assert search.run().valid is True
    assert search.rival is not None and not search.rival.forked


def _stopping(search: Search, every: int) -> list[int]:
    """Make ``search``'s clock checks stop it as if its deadline came: the
    first turn at its ``every``-th check, each later turn one check later (as
    the passes' budgets grow, so a long closure ends at last). The count of
    stops so far is returned, and grows as the search goes."""
    real = search._check_time
    stops = [0]
    calls = [0]

    def check(crowded: bool = False) -> None:
        calls[0] += 1
        if calls[0] == every + stops[0]:
            stops[0] += 1
            calls[0] = 0
            raise Abort(TIME_LIMIT)
        real(crowded)

    search._check_time = check  # type: ignore[method-assign]
    return stops


def linearizable_history(rng: random.Random, n_ops: int, n_procs: int) -> list[Op]:
    """A cas-register history that is linearizable by construction: each op
    takes effect at a random step between its invocation and completion;
    one op in twenty crashes (``info``), taking effect or not."""
    rows: list[tuple[Any, str, str, Any]] = []
    state: Any = None
    open_: dict[int, list[Any]] = {}  # process -> [f, value, result or None if not yet]
    procs = list(range(n_procs))
    started = 0
    while started < n_ops or open_:
        i = rng.randrange(n_procs)
        p = procs[i]
        op = open_.get(p)
        if op is None:
            if started < n_ops:
                f = rng.choice(["read", "write", "cas"])
                v = None if f == "read" else rng.randrange(3) if f == "write" else \
                    [rng.randrange(3), rng.randrange(3)]
                rows.append((p, "invoke", f, v))
                open_[p] = [f, v, None]
                started += 1
        elif op[2] is None:  # it takes effect now
            f, v, _ = op
            if f == "read":
                op[2] = ("ok", state)
            elif f == "write":
                state, op[2] = v, ("ok", v)
            else:
                ok = state == v[0]
                state = v[1] if ok else state
                op[2] = ("ok" if ok else "fail", v)
        else:
            f, _, (kind, value) = open_.pop(p)
            if rng.random() < 0.05:
                kind = "info"
                procs[i] = max(procs) + 1
            rows.append((p, kind, f, value))
    return h(*rows)


def _resume_cases() -> list[tuple[str, Model, list[Op]]]:
    kv = make_model("kv", initial="")
    reg = make_model("cas-register", initial=None)
    cases = [("appends ok", kv, concurrent_appends(7)),
             ("appends bad", kv, concurrent_appends(7, seen="<0><1><2><3><4><5>"))]
    for seed in range(4):
        cases.append((f"register {seed}", reg, random_history(random.Random(seed), 400, 4)))
        ok = linearizable_history(random.Random(seed), 800, 5)
        cases.append((f"linearizable {seed}", reg, ok))
        bad = linearizable_history(random.Random(seed), 800, 5)
        reads = [op for op in bad[len(bad) // 2:] if op.type == "ok" and op.f == "read"]
        reads[0].value = 7  # never written
        cases.append((f"late stale read {seed}", reg, bad))
    return cases


@pytest.mark.parametrize("every", [2, 3, 5])
@pytest.mark.parametrize("case", _resume_cases(), ids=lambda c: c[0])
def test_a_search_stopped_at_any_clock_check_resumes_to_the_same_answer(
        case: tuple[str, Model, list[Op]], every: int) -> None:
    """Stopped at its clock checks (between events, and inside a completion's
    closure) and resumed, a search ends exactly as one that ran straight
    through: same verdict, same op that cannot be placed, same states."""
    _, model, hist = case
    problem = prepare(hist, model)[0][None]
    straight = Search(model, problem)
    straight.rival_after_s = None
    checks = [0]
    real = straight._check_time

    def count(crowded: bool = False) -> None:
        checks[0] += 1
        real(crowded)

    straight._check_time = count  # type: ignore[method-assign]
    want = straight.run()
    search = Search(model, problem)
    search.rival_after_s = None
    stops = _stopping(search, every)
    res = search.run()
    turns = 1
    while res.timed_out:
        assert search.resumable and res.valid == "unknown"
        res = search.resume(None)
        turns += 1
    assert not search.resumable
    assert stops[0] == turns - 1
    if checks[0] >= every:
        assert stops[0] > 0  # it was stopped along the way
    assert (res.valid, res.failed_entry, res.previous_states, res.reachable_states,
            res.prefix) == (want.valid, want.failed_entry, want.previous_states,
                            want.reachable_states, want.prefix)


def test_a_search_stopped_inside_a_closure_resumes_there() -> None:
    """The appends' closure runs past a thousand configurations: a stop in it
    gives the completion's op back its place, and the next turn redoes it."""
    model = make_model("kv", initial="")
    problem = prepare(concurrent_appends(7), model)[0][None]
    search = Search(model, problem)
    search.rival_after_s = None
    _stopping(search, 4)
    res = search.run()
    assert res.timed_out and search._suspended is not None
    assert search._suspended.closing is None  # the op's bit was given back
    n = search._suspended.n
    assert problem.events[n][0] == CLOSE  # stopped in a completion
    while res.timed_out:
        res = search.resume(None)
    assert res.valid is True


def test_the_first_pass_is_short_so_a_refutable_key_is_found_early() -> None:
    """Key "a" takes seconds (eight appends at once); key "b" is refuted in
    milliseconds. The first pass gives each key a few hundredths of a second,
    so "b" decides the verdict long before "a" could have used the old 0.5 s."""
    a = concurrent_appends(8)
    b = h((0, "invoke", "append", "x"), (0, "ok", "append", "x"),
          (0, "invoke", "get", None), (0, "ok", "get", ""))
    checker = Linearizable("kv", initial="", independent="key", time_limit=60)
    res = checker.check({}, two_keys(a, b))
    assert res["valid?"] is False
    assert res["keys"]["b"]["valid?"] is False
    assert res["keys"]["a"]["valid?"] == "unknown"
    assert "stopped once key b was found" in res["keys"]["a"]["reason"]
    assert res["time-s"] < 0.35, res["time-s"]


def test_keys_cut_into_many_passes_keep_their_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    """With tiny pass budgets every hard key is stopped and resumed many times,
    and still ends with its verdict (the exact answers of a resumed search are
    the resume test's)."""
    import checkers.linearizable as lin

    monkeypatch.setattr(lin, "SHORT_PASSES_S", (0.001, 0.002, 0.004))
    monkeypatch.setattr(lin, "FULL_PASS_S", 0.008)
    monkeypatch.setattr(lin, "PASS_GROWTH", 1.5)
    for bad in (False, True):
        b = concurrent_appends(7, seen="<0><1><2><3><4><5>" if bad else None)
        ops = two_keys(concurrent_appends(7), b)
        res = Linearizable("kv", initial="", independent="key", time_limit=60).check({}, ops)
        # once b is refuted, a may be left undecided, saying why
        assert res["keys"]["a"]["valid?"] is True or (
            bad and "stopped once key b" in res["keys"]["a"]["reason"])
        assert res["keys"]["b"]["valid?"] is (not bad)
        assert res["valid?"] is (not bad)
        if bad:
            assert res["keys"]["b"]["op"]["f"] == "get"


def test_stopped_searches_hold_no_more_than_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past HELD_MAX, a stopped key starts afresh in its next pass, and still
    ends with the right verdict."""
    import checkers.linearizable as lin

    monkeypatch.setattr(lin, "SHORT_PASSES_S", (0.001,))
    monkeypatch.setattr(lin, "HELD_MAX", 0)
    ops = two_keys(concurrent_appends(7), concurrent_appends(7))
    res = Linearizable("kv", initial="", independent="key", time_limit=60).check({}, ops)
    assert res["valid?"] is True
