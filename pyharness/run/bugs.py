"""Known etcd bugs as data: a scenario that catches each, and the releases
that have it and that fixed it.

A suite like this is judged by the real bugs it catches, on the releases that
have them, and by passing on the releases that fixed them (etcd's own
robustness suite keeps such a table). A bug file is a scenario file
(:mod:`pyharness.run.scenario`) with one more key, ``bug``::

    bug:
      id: etcd-io/etcd#18089
      title: a watch from a compacted delete misses the delete
      checker: watch              # whose verdict catches it
      caught-on: ["3.4.23", "3.5.1"]
      passes-on: ["3.5.16", "3.5.30"]
    workload: watch
    api: v3
    nemesis: none
    time-limit: 10

``pyharness bugs DIR`` runs each bug's scenario on each of its releases
(``--etcd-version``) and prints bug × release: ``caught`` with the time to
catch, ``passed``, or ``UNEXPECTED`` (with what was seen). Any cell that is
not what its file expects makes the exit code 1; a cell that could not run
makes it 2 when nothing is unexpected. Adding a bug is adding a file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyharness.run.scenario import Scenario, Where, files_in, load, options
from pyharness.run.testrun import EXIT_UNKNOWN, Outcome, TestOptions, UsageError


@dataclass(frozen=True)
class Bug:
    scenario: Scenario
    id: str
    title: str
    checker: str
    caught_on: tuple[str, ...]
    passes_on: tuple[str, ...]

    @property
    def releases(self) -> list[str]:
        return [*self.caught_on, *self.passes_on]


def _versions(raw: Any, at: str, key: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str | int | float) for v in raw):
        raise UsageError(f"{at}: bug: {key} must be a list of etcd versions, e.g. ['3.5.1']")
    return tuple(str(v) for v in raw)


def load_bug(path: Path) -> Bug:
    """One bug file; UsageError naming the file, line and key if it is wrong."""
    sc = load(path, extra=("bug",))
    if "bug" not in sc.extra:
        raise UsageError(f"{path}: no 'bug:' section (id, title, checker, caught-on, "
                         "passes-on)")
    raw, at = sc.extra["bug"]
    if not isinstance(raw, Mapping):
        raise UsageError(f"{at}: bug: must map id, title, checker, caught-on and passes-on")
    unknown = set(raw) - {"id", "title", "checker", "caught-on", "passes-on"}
    if unknown:
        raise UsageError(f"{at}: bug: unknown key {sorted(map(str, unknown))[0]!r}; known: "
                         "id, title, checker, caught-on, passes-on")
    for k in ("id", "checker"):
        if not isinstance(raw.get(k), str) or not raw[k]:
            raise UsageError(f"{at}: bug: {k} is missing")
    caught = _versions(raw.get("caught-on", []), at, "caught-on")
    passes = _versions(raw.get("passes-on", []), at, "passes-on")
    if not caught and not passes:
        raise UsageError(f"{at}: bug: name releases in caught-on or passes-on")
    both = set(caught) & set(passes)
    if both:
        raise UsageError(f"{at}: bug: {sorted(both)[0]} is in both caught-on and passes-on")
    return Bug(sc, raw["id"], str(raw.get("title", "")), raw["checker"], caught, passes)


@dataclass
class Cell:
    bug: str
    release: str
    expected: str  # caught or passes
    seen: str  # caught, passed, unknown, error, or not run
    time_s: float | None = None  # to catch: the first violation, else the run's length
    # True when the checker gave no violation time (consistency compares the
    # members once, after the final reads): time_s is then the whole run's.
    at_end: bool = False
    run_dir: Path | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return (self.expected, self.seen) in (("caught", "caught"), ("passes", "passed"))

    def text(self) -> str:
        if self.seen == "caught":
            if self.time_s is None:
                t = ""
            elif self.at_end:
                t = f" at the final check ({self.time_s:.0f} s run)"
            else:
                t = f" in {self.time_s:.0f} s"
            head = f"caught{t}"
        else:
            head = self.seen
        return head if self.ok else f"UNEXPECTED: {head}" + (f" ({self.note})" if self.note
                                                             else "")


@dataclass
class Matrix:
    bugs: list[Bug]
    cells: list[Cell] = field(default_factory=list)

    def exit_code(self) -> int:
        if any(not c.ok and c.seen in ("caught", "passed") for c in self.cells):
            return 1
        return 0 if all(c.ok for c in self.cells) and self.cells else 2

    def to_json(self) -> dict[str, Any]:
        return {"bugs": [{"id": b.id, "title": b.title, "file": str(b.scenario.path)}
                         for b in self.bugs],
                "cells": [{"bug": c.bug, "release": c.release, "expected": c.expected,
                           "seen": c.seen, "ok": c.ok, "time-s": c.time_s,
                           "time-of": "final-check" if c.at_end else "first-violation",
                           "run": str(c.run_dir) if c.run_dir else None, "note": c.note}
                          for c in self.cells]}


Runner = Callable[[TestOptions, Where], Outcome]


def _time_to_catch(result: Mapping[str, Any]) -> float | None:
    times = [v["time-s"] for v in result.get("violations") or []
             if isinstance(v, Mapping) and isinstance(v.get("time-s"), int | float)]
    return min(times) if times else None


def judge(bug: Bug, release: str, out: Outcome, seconds: float) -> Cell:
    """What one run of ``bug``'s scenario on ``release`` showed."""
    expected = "caught" if release in bug.caught_on else "passes"
    cell = Cell(bug.id, release, expected, "error", run_dir=out.run_dir)
    if out.error:
        cell.note = out.error
        return cell
    try:
        results = json.loads((out.run_dir / "results.json").read_text())
    except (OSError, ValueError) as e:
        cell.note = f"no results: {e}"
        return cell
    r = results.get(bug.checker)
    if not isinstance(r, Mapping):
        cell.note = f"the run has no {bug.checker} checker"
        return cell
    verdict = r.get("valid?")
    cell.seen = {False: "caught", True: "passed"}.get(verdict, "unknown")  # type: ignore[call-overload]
    if cell.seen == "caught":
        t = _time_to_catch(r)
        cell.time_s, cell.at_end = (seconds, True) if t is None else (t, False)
    elif cell.seen == "unknown":
        cell.note = str(r.get("reason") or r.get("error") or "no verdict")
    return cell


def run_matrix(directory: Path, explicit: Mapping[str, Any], runner: Runner,
               releases: Sequence[str] | None = None,
               on_cell: Callable[[Cell], None] = lambda c: None) -> Matrix:
    """Check every bug file first, then run each bug on each of its releases
    (those in ``releases`` if given), past failures."""
    bugs = [load_bug(p) for p in files_in(directory)]
    plan: list[tuple[Bug, str, TestOptions, Where]] = []
    for b in bugs:
        for rel in b.releases:
            if releases and rel not in releases:
                continue
            opts, where = options(b.scenario, {**explicit, "etcd_version": rel})
            plan.append((b, rel, opts, where))
    m = Matrix(bugs)
    for b, rel, opts, where in plan:
        start = time.monotonic()
        try:
            out = runner(opts, where)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # one broken run must not stop the matrix
            cell = Cell(b.id, rel, "caught" if rel in b.caught_on else "passes", "error",
                        note=str(e) or type(e).__name__)
        else:
            cell = judge(b, rel, out, time.monotonic() - start)
        m.cells.append(cell)
        on_cell(cell)
    return m


__all__ = ["EXIT_UNKNOWN", "Bug", "Cell", "Matrix", "judge", "load_bug", "run_matrix"]
