"""Porcupine's key-value histories.

Porcupine's ``test_data/kv`` files hold one EDN-like op map per line, each
with a ``:key``; functions are ``:get``, ``:put`` and ``:append`` on strings::

    {:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}
    {:process 0, :type :ok, :f :get, :key "7", :value ""}

The syntax is EDN, so we reuse the EDN reader and then insist that every op
names its key. Every key starts as the empty string and keys are
independent, so the checker splits the history by ``key``.
"""

from __future__ import annotations

from pathlib import Path

from pyharness.history import HistoryError, Op
from pyharness.history.formats.edn import read_edn_lines

KV_FS = frozenset({"get", "put", "append"})


def read_porcupine_kv_lines(path: Path) -> list[tuple[int, Op]]:
    ops = read_edn_lines(path)
    for line, op in ops:
        if "key" not in op.extra:
            raise HistoryError(f"{path}:{line}: expected a :key in a kv op")
        if op.is_client and op.f not in KV_FS:
            raise HistoryError(f"{path}:{line}: expected :f one of :get, :put, :append")
    return ops


def read_porcupine_kv(path: Path) -> list[Op]:
    return [op for _, op in read_porcupine_kv_lines(path)]
