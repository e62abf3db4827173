"""Keys searched in worker processes (checkers.linear_parallel) judge as the
sequential passes do, stop as they do, and fail as they do."""

from __future__ import annotations

import os
import random
import time
from typing import Any

import pytest

import checkers.linear_parallel as lp
import checkers.linearizable as lin
from checkers.core import CheckerFailure
from checkers.linearizable import Linearizable
from checkers.models import Call, CasRegister, make_model
from pyharness.history import Op
from tests.unit.test_linearizable import (
    brute_force,
    concurrent_appends,
    h,
    linearizable_history,
    random_history,
    register_semantics,
    two_keys,
)


def keyed(parts: dict[Any, list[Op]]) -> list[Op]:
    """Each key's history as ``[key v]`` values on processes of its own, interleaved."""
    rng = random.Random(len(parts))
    queues = [[(k, op) for op in ops] for k, ops in parts.items()]
    out: list[Op] = []
    while any(queues):
        q = rng.choice([q for q in queues if q])
        k, op = q.pop(0)
        proc = op.process if not isinstance(op.process, int) else f"{k}-{op.process}"
        out.append(Op(op.type, op.f, [k, op.value], proc, len(out), index=len(out)))
    return out


def verdicts(res: dict[str, Any]) -> dict[str, Any]:
    return {k: r["valid?"] for k, r in res["keys"].items()}


def children() -> set[str]:
    """The pids of this process's children (running or zombies)."""
    me = str(os.getpid())
    out = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[1] == me:
                        out.add(pid)
            except OSError:
                continue
    return out


BEFORE: set[str] = set()


@pytest.fixture(autouse=True)
def _children_before() -> None:
    """Other tests of the suite may leave processes of their own running."""
    BEFORE.clear()
    BEFORE.update(children())


def no_children_left() -> bool:
    """No process this test started is still running (nor a zombie)."""
    return not (children() - BEFORE)


@pytest.mark.parametrize("seed", range(12))
def test_parallel_keys_give_the_sequential_verdicts(seed: int) -> None:
    """Random multi-key histories, tiny keys held to the brute-force oracle
    and larger ones (linearizable by construction, some with one read made
    stale): every key's verdict is the same in workers as in this process."""
    rng = random.Random(seed)
    semantics = ["knossos", "porcupine", "ours"][seed % 3]
    model, definite = register_semantics(semantics)
    parts: dict[Any, list[Op]] = {}
    for k in range(rng.randrange(2, 7)):
        if rng.random() < 0.5:
            parts[k] = random_history(rng, rng.randrange(1, 7), rng.randrange(1, 4))
        else:
            ops = linearizable_history(rng, rng.randrange(50, 400), 4)
            if rng.random() < 0.5:
                reads = [op for op in ops if op.type == "ok" and op.f == "read"]
                if reads:
                    rng.choice(reads).value = 7  # never written
            parts[k] = ops
    hist = keyed(parts)
    seq = Linearizable(model, definite_fail=definite, independent="tuple", workers=1,
                       time_limit=60).check({}, hist)
    par = Linearizable(model, definite_fail=definite, independent="tuple", workers=2,
                       time_limit=60).check({}, hist)
    assert verdicts(par) == verdicts(seq)
    assert par["valid?"] == seq["valid?"]
    assert [f["key"] for f in par["failures"]] == [f["key"] for f in seq["failures"]]
    for k, ops in parts.items():
        if len(ops) <= 14 and seq["keys"][str(k)]["valid?"] != "unknown":
            assert par["keys"][str(k)]["valid?"] is brute_force(model, ops, definite), k
    assert no_children_left()


def test_every_refuted_key_is_reported_in_key_order() -> None:
    """Several keys refuted in their first slices: all of them are reported,
    in key order, however the workers were scheduled."""
    bad = h((0, "invoke", "write", 1), (0, "ok", "write", 1),
            (1, "invoke", "read", None), (1, "ok", "read", 2))
    good = h((0, "invoke", "write", 1), (0, "ok", "write", 1))
    parts = {k: (bad if k in (1, 4, 6) else good) for k in range(8)}
    for _ in range(3):
        res = Linearizable("cas-register", independent="tuple", workers=2).check(
            {}, keyed({k: [Op(o.type, o.f, o.value, o.process, o.time) for o in ops]
                       for k, ops in parts.items()}))
        assert res["valid?"] is False
        assert [f["key"] for f in res["failures"]] == ["1", "4", "6"]


def refuted_a_and_hard_b() -> list[Op]:
    """Key "a", refuted at once; key "b", far longer than a short look."""
    a = h((0, "invoke", "append", "x"), (0, "ok", "append", "x"),
          (0, "invoke", "get", None), (0, "ok", "get", ""))
    b = concurrent_appends(14, seen="".join(f"<{p}>" for p in range(13)))
    return two_keys(a, b)


