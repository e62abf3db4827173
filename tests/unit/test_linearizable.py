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
from checkers.linear_prep import Problem, prepare
from checkers.linear_search import Search
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
    more than the first pass's 0.5 s: the key goes into the next pass (with
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
