"""Where the depth-first rival runs: on its own core if it can, else in turns.

:class:`checkers.linear_search.Search` races its frontier against the
depth-first search of :mod:`checkers.linear_dfs` on keys where the frontier
grows large. Sharing one core would halve the speed of whichever wins, so
where ``fork`` exists the rival runs in a child process, a copy of the search
at that moment, and sends its verdict back through a pipe; the frontier
search looks at the pipe at its usual clock checks and kills the child when
it finishes first. Without ``fork`` the two take turns of equal time.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import time
from collections.abc import Hashable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from checkers.linear_dfs import DepthFirst

_SLICE = 2_000  # depth-first steps between looks at the clock


@dataclass
class Outcome:
    """What the rival found: a verdict, or why it has none."""

    verdict: bool | None
    steps: int
    failure: tuple[int, list[Hashable], list[int]] | None = None
    gave_up: str | None = None


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use
    except AttributeError:
        return os.cpu_count() or 1


def _run(dfs: DepthFirst, until: float | None) -> Outcome:
    verdict = None
    while dfs.gave_up is None and (until is None or time.monotonic() < until):
        verdict = dfs.advance(_SLICE)
        if verdict is not None:
            break
    return Outcome(verdict, dfs.steps, dfs.failure() if verdict is False else None,
                   dfs.gave_up)


def _child(dfs: DepthFirst, until: float | None, conn: Connection) -> None:
    with contextlib.suppress(BrokenPipeError, EOFError):  # the parent no longer wants it
        conn.send(_run(dfs, until))


class Rival:
    """The depth-first search running beside the frontier search."""

    def __init__(self, dfs: DepthFirst, deadline: float | None,
                 forked: bool | None = None) -> None:
        self.dfs = dfs
        self.deadline = deadline
        self.outcome: Outcome | None = None
        self._proc: Any = None
        self._conn: Connection | None = None
        if forked is None:
            forked = hasattr(os, "fork") and usable_cores() > 1
        self._forked = forked and self._fork()

    def _fork(self) -> bool:
        """Start the child; False (and in turns) if the system refuses."""
        ctx = multiprocessing.get_context("fork")
        conn, child_end = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(self.dfs, self.deadline, child_end),
                           daemon=True)
        # Objects the collector never visits in the child stay shared with
        # the parent instead of being copied page by page.
        gc.freeze()
        try:
            proc.start()
        except OSError:  # no memory or no process slots left: run in turns
            conn.close()
            return False
        finally:
            gc.unfreeze()
            child_end.close()
        self._conn, self._proc = conn, proc
        return True

    @property
    def forked(self) -> bool:
        return self._forked

    @property
    def gave_up(self) -> str | None:
        return self.outcome.gave_up if self.outcome is not None else None

    def turn(self, seconds: float) -> Outcome | None:
        """In turns: run about ``seconds``. Forked: look at the pipe only.
        The outcome once there is one (a verdict, or no verdict and why)."""
        if self.outcome is not None:
            return self.outcome
        if self.forked:
            return self._receive(0)
        until = time.monotonic() + seconds
        if self.deadline is not None:
            until = min(until, self.deadline)
        out = _run(self.dfs, until)
        if out.verdict is not None or out.gave_up is not None:
            self.outcome = out
        return self.outcome

    def finish(self) -> Outcome:
        """Let it run alone until its verdict or the deadline."""
        if self.outcome is None:
            if self.forked:
                # In steps: the deadline may be brought forward meanwhile
                # (checkers.linear_parallel, once another key is refuted).
                while True:
                    left = None if self.deadline is None else self.deadline - time.monotonic()
                    self._receive(0.1 if left is None else min(0.1, max(0.0, left)))
                    if self.outcome is not None or (left is not None and left <= 0.1):
                        break
            else:
                self.outcome = _run(self.dfs, self.deadline)
        out = self.outcome
        if out is None:
            out = self.outcome = Outcome(None, self.dfs.steps, gave_up="time limit reached")
        elif out.verdict is None and out.gave_up is None:
            out.gave_up = "time limit reached"  # it ran until the deadline
        self.close()
        return out

    def _receive(self, wait: float | None) -> Outcome | None:
        assert self._conn is not None
        try:
            if self._conn.poll(wait):
                self.outcome = self._conn.recv()
        except (EOFError, OSError):
            # The child died (killed, out of memory): the frontier carries on alone.
            self.outcome = Outcome(None, 0, gave_up="its process ended without an answer")
        return self.outcome

    def close(self) -> None:
        """Stop the child, if any. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
            with contextlib.suppress(ValueError):
                proc.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