def test_a_refuted_key_stops_the_others() -> None:
    """Key "b" would take far longer than its look; once "a" is refuted, "b"
    (in flight in the other worker) stops soon and says why."""
    t0 = time.monotonic()
    res = Linearizable("kv", initial="", independent="key", workers=2,
                       time_limit=60).check({}, refuted_a_and_hard_b())
    assert time.monotonic() - t0 < 5
    assert res["keys"]["a"]["valid?"] is False
    assert res["keys"]["b"]["valid?"] == "unknown"
    assert res["keys"]["b"]["reason"] == (
        "not decided: the search stopped once key a was found not linearizable")
    assert no_children_left()


def test_a_slice_in_flight_is_hurried_once_another_key_is_refuted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every slice long (a second at first): "a" is refuted at once, while
    "b" is in its first slice in the other worker; "b" ends within its short
    look, not its slice."""
    monkeypatch.setattr(lin, "SHORT_PASSES_S", (5.0,))
    t0 = time.monotonic()
    res = Linearizable("kv", initial="", independent="key", workers=2,
                       time_limit=60).check({}, refuted_a_and_hard_b())
    assert time.monotonic() - t0 < 2.5
    assert res["keys"]["b"]["reason"] == (
        "not decided: the search stopped once key a was found not linearizable")


class Fussy(CasRegister):
    """A register whose step cannot take the value 13."""

    def step(self, state: Any, call: Call) -> tuple[Any, ...]:
        if call.arg == 13:
            raise ValueError("unlucky")
        return super().step(state, call)


def test_a_workers_exception_is_the_same_one_line_failure() -> None:
    parts = {k: h((0, "invoke", "write", 1), (0, "ok", "write", 1)) for k in range(4)}
    parts[2] = h((0, "invoke", "write", 13), (0, "ok", "write", 13))
    hist = keyed(parts)
    failures = []
    for workers in (1, 2):
        with pytest.raises(CheckerFailure) as info:
            Linearizable(Fussy(), independent="tuple", workers=workers).check({}, hist)
        failures.append(info.value)
    seq, par = failures
    assert (par.reason, par.key, par.op) == (seq.reason, seq.key, seq.op)
    assert par.key == "2" and par.reason == "ValueError: unlucky"
    assert par.op is not None and par.op.value == [2, 13]
    assert no_children_left()


def test_ctrl_c_ends_the_workers() -> None:
    """An interrupt in the parent (here, from its progress callback) ends
    every worker: no process is left behind."""
    parts = {k: linearizable_history(random.Random(k), 3000, 10) for k in range(4)}
    checker = Linearizable("cas-register", independent="tuple", workers=2)

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    checker.progress = interrupt
    with pytest.raises(KeyboardInterrupt):
        checker.check({}, keyed(parts))
    assert no_children_left()


def test_progress_advances_in_the_parent() -> None:
    parts = {k: linearizable_history(random.Random(k), 2000, 5) for k in range(4)}
    seen: list[tuple[int, int]] = []
    checker = Linearizable("cas-register", independent="tuple", workers=2)
    checker.progress = lambda done, total: seen.append((done, total))
    assert checker.check({}, keyed(parts))["valid?"] is True
    total = seen[-1][1]
    assert seen[-1] == (total, total) and len(seen) >= 4


def test_small_histories_and_one_core_stay_in_this_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("a pool was started")

    monkeypatch.setattr(lin, "run_parallel", no_pool)
    parts = {k: h((0, "invoke", "write", k), (0, "ok", "write", k)) for k in range(5)}
    assert Linearizable("cas-register", independent="tuple").check(
        {}, keyed(parts))["valid?"] is True  # 10 ops
    big = {k: linearizable_history(random.Random(k), 2000, 5) for k in range(3)}
    monkeypatch.setattr(lp, "usable_cores", lambda: 1)
    assert Linearizable("cas-register", independent="tuple").check(
        {}, keyed(big))["valid?"] is True
    assert lp.workers_for([100_000]) == 1  # one key
    monkeypatch.setattr(lp, "usable_cores", lambda: 2)
    assert lp.workers_for([5_000, 5_000]) == 2
    assert lp.workers_for([5, 5]) == 1


def test_the_time_limit_holds_for_the_whole_history() -> None:
    parts = {k: concurrent_appends(14, seen="".join(f"<{p}>" for p in range(13)))
             for k in ("a", "b", "c")}
    ops: list[Op] = []
    for k, part in parts.items():
        for op in part:
            op.extra["key"] = k
            op.process = f"{k}{op.process}"
            ops.append(op)
    for i, op in enumerate(ops):
        op.index = i
    t0 = time.monotonic()
    res = Linearizable(make_model("kv", initial=""), independent="key", workers=2,
                       time_limit=1.0).check({}, ops)
    assert time.monotonic() - t0 < 1.0 + lp.GRACE_S
    assert res["valid?"] == "unknown"
    assert all(r["reason"].startswith("time limit reached") for r in res["keys"].values())
    assert no_children_left()
