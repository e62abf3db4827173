"""Which checkers judge a run, shared by ``test`` and ``analyze``.

A workload names its own checkers (set, linearizable, ...); every run also
gets the standard ones: op statistics, unhandled exceptions, whether the
faults asked for took effect, perf plots and the timeline, written next to
the history.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN, Checker, compose
from checkers.exceptions import UnhandledExceptionsChecker
from checkers.faults import FaultsChecker
from checkers.stats import StatsChecker
from checkers.timeline import TimelineChecker
from pyharness.history import HistoryError, Op
from pyharness.history.store import read_regular, regular_inside


def standard_checkers(out_dir: Path) -> list[Checker]:
    from checkers.perf import PerfChecker  # matplotlib: only when plots are drawn

    out: list[Checker] = [StatsChecker(), UnhandledExceptionsChecker(), FaultsChecker(),
                          PerfChecker(out_dir), TimelineChecker(out_dir)]
    state_file = out_dir / "cluster-state.json"
    if state_file.is_file():  # a run's members compared after its final reads
        from checkers.consistency import ConsistencyChecker

        try:
            state = json.loads(read_regular(regular_inside(state_file, out_dir)))
        except (OSError, ValueError):
            state = None
        out.append(ConsistencyChecker(state if isinstance(state, dict) else None))
    return out


GENERIC_CHECKERS = ("faults", "linear", "log-file-pattern", "perf", "stats", "timeline",
                    "unhandled-exceptions")


def checker_names() -> list[str]:
    """What ``analyze --checker`` takes: the generic checkers, and those the
    workloads offer (set, lock, list-append, watch...)."""
    from pyharness import workloads

    return sorted({*GENERIC_CHECKERS, *workloads.checker_names()})


def named_checker(name: str, out_dir: Path, model: str | None, hint: str,
                  options: dict[str, Any], time_limit: float | None) -> Checker:
    from pyharness import workloads
    from pyharness.workloads.base import CheckerContext

    if name == "linear":
        from checkers.linearizable import checker_for
        return checker_for(model, hint, options, time_limit, out_dir)
    if name == "log-file-pattern":
        from checkers.log_patterns import LogPatternChecker
        return LogPatternChecker(out_dir)
    offered = workloads.named_checker(name, CheckerContext(out_dir, model, hint, options,
                                                           time_limit))
    if offered is not None:
        return offered
    from checkers.perf import PerfChecker

    table: dict[str, Callable[[], Checker]] = {
        "stats": StatsChecker, "unhandled-exceptions": UnhandledExceptionsChecker,
        "faults": FaultsChecker,
        "perf": lambda: PerfChecker(out_dir), "timeline": lambda: TimelineChecker(out_dir)}
    if name not in table:
        raise ValueError(f"--checker must be one of {', '.join(checker_names())}")
    return table[name]()


def run_checkers(path: Path, names: list[str], model: str | None, time_limit: float | None,
                 out_dir: Path | None,
                 progress: Callable[[int, int], None] | None = None,
                 ) -> tuple[dict[str, Any], Path]:
    """Check a saved history (any supported format) or a whole store run.

    A store run (a directory with ``test.json``) gets every checker it had,
    unless ``names`` says otherwise; a history file gets ``linear`` by
    default, with the semantics of the format it is written in."""
    from pyharness.history.formats import read_history

    if path.is_dir():
        from pyharness import workloads

        run = path.resolve()
        test = _run_test(run)
        history = _inside(run, run / "history.jsonl")
        loaded = read_history(history)
        out = out_dir or path
        opts = {**test.get("options", {}), "out_dir": out}
        if names:
            checkers = [named_checker(n, out, model, loaded.model_hint, loaded.options,
                                      time_limit) for n in names]
        else:
            from checkers.log_patterns import LogPatternChecker

            workload = opts.get("workload")
            if workload not in workloads.names():
                raise HistoryError(f"{run / 'test.json'}: options.workload {workload!r} is "
                                   f"not one of {', '.join(workloads.names())}")
            try:
                wl = workloads.make(workload, opts)
            except (ValueError, TypeError, KeyError) as e:
                raise HistoryError(f"{run / 'test.json'}: options do not make a {workload} "
                                   f"workload: {type(e).__name__}: {e}") from None
            checkers = [*wl.checkers, *standard_checkers(out), LogPatternChecker(run)]
        _check_values(checkers, loaded, history)
        _attach(checkers, progress)
        return _judged(compose(checkers, test, loaded.ops), loaded.ops), out
    try:
        regular_inside(path)
    except OSError as e:
        raise HistoryError(str(e) if e.strerror is None else f"{path}: {e.strerror}") from None
    loaded = read_history(path)
    out = out_dir or path.parent
    checkers = [named_checker(n, out, model, loaded.model_hint, loaded.options, time_limit)
                for n in (names or [_default_checker(loaded.ops)])]
    _check_values(checkers, loaded, path)
    _attach(checkers, progress)
    results = _judged(compose(checkers, {}, loaded.ops), loaded.ops)
    results["format"] = loaded.format
    return results, out


def _check_values(checkers: list[Checker], loaded: Any, path: Path) -> None:
    """A value of the wrong shape for the linearizability model (a cas whose value
    is not ``[old new]``...) is an error naming its ``file:line``, not a verdict."""
    from checkers.linear_prep import first_bad_value
    from checkers.linearizable import Linearizable

    for c in checkers:
        if isinstance(c, Linearizable):
            bad = first_bad_value(loaded.ops, c.model, c.independent)
            if bad is not None:
                raise HistoryError(f"{loaded.where(path, bad[0])}: {bad[1]} "
                                   f"(model {c.model.name})")


def _inside(run: Path, p: Path) -> Path:
    """``p`` if it is a regular file inside the run; a HistoryError naming it if not."""
    try:
        return regular_inside(p, run)
    except OSError as e:
        raise HistoryError(str(e) if e.strerror is None else f"{p}: {e.strerror}") from None


def _run_test(run: Path) -> dict[str, Any]:
    """The run's ``test.json``, checked to be what the checkers expect."""
    if not (run / "test.json").exists() and not (run / "test.json").is_symlink():
        raise HistoryError(f"{run}: not a run directory (no test.json)")
    p = _inside(run, run / "test.json")
    try:
        test = json.loads(read_regular(p))
    except (ValueError, OSError) as e:
        raise HistoryError(f"{p}: not JSON: {e}") from None
    if not isinstance(test, dict):
        raise HistoryError(f"{p}: expected a JSON object, got {type(test).__name__}")
    if not isinstance(test.get("options", {}), dict):
        raise HistoryError(f"{p}: options must be an object, got "
                           f"{type(test['options']).__name__}")
    return test


def _judged(results: dict[str, Any], ops: list[Op]) -> dict[str, Any]:
    """An empty history is never valid: nothing was checked."""
    if results["valid?"] is True and not ops:
        results["valid?"] = UNKNOWN
        results["reason"] = "the history is empty: nothing to check"
    return results


def _default_checker(ops: list[Any]) -> str:
    """``list-append`` for transactional (f ``txn``) histories, else ``linear``."""
    fs = {op.f for op in ops if op.is_client}
    return "list-append" if fs == {"txn"} else "linear"


def _attach(checkers: list[Checker], progress: Callable[[int, int], None] | None) -> None:
    for c in checkers:
        if hasattr(c, "progress"):
            c.progress = progress  # type: ignore[attr-defined]
