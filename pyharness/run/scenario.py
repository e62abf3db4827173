"""Scenarios: a test's options as a YAML file, and ``test-all`` over a folder.

A scenario file maps option names, spelled as ``pyharness test``'s flags
without the leading dashes (``time-limit``, ``nemesis-targets``,
``no-quorum``), to values::

    workload: register
    api: v3
    nemesis: [kill, partition]      # or "kill,partition"
    nemesis-targets: one,minority
    time-limit: 20

What a run uses, lowest first: the defaults, the file, then options given
on the command line. Paths in a file are relative to the file's folder. A
key that is no option, a value of the wrong type or out of range, or an
unknown fault is one line naming the file, the line and the key
(:class:`~pyharness.run.testrun.UsageError`), before anything touches a host.

``test-all DIR`` runs every ``*.yaml``/``*.yml`` in DIR, sorted by name: it
checks them all first, runs each valid one even when an earlier one failed,
and ends with one table. Its exit code: 1 if any scenario was invalid (a
definite bug found is the headline), else 2 if any was unknown or could not
run, else 0.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from pyharness.run.testrun import (
    BY_FIELD,
    BY_KEY,
    EXIT_INVALID,
    EXIT_UNKNOWN,
    EXIT_VALID,
    Option,
    Outcome,
    TestOptions,
    UsageError,
    validate,
)

Where = dict[str, str]  # field -> where its value came from ("FILE:LINE: key")


@dataclass(frozen=True)
class Scenario:
    path: Path
    values: dict[str, Any]  # TestOptions field -> value, as the file gives it
    where: Where
    extra: dict[str, tuple[Any, str]] = field(default_factory=dict)  # key -> (value, where)

    @property
    def name(self) -> str:
        return self.path.stem


def _value(o: Option, raw: Any, base: Path) -> Any:
    """The file's value in the option's own type; a wrong type is kept, for
    :func:`~pyharness.run.testrun.validate` to name with what it expected."""
    if raw is None:
        return None
    if o.field in ("nemesis", "nemesis_targets") and isinstance(raw, list) and all(
            isinstance(x, str) for x in raw):
        return ",".join(raw)  # a YAML list of faults or target kinds
    if o.kind == "path" and isinstance(raw, str):
        p = Path(raw).expanduser()
        return p if p.is_absolute() else base / p
    if o.kind == "float" and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if o.invert and isinstance(raw, bool):
        return not raw
    return raw


def load(path: Path, extra: Sequence[str] = ()) -> Scenario:
    """Read one scenario file; UsageError (one line, naming the file, the line
    and the key) for a file that is unreadable, not YAML, or names no option.
    Keys in ``extra`` are no options but kept apart, for files that say more
    than a scenario (a known bug's description, say)."""
    if path.is_dir():
        raise UsageError(f"{path}: is a directory, not a scenario file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read it: {getattr(e, 'strerror', None) or e}") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if not isinstance(node, yaml.MappingNode):
            line = f":{node.start_mark.line + 1}" if node is not None else ""
            raise UsageError(f"{path}{line}: a scenario must map option names to values, "
                             "e.g. 'workload: set'")
        values: dict[str, Any] = {}
        where: Where = {}
        extra_values: dict[str, tuple[Any, str]] = {}
        for key_node, value_node in node.value:
            at = f"{path}:{key_node.start_mark.line + 1}"
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, str) and key in extra:
                if key in extra_values:
                    raise UsageError(f"{at}: {key} is given twice")
                extra_values[key] = (loader.construct_object(value_node, deep=True), at)
                continue
            o = BY_KEY.get(key) if isinstance(key, str) else None
            if o is None:
                raise UsageError(f"{at}: {_unknown(key)}")
            if o.field in values:
                raise UsageError(f"{at}: {key} is given twice")
            values[o.field] = _value(o, loader.construct_object(value_node, deep=True),
                                     path.parent)
            where[o.field] = f"{at}: {key}"
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{path}{line}: not YAML: {getattr(e, 'problem', None) or e}") from None
    finally:
        loader.dispose()
    return Scenario(path, values, where, extra_values)


