"""The linearizability checker.

Linearizability (Herlihy & Wing) asks whether every operation appears to
take effect atomically at some instant between its invocation and its
completion. It is the property etcd promises for its keys, and the one a
stale read, a lost write or a split brain breaks.

This checker follows the usual recipe:

1. split the history by key: keys are independent, and a history is
   linearizable iff each key's sub-history is (P-compositionality);
2. per key, search for a linearization against a sequential *model*
   (:mod:`checkers.models`) with a frontier of configurations
   (:mod:`checkers.linear_search`) and, for keys where that is slow, a
   depth-first search in competition (:mod:`checkers.linear_dfs`),
   honouring crashed (``info``) ops as "may have happened at any later
   time, or never". Keys go in passes of growing budgets, so that one hard
   key does not hold back the rest; once a key is not linearizable, keys
   still undecided stay unknown and say why. Large histories of several
   keys are searched on every core (:mod:`checkers.linear_parallel`);
3. report: ``True``, ``False`` (with the op that cannot be placed, the states
   just before it, the longest linearizable prefix, and an HTML drawing), or
   ``"unknown"`` when the time or memory budget runs out.

Sources differ in what their ops mean (see :mod:`pyharness.history.formats`): the
initial state, whether a read of nil matches anything, whether a failed op
is a definite answer or simply did not happen. Those are explicit options
here, never guesses from file names.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN, CheckerFailure, merge_valid
from checkers.explain import op_facts
from checkers.linear_parallel import Resumer, run_parallel, workers_for
from checkers.linear_prep import Independent, Problem, prepare
from checkers.linear_report import write_failure_html
from checkers.linear_search import DEFAULT_MAX_CONFIGS, Search, SearchResult
from checkers.models import Model, make_model
from checkers.windows import Window, fault_windows, history_end
from pyharness.history import Op

DEFAULT_TIME_LIMIT = 300.0
# Each key's budget in the passes over the keys: a short one, where the
# frontier searches alone (a refutable key is often refuted there, within
# milliseconds, and what the others did is kept), then FULL_PASS_S, where the
# depth-first rival joins in, and PASS_GROWTH times more in each later pass.
# (More short passes slow the keys the rival decides: it starts later.)
SHORT_PASSES_S = (0.02,)
FULL_PASS_S = 0.5
PASS_GROWTH = 4
AFTER_REFUTED_S = 0.1  # and once a key was found not linearizable
# What stopped searches may keep between passes (configurations and remembered
# steps, all keys together); past it, a stopped key starts again from scratch.
HELD_MAX = 1_000_000
_REGISTERS = {"register", "cas-register"}


def _budgets() -> Iterator[float]:
    """Each pass's budget for one key, in seconds."""
    yield from SHORT_PASSES_S
    budget = FULL_PASS_S
    while True:
        yield budget
        budget *= PASS_GROWTH


def _budget(i: int) -> float:
    """Pass ``i``'s budget (from 0)."""
    return next(itertools.islice(_budgets(), i, None))


def _key_order(key: Hashable) -> tuple[str, str]:
    return str(type(key)), str(key)


def key_label(key: Hashable) -> str:
    if key is None:
        return "all"
    if isinstance(key, tuple):
        return "[" + " ".join(map(str, key)) + "]"
    return str(key)


