"""Which checkers judge a run, shared by ``test`` and ``analyze``.

A workload names its own checkers (set, linearizable, ...); every run also
gets the standard ones: op statistics, unhandled exceptions, perf plots and
the timeline, written next to the history.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from checkers.core import Checker, compose
from checkers.exceptions import UnhandledExceptionsChecker
from checkers.perf import PerfChecker
from checkers.stats import StatsChecker
from checkers.timeline import TimelineChecker
from pyharness.history import HistoryError


def standard_checkers(out_dir: Path) -> list[Checker]:
    return [StatsChecker(), UnhandledExceptionsChecker(), PerfChecker(out_dir),
            TimelineChecker(out_dir)]


def checker_names() -> list[str]:
    return ["linear", "list-append", "lock", "log-file-pattern", "perf", "set", "stats", "timeline",
            "unhandled-exceptions"]


def named_checker(name: str, out_dir: Path, model: str | None, hint: str,
                  options: dict[str, Any], time_limit: float | None) -> Checker:
    from checkers.linearizable import checker_for
    from checkers.set import SetChecker

    if name == "linear":
        return checker_for(model, hint, options, time_limit, out_dir)
    if name == "set":
        return SetChecker()
    if name == "list-append":
        from checkers.list_append import MODELS, ListAppendChecker
        return ListAppendChecker(model if model in MODELS else "strict-serializable", out_dir)
    if name == "lock":
        from checkers.lock import LockChecker
        return LockChecker()
    if name == "log-file-pattern":
        from checkers.log_patterns import LogPatternChecker
        return LogPatternChecker(out_dir)
    table: dict[str, Callable[[], Checker]] = {
        "stats": StatsChecker, "unhandled-exceptions": UnhandledExceptionsChecker,
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
    from pyharness import workloads
    from pyharness.formats import read_history

    if path.is_dir():
        test = json.loads((path / "test.json").read_text()) if (path / "test.json").exists() \
            else None
        if test is None:
            raise HistoryError(f"{path}: not a run directory (no test.json)")
        loaded = read_history(path / "history.jsonl")
        out = out_dir or path
        opts = {**test.get("options", {}), "out_dir": out}
        if names:
            checkers = [named_checker(n, out, model, loaded.model_hint, loaded.options,
                                      time_limit) for n in names]
        else:
            from checkers.log_patterns import LogPatternChecker

            wl = workloads.WORKLOADS[opts["workload"]](opts)
            checkers = [*wl.checkers, *standard_checkers(out), LogPatternChecker(path)]
        _attach(checkers, progress)
        return compose(checkers, test, loaded.ops), out
    loaded = read_history(path)
    out = out_dir or path.parent
    checkers = [named_checker(n, out, model, loaded.model_hint, loaded.options, time_limit)
                for n in (names or [_default_checker(loaded.ops)])]
    _attach(checkers, progress)
    results = compose(checkers, {}, loaded.ops)
    results["format"] = loaded.format
    return results, out


def _default_checker(ops: list[Any]) -> str:
    """``list-append`` for transactional (f ``txn``) histories, else ``linear``."""
    fs = {op.f for op in ops if op.is_client}
    return "list-append" if fs == {"txn"} else "linear"


def _attach(checkers: list[Checker], progress: Callable[[int, int], None] | None) -> None:
    for c in checkers:
        if hasattr(c, "progress"):
            c.progress = progress  # type: ignore[attr-defined]
