"""Reading histories written by us, Jepsen, Knossos and Porcupine.

Each source records ops in its own syntax, and, more subtly, *means* slightly
different things by them. Knossos's cas-register histories start at 0, drop
every failed op and let a read of ``nil`` match anything; Porcupine's reading
of Jepsen's etcd logs starts empty, lets ``nil`` match only the empty
register, and takes a failed compare-and-set as a definite answer. A reader
therefore returns, beside the ops, a *model hint* and *options* describing the
source's semantics, so that ``pyharness analyze FILE`` needs no flags:

================  ==============  =============================================
format            model hint      options
================  ==============  =============================================
``jsonl`` (ours)  cas-register    initial nil; nil read = absent; fail dropped;
                                  keys from ``[key, value]`` tuples
``edn`` (Knossos) cas-register    initial 0; nil read matches any; fail dropped
``jepsen-log``    cas-register    initial nil; nil read = empty; failed cas is
                                  definite
``porcupine-kv``  kv              initial ""; keys from ``:key``
================  ==============  =============================================

:func:`read_history` picks the format from the file's extension and first
non-blank line. Malformed input raises :class:`pyharness.history.HistoryError`
naming ``file:line``.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyharness.history import INVOKE, NEMESIS, HistoryError, Op, iter_jsonl
from pyharness.history.formats import txn
from pyharness.history.formats.edn import read_edn_lines
from pyharness.history.formats.jepsen_log import iter_jepsen_log, looks_like
from pyharness.history.formats.porcupine import KV_FS, read_porcupine_kv_lines

__all__ = ["FORMATS", "HistoryError", "LoadedHistory", "detect_format", "read_history"]


@dataclass
class LoadedHistory:
    """Ops plus what the source means by them."""

    ops: list[Op]
    format: str
    model_hint: str
    options: dict[str, Any] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)  # each op's line in the file

    def where(self, path: Path, position: int) -> str:
        """``file:line`` of the op at ``position``."""
        if 0 <= position < len(self.lines):
            return f"{path}:{self.lines[position]}"
        return f"{path}: op {position}"


def _jsonl_semantics(ops: list[Op]) -> tuple[str, dict[str, Any]]:
    client = [op for op in ops if op.is_client]
    fs = {op.f for op in client}
    if any("key" in op.extra for op in client):
        independent: str | None = "key"
    elif client and all(isinstance(op.value, list) and len(op.value) == 2 for op in client):
        independent = "tuple"  # Jepsen's independent [key value] tuples
    else:
        independent = None
    hint = "kv" if fs and fs <= KV_FS else "cas-register"
    return hint, {"initial": "" if hint == "kv" else None, "nil_read_matches_any": False,
                  "definite_fail": False, "independent": independent}


def _edn_semantics(ops: list[Op]) -> tuple[str, dict[str, Any]]:
    client = [op for op in ops if op.is_client]
    keyed = any("key" in op.extra for op in client)
    fs = {op.f for op in client}
    if fs and fs <= KV_FS:
        return "kv", {"initial": "", "definite_fail": False,
                      "independent": "key" if keyed else None}
    return "cas-register", {"initial": 0, "nil_read_matches_any": True, "definite_fail": False,
                            "independent": "key" if keyed else None}


def _log_semantics(ops: list[Op]) -> tuple[str, dict[str, Any]]:
    return "cas-register", {"initial": None, "nil_read_matches_any": False,
                            "definite_fail": True, "independent": None}


def _kv_semantics(ops: list[Op]) -> tuple[str, dict[str, Any]]:
    return "kv", {"initial": "", "definite_fail": False, "independent": "key"}


Reader = Callable[[Path], Iterable[tuple[int, Op]]]  # (line, op) for each op
Semantics = Callable[[list[Op]], tuple[str, dict[str, Any]]]

FORMATS: dict[str, tuple[Reader, Semantics]] = {
    "jsonl": (iter_jsonl, _jsonl_semantics),
    "edn": (read_edn_lines, _edn_semantics),
    "jepsen-log": (iter_jepsen_log, _log_semantics),
    "porcupine-kv": (read_porcupine_kv_lines, _kv_semantics),
}


def _read_in_sequence(path: Path, source: Iterable[tuple[int, Op]], ops: list[Op],
                      lines: list[int]) -> None:
    """Keep ``source``'s ops and lines, raising HistoryError at the first op that
    breaks Jepsen's rules: each client process invokes, then completes (ok, fail
    or info) that same op, one op at a time. The nemesis (process ``nemesis``)
    logs what it likes: Jepsen writes its faults as info ops with or without
    invokes. Ops still open at the end are fine: they never returned (a crash).
    One loop for all of it: a layer of generator per op costs a tenth of the read."""
    open_: dict[Any, tuple[int, Op]] = {}
    keep, keep_line = ops.append, lines.append
    for line, op in source:
        p = op.process
        tp = type(p)
        if tp is not int and tp is not str:
            raise HistoryError(f"{path}:{line}: expected the process to be an integer or a "
                               f"name, got {p!r:.60}")
        if type(op.f) is not str:
            raise HistoryError(f"{path}:{line}: expected f to be a name, got {op.f!r:.60}")
        if p != NEMESIS:
            if op.type == INVOKE:
                prev = open_.get(p)
                if prev is not None:
                    raise HistoryError(
                        f"{path}:{line}: expected process {p} to complete its {prev[1].f} "
                        f"(invoked at line {prev[0]}) before it invokes again")
                open_[p] = (line, op)
            else:
                started = open_.pop(p, None)
                if started is None:
                    raise HistoryError(
                        f"{path}:{line}: expected an invoke before this {op.type} {op.f}: "
                        f"process {p} has no operation open")
                if started[1].f != op.f:
                    raise HistoryError(
                        f"{path}:{line}: expected the completion of process {p}'s "
                        f"{started[1].f} (invoked at line {started[0]}), got {op.type} {op.f}")
        keep(op)
        keep_line(line)


def _first_line(path: Path) -> str:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            s = line.strip()
            if s and not s.startswith(";"):
                return s
    return ""


def detect_format(path: Path) -> str:
    """Guess a history's format from its extension and first non-blank line."""
    first = _first_line(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json") or first.startswith('{"'):
        try:
            json.loads(first)
            return "jsonl"
        except ValueError:
            if suffix in (".jsonl", ".json"):
                return "jsonl"  # let the reader report the bad line
    if looks_like(first) or suffix == ".log":
        return "jepsen-log"
    if first.startswith("{") and ":key" in first and suffix != ".edn":
        return "porcupine-kv"
    if suffix == ".edn" or first[:1] in "[({":
        return "edn"
    raise HistoryError(f"{path}:1: cannot tell the history format from the extension "
                       f"{suffix or '(none)'} and first line {first[:60]!r}")


def read_history(path: Path | str, format: str | None = None) -> LoadedHistory:
    """Read any supported history, with the source's model hint and semantics."""
    path = Path(path)
    fmt = format or detect_format(path)
    try:
        reader, semantics = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown history format {fmt!r}; known: {', '.join(FORMATS)}") from None
    ops: list[Op] = []
    lines: list[int] = []
    # Reading makes no reference cycles, but the cyclic collector would walk every
    # op kept so far again and again (a quarter of the time on a large JSONL file).
    collecting = gc.isenabled()
    gc.disable()
    try:
        _read_in_sequence(path, reader(path), ops, lines)
    finally:
        if collecting:
            gc.enable()
    txn.validate(ops, path, fmt, lines)
    hint, options = semantics(ops)
    return LoadedHistory(ops, fmt, hint, options, lines)