class Linearizable:
    """Checks that a history is linearizable with respect to a model.

    ``model``: a name from :data:`checkers.models.MODELS` or a Model.
    ``initial``, ``nil_read_matches_any``: the model's options.
    ``definite_fail``: a ``fail`` is a definite answer the model checks
    (Porcupine's etcd reading) rather than "did not happen" (Jepsen's).
    ``independent``: ``"tuple"`` for ``[key value]`` values, ``"key"`` for a
    ``key`` field, None for one register.
    ``time_limit`` (seconds, whole history) and ``max_configs`` bound the work.
    ``workers``: processes searching keys at once; None: the usable cores
    when the history is large enough to pay for it (1: in this process).
    ``out_dir``: where failure drawings go (none if None).
    """

    name = "linear"

    def __init__(self, model: str | Model = "cas-register", *, initial: Any = None,
                 nil_read_matches_any: bool = False, definite_fail: bool = False,
                 independent: Independent = None, time_limit: float | None = DEFAULT_TIME_LIMIT,
                 max_configs: int = DEFAULT_MAX_CONFIGS, out_dir: Path | str | None = None,
                 workers: int | None = None) -> None:
        self.model = model if isinstance(model, Model) else make_model(
            model, initial=initial, nil_read_matches_any=nil_read_matches_any)
        self.definite_fail = definite_fail
        self.independent = independent
        self.time_limit = time_limit
        self.max_configs = max_configs
        self.workers = workers
        self.out_dir = Path(out_dir) if out_dir is not None else None
        # Called with (events searched, events in all keys) as the search goes.
        self.progress: Callable[[int, int], None] | None = None

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        started = time.monotonic()
        deadline = None if self.time_limit is None else started + self.time_limit
        try:
            problems, ignored = prepare(history, self.model, definite_fail=self.definite_fail,
                                        independent=self.independent)
        except Exception as e:
            raise self._blame(history, None, e) from e
        self._history = history  # its fault windows explain a failure, if one is found
        self._windows: list[Window] | None = None
        keys: dict[str, Any] = {}
        failures: list[dict[str, Any]] = []
        write_errors: list[str] = []
        order = sorted(problems, key=_key_order)
        size = {k: len(problems[k].events) for k in order}
        resumer = Resumer(lambda key, until: Search(self.model, problems[key], until,
                                                    self.max_configs),
                          lambda key, e: self._blame(
                              [x for en in problems[key].entries
                               for x in (en.invoke, en.complete) if x is not None],
                              key_label(key), e),
                          HELD_MAX)
        results: dict[Hashable, SearchResult] = {}
        workers = workers_for(list(size.values()), self.workers)
        if workers > 1:
            outcome = run_parallel(order, list(size.values()), resumer, workers=workers,
                                   deadline=deadline, budget=_budget,
                                   after_refuted_s=AFTER_REFUTED_S, progress=self.progress)
            results, left = outcome.results, outcome.left_open
        else:
            left = self._in_turn(order, resumer, deadline, results, size)
        refuted_key = next((key_label(k) for k in order if results[k].valid is False), None)
        if refuted_key is not None:
            for key in left:
                results[key] = replace(results[key], reason=(
                    f"not decided: the search stopped once key {refuted_key} was found "
                    "not linearizable"))
        for key in sorted(results, key=_key_order):
            label = key_label(key)
            keys[label] = self._key_result(label, problems[key], results[key])
            if "write-error" in keys[label]:
                write_errors.append(keys[label]["write-error"])
            if results[key].valid is False:
                failure = {"key": label, **keys[label]["op"]}
                if "file" in keys[label]:
                    failure["file"] = keys[label]["file"]
                failures.append(failure)
        valid = merge_valid([r["valid?"] for r in keys.values()])
        out: dict[str, Any] = {
            "valid?": valid,
            "model": self.model.name,
            "key-count": len(keys),
            "keys": keys,
            "failures": failures,
            "unknown": [k for k, r in keys.items() if r["valid?"] == UNKNOWN],
            "time-s": round(time.monotonic() - started, 3),
        }
        if ignored:
            out["ignored-ops"] = ignored  # functions the model does not know
        if write_errors:
            out["write-errors"] = write_errors
        client = 0 if keys else sum(1 for op in history if op.is_client)
        if not history or (client and not keys):
            # Nothing judged is not "nothing wrong": say why instead of claiming valid.
            # Only nemesis ops, or ops that all failed, stay valid, as Knossos has it.
            if not history:
                reason = "the history is empty"
            elif ignored and not keys:
                fs = sorted({str(op.f) for op in history if op.is_client})
                reason = (f"model {self.model.name} does not fit the ops: it knows "
                          f"{', '.join(sorted(self.model.fs))}, the history has "
                          f"{', '.join(fs)}")
            else:
                reason = (f"no op the model can judge among {client} client ops: "
                          "no completion has an invocation")
            out["valid?"] = UNKNOWN
            out["reason"] = reason
        self._history, self._windows = (), None
        return out

    def _in_turn(self, keys: list[Hashable], resumer: Resumer, deadline: float | None,
                 results: dict[Hashable, SearchResult],
                 size: Mapping[Hashable, int]) -> list[Hashable]:
        """The keys in passes in this process; each key's result goes to
        ``results``. Returns the keys left open once one was refuted."""
        # Keys in passes, each key's search cut at the pass's budget, which
        # starts small and grows (_budgets); a key cut short carries on in the
        # next pass from where it stopped (Search.resume), so the short first
        # passes cost no repeated search (only a depth-first rival starts
        # afresh in each pass). So one hard key cannot hold back the others,
        # and a key that is not linearizable shows up early: then the verdict
        # is decided, no further pass runs, and the keys still open are
        # unknown, saying so.
        report = self.progress
        total = sum(size.values())

        def progress_from(base: int) -> Callable[[int], None] | None:
            if report is None:
                return None
            return lambda n: report(base + n, total)

        pending = keys
        done = 0
        refuted = False
        for budget in _budgets():
            if not pending:
                break
            cut: list[Hashable] = []
            for i, key in enumerate(pending):
                now = time.monotonic()
                # Once the verdict is decided, the rest get a short look only;
                # the last key open gets all the time left.
                slot: float | None = budget
                if refuted:
                    slot = min(budget, AFTER_REFUTED_S)
                elif len(cut) + len(pending) - i == 1:  # no other key still open
                    slot = None
                until = deadline if slot is None else \
                    now + slot if deadline is None else min(now + slot, deadline)
                res, was_cut = resumer.run(key, until, until is not None and (
                    deadline is None or until < deadline), progress_from(done))
                results[key] = res
                if was_cut:
                    cut.append(key)
                    continue
                done += size[key]
                if self.progress is not None:
                    self.progress(done, total)
                refuted = refuted or res.valid is False
            if refuted:
                return cut
            pending = cut
        return []

    def _blame(self, ops: Sequence[Op], key: str | None, e: Exception) -> CheckerFailure:
        """The first op the model cannot take on its own, for an error that names it.

        Runs only after a crash: each op is prepared and stepped alone, which
        finds ops whose value or process the model cannot handle."""
        reason = f"{type(e).__name__}: {e}"
        for op in ops:
            if not op.is_client or op.f not in self.model.fs:
                continue
            try:
                # the op's value as both argument and answer: either may be what breaks
                alone = [replace(op, type="invoke"), replace(op, type="ok")]
                probs, _ = prepare(alone, self.model, definite_fail=self.definite_fail,
                                   independent=self.independent)
                for p in probs.values():
                    for en in p.entries:
                        self.model.step(self.model.init(), en.call)
                        self.model.read_only(en.call)
            except Exception as e2:
                return CheckerFailure(f"{type(e2).__name__}: {e2}", key, op)
        return CheckerFailure(reason, key)

    def _faults(self) -> tuple[list[Window], int]:
        """The history's fault windows and end, found once, when a failure needs them."""
        if self._windows is None:
            self._windows = fault_windows(self._history)
            self._end = history_end(self._history)
        return self._windows, self._end

    def _key_result(self, label: str, problem: Problem, res: SearchResult) -> dict[str, Any]:
        m = self.model
        r: dict[str, Any] = {"valid?": res.valid, "ops": len(problem.entries),
                             "dropped": problem.dropped, "max-frontier": res.max_frontier,
                             "explored": res.explored}
        if res.reason:
            r["reason"] = res.reason
        if res.valid is False and res.failed_entry is not None:
            e = problem.entries[res.failed_entry]
            previous = [m.describe_state(s) for s in res.previous_states]
            reachable = [m.describe_state(s) for s in res.reachable_states]
            r["op"] = {"index": e.index, "process": e.process, "f": e.call.f,
                       "value": e.complete.value if e.complete is not None else e.invoke.value,
                       "type": e.complete.type if e.complete is not None else "info",
                       "description": m.describe_call(e.call),
                       **op_facts(e.invoke, e.complete, *self._faults())}
            r["previous-states"] = previous
            r["reachable-states"] = reachable
            r["linearized-prefix"] = [problem.entries[i].index for i in res.prefix]
            if self.out_dir is not None:
                try:
                    path = write_failure_html(self.out_dir, label, m, problem,
                                              res.failed_entry, res.prefix, previous, reachable,
                                              facts=r["op"]["explanation"])
                    r["file"] = str(path)
                except OSError as err:
                    # The verdict stands; the caller reports the write on its own line.
                    where = err.filename or self.out_dir
                    r["write-error"] = (f"checker linear, key {label}: cannot write the "
                                        f"drawing {where}: {err.strerror or err}")
        return r


