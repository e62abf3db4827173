"""Transactional (``:txn``) values in Jepsen's shape, to and from EDN.

Elle's list-append histories carry, in each op's ``:value``, a vector of
micro-ops ``[f k v]`` whose ``f`` is a keyword::

    {:type :invoke, :f :txn, :value [[:append 3 12] [:r 4 nil]], :process 1}
    {:type :ok,     :f :txn, :value [[:append 3 12] [:r 4 [1 7]]], :process 1}

Read into Python, keywords become strings (``["append", 3, 12]``), which is
the shape the append workload records in ``history.jsonl``. Going back to
EDN, the micro-op names must become keywords again or Elle will not know
them: :func:`value_to_edn` does that for the exporter.

:func:`validate` checks every ``txn`` op of a loaded history and, only when
one is malformed, finds its line in the file, so the error names
``file:line`` like every other reader error without slowing the common case.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edn_format import Keyword

from pyharness.history import OK, HistoryError, Op

TXN_F = "txn"


def value_to_edn(value: Any) -> Any:
    """A txn value with each micro-op's name as a keyword (else unchanged)."""
    if not isinstance(value, list | tuple):
        return value
    return [[Keyword(m[0]), *m[1:]] if isinstance(m, list | tuple) and m
            and isinstance(m[0], str) else m for m in value]


def first_invalid(ops: Sequence[Op]) -> tuple[int, str] | None:
    """(position, message) of the first malformed txn op, if any."""
    from checkers.list_append import parse_mops

    for i, op in enumerate(ops):
        if op.f != TXN_F or not op.is_client:
            continue
        try:
            parse_mops(op.value, op.type == OK)
        except ValueError as e:
            return i, str(e)
    return None


def _line_of(path: Path, fmt: str, position: int) -> int | None:
    if fmt == "edn":
        from pyharness.formats.edn import read_edn_lines
        return read_edn_lines(path)[position][0]
    if fmt == "jsonl":
        n = -1
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                n += bool(line.strip())
                if n == position:
                    return lineno
    return None


def validate(ops: Sequence[Op], path: Path, fmt: str) -> None:
    """Raise :class:`HistoryError` naming ``file:line`` of a malformed txn op."""
    bad = first_invalid(ops)
    if bad is None:
        return
    position, msg = bad
    line = _line_of(path, fmt, position)
    where = f"{path}:{line}" if line is not None else f"{path}: op {position}"
    raise HistoryError(f"{where}: expected a txn of [:append k v] and [:r k v] micro-ops; {msg}")
