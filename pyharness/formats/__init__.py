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

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyharness.formats import txn
from pyharness.formats.edn import read_edn
from pyharness.formats.jepsen_log import looks_like, read_jepsen_log
from pyharness.formats.porcupine import KV_FS, read_porcupine_kv
from pyharness.history import HistoryError, Op, read_jsonl

__all__ = ["FORMATS", "HistoryError", "LoadedHistory", "detect_format", "read_history"]


@dataclass
class LoadedHistory:
    """Ops plus what the source means by them."""

    ops: list[Op]
    format: str
    model_hint: str
    options: dict[str, Any] = field(default_factory=dict)


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


Reader = Callable[[Path], list[Op]]
Semantics = Callable[[list[Op]], tuple[str, dict[str, Any]]]

FORMATS: dict[str, tuple[Reader, Semantics]] = {
    "jsonl": (read_jsonl, _jsonl_semantics),
    "edn": (read_edn, _edn_semantics),
    "jepsen-log": (read_jepsen_log, _log_semantics),
    "porcupine-kv": (read_porcupine_kv, _kv_semantics),
}


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
    ops = reader(path)
    txn.validate(ops, path, fmt)
    hint, options = semantics(ops)
    return LoadedHistory(ops, fmt, hint, options)