def checker_for(model: str | None, hint: str, options: Mapping[str, Any],
                time_limit: float | None = None, out_dir: Path | str | None = None) -> Linearizable:
    """A checker honouring a source's semantics; ``model`` overrides the hinted one."""
    name = model or hint
    opts = dict(options)
    if name != hint and not (name in _REGISTERS and hint in _REGISTERS):
        # another family of model: the source's initial state means nothing to it
        opts = {k: v for k, v in opts.items() if k in ("definite_fail", "independent")}
    return Linearizable(
        name, initial=opts.get("initial", "" if name == "kv" else None),
        nil_read_matches_any=bool(opts.get("nil_read_matches_any", False)),
        definite_fail=bool(opts.get("definite_fail", False)),
        independent=opts.get("independent"),
        time_limit=DEFAULT_TIME_LIMIT if time_limit is None else time_limit,
        out_dir=out_dir)


def analyze_file(path: Path | str, model: str | None = None, time_limit: float | None = None,
                 out_dir: Path | str | None = None) -> dict[str, Any]:
    """Read any supported history file and check it, with its source's semantics."""
    from pyharness.history.formats import read_history  # keeps checkers importable without formats

    loaded = read_history(path)
    checker = checker_for(model, loaded.model_hint, loaded.options, time_limit, out_dir)
    result = checker.check({}, loaded.ops)
    result["format"] = loaded.format
    result["semantics"] = {k: v for k, v in loaded.options.items()}
    return result
