"""Porcupine's key-value histories.

Porcupine's ``test_data/kv`` files hold one EDN-like op map per line, each
with a ``:key``; functions are ``:get``, ``:put`` and ``:append`` on strings::

    {:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}
    {:process 0, :type :ok, :f :get, :key "7", :value ""}

The syntax is EDN, so we reuse the EDN reader and then insist that every op
names its key. Every key starts as the empty string and keys are
independent, so the checker splits the history by ``key``.

Porcupine writes every line in the one shape above, so a line of exactly that
shape (keys in that order, a plain process number, strings without escapes)
is read with one regular expression; at the first line of any other shape
(a comment, a map over several lines, an escape, a ``:time``, a line that
is wrong) the whole file is read again by the EDN reader, so what is read
and every error are the EDN reader's.
"""

from __future__ import annotations

import re
from pathlib import Path

from pyharness.history import HistoryError, Op
from pyharness.history.formats.edn import read_edn_lines
from pyharness.history.formats.edn_fast import text_lines

KV_FS = frozenset({"get", "put", "append"})

_LINE = re.compile(
    r'[ \t]*\{:process (0|-?[1-9][0-9]{0,17}), :type :(invoke|ok|fail|info), '
    r':f :(get|put|append), :key "([^"\\\n]*)", :value (?:nil|"([^"\\\n]*)")\}\s*'
).fullmatch


def _read_plain(path: Path) -> list[tuple[int, Op]] | None:
    """(line, op) for a file whose every op line has Porcupine's own shape, or
    None at the first that has not."""
    out: list[tuple[int, Op]] = []
    append = out.append
    keys: dict[str, str] = {}  # one string object per key
    for lineno, text in text_lines(path):
        m = _LINE(text)
        if m is None:
            if text.isspace():
                continue
            return None
        process, type_, f, key, value = m.groups()
        append((lineno, Op(type_, f, value, int(process), -1, len(out), None, None,
                           {"key": keys.setdefault(key, key)})))
    return out


def read_porcupine_kv_lines(path: Path) -> list[tuple[int, Op]]:
    ops = _read_plain(path)
    if ops is not None:
        return ops  # every op has a key and a kv f: the pattern says so
    ops = read_edn_lines(path)
    for line, op in ops:
        if "key" not in op.extra:
            raise HistoryError(f"{path}:{line}: expected a :key in a kv op")
        if op.is_client and op.f not in KV_FS:
            raise HistoryError(f"{path}:{line}: expected :f one of :get, :put, :append")
    return ops


def read_porcupine_kv(path: Path) -> list[Op]:
    return [op for _, op in read_porcupine_kv_lines(path)]
