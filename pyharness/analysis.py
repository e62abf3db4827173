"""Which checkers judge a run, shared by ``test`` and ``analyze``.

A workload names its own checkers (set, linearizable, ...); every run also
gets the standard ones: op statistics, unhandled exceptions, perf plots and
the timeline, written next to the history.
"""

from __future__ import annotations

from pathlib import Path

from checkers.core import Checker
from checkers.exceptions import UnhandledExceptionsChecker
from checkers.perf import PerfChecker
from checkers.stats import StatsChecker
from checkers.timeline import TimelineChecker


def standard_checkers(out_dir: Path) -> list[Checker]:
    return [StatsChecker(), UnhandledExceptionsChecker(), PerfChecker(out_dir),
            TimelineChecker(out_dir)]
