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

from pyharness.history import OK, HistoryError, Op

TXN_F = "txn"


def _hashable(k: Any) -> Any:
    return tuple(_hashable(x) for x in k) if isinstance(k, list) else k


def parse_mops(value: Any, ok: bool) -> list[tuple[str, Any, Any]]:
    """A txn value as ``(f, key, value)`` triples; an ok read of nil is ``[]``."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"a txn value must be a list of micro-ops, got {value!r}")
    out: list[tuple[str, Any, Any]] = []
    for m in value:
        if not isinstance(m, list | tuple) or len(m) != 3 or m[0] not in ("append", "r"):
            raise ValueError(f"a micro-op must be [append k v] or [r k v], got {m!r}")
        f, k, v = m
        if f == "r":
            v = list(v) if v is not None else ([] if ok else None)
        out.append((f, _hashable(k), v))
    return out


def value_to_edn(value: Any) -> Any:
    """A txn value with each micro-op's name as a keyword (else unchanged)."""
    from edn_format import Keyword

    if not isinstance(value, list | tuple):
        return value
    return [[Keyword(m[0]), *m[1:]] if isinstance(m, list | tuple) and m
            and isinstance(m[0], str) else m for m in value]


def first_invalid(ops: Sequence[Op]) -> tuple[int, str] | None:
    """(position, message) of the first malformed txn op, if any."""
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
        from pyharness.history.formats.edn import read_edn_lines
        return read_edn_lines(path)[position][0]
    if fmt == "jsonl":
        n = -1
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                n += bool(line.strip())
                if n == position:
                    return lineno
    return None


def validate(ops: Sequence[Op], path: Path, fmt: str,
             lines: Sequence[int] | None = None) -> None:
    """Raise :class:`HistoryError` naming ``file:line`` of a malformed txn op."""
    bad = first_invalid(ops)
    if bad is None:
        return
    position, msg = bad
    line = lines[position] if lines is not None and position < len(lines) \
        else _line_of(path, fmt, position)
    where = f"{path}:{line}" if line is not None else f"{path}: op {position}"
    raise HistoryError(f"{where}: expected a txn of [:append k v] and [:r k v] micro-ops; {msg}")