def _unknown(key: Any) -> str:
    hint = ""
    if isinstance(key, str):
        spelled = key.strip().lstrip("-").replace("_", "-")
        if spelled in BY_KEY:
            hint = f" (keys are spelled as the options without their dashes: {spelled})"
        elif spelled in ("nodes", "lab-nodes"):
            hint = " (did you mean nodes?)"
        else:
            close = difflib.get_close_matches(spelled, BY_KEY, n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown key {key!r}{hint}; known: {', '.join(sorted(BY_KEY))}"


def options(scenario: Scenario | None, explicit: Mapping[str, Any]) -> tuple[TestOptions, Where]:
    """The run's options: defaults, then the scenario's, then ``explicit``
    (fields given on the command line); and where each came from. Validated."""
    assert set(explicit) <= set(BY_FIELD), set(explicit) - set(BY_FIELD)
    merged: dict[str, Any] = dict(scenario.values) if scenario else {}
    merged.update(explicit)
    where: Where = {f: w for f, w in (scenario.where if scenario else {}).items()
                    if f not in explicit}
    groups: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for f, v in merged.items():
        group = BY_FIELD[f].group
        if group is None:
            top[f] = v
        else:
            groups.setdefault(group, {})[f] = v
    opts = replace(TestOptions(), **top, **groups)
    validate(opts, where)
    return opts, where


def files_in(directory: Path) -> list[Path]:
    """The scenario files of ``directory``, sorted; UsageError if there are none."""
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such directory")
    found = sorted(p for p in directory.iterdir()
                   if p.suffix in (".yaml", ".yml") and p.is_file())
    if not found:
        raise UsageError(f"{directory}: no scenario files (*.yaml, *.yml)")
    return found


@dataclass
class Row:
    """One scenario's line in the ``test-all`` table."""

    scenario: str
    verdict: str  # valid, invalid, unknown, error, or not run
    code: int
    ops: int | None = None
    duration_s: float | None = None
    run_dir: Path | None = None
    error: str | None = None


Runner = Callable[[TestOptions, Where], Outcome]


def run_all(paths: Sequence[Path], explicit: Mapping[str, Any], runner: Runner,
            on_error: Callable[[str], None] = lambda message: None) -> list[Row]:
    """Check every scenario, then run the good ones in order with ``runner``.
    A scenario that is bad, fails or raises is a row, and the next one runs;
    an interrupted one (Ctrl-C) ends the series, the rest ``not run``."""
    planned: list[tuple[Path, TestOptions | None, Where]] = []
    rows: dict[Path, Row] = {}
    for p in paths:
        try:
            opts, where = options(load(p), explicit)
        except UsageError as e:
            on_error(str(e))
            rows[p] = Row(p.stem, "error", EXIT_UNKNOWN, error=str(e))
            continue
        planned.append((p, opts, where))
    stopped = False
    for p, opts, where in planned:
        assert opts is not None
        if stopped:
            rows[p] = Row(p.stem, "not run", EXIT_UNKNOWN)
            continue
        start = time.monotonic()
        try:
            out = runner(opts, where)
        except KeyboardInterrupt:
            stopped = True
            rows[p] = Row(p.stem, "error", EXIT_UNKNOWN, error="interrupted",
                          duration_s=time.monotonic() - start)
            continue
        except Exception as e:  # one broken scenario must not stop the rest
            message = str(e) or type(e).__name__
            on_error(f"{p}: {message}")
            rows[p] = Row(p.stem, "error", EXIT_UNKNOWN, duration_s=time.monotonic() - start,
                          error=message)
            continue
        stopped = out.interrupted
        rows[p] = Row(p.stem, out.verdict, out.code, out.ops, time.monotonic() - start,
                      out.run_dir, out.error)
    return [rows[p] for p in paths]


def exit_code(rows: Sequence[Row]) -> int:
    """1 if any scenario was invalid, else 2 if any was unknown or did not
    run cleanly, else 0. An invalid result is a definite bug, the headline,
    even when another scenario could not decide."""
    codes = {r.code for r in rows}
    if EXIT_INVALID in codes:
        return EXIT_INVALID
    if not rows or codes - {EXIT_VALID}:
        return EXIT_UNKNOWN
    return EXIT_VALID


def explicit_fields(given: Mapping[str, Any]) -> dict[str, Any]:
    """Command-line values by TestOptions field, from values by option key
    (``nodes``, ``no-nemesis-agent``)."""
    out: dict[str, Any] = {}
    for key, v in given.items():
        o = BY_KEY[key]
        out[o.field] = (not v) if o.invert else v
    return out


__all__ = ["BY_FIELD", "Row", "Scenario", "exit_code", "explicit_fields", "files_in", "load",
           "options", "run_all"]
