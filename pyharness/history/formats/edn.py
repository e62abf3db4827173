"""Jepsen and Knossos histories in EDN.

Jepsen writes ``history.edn`` as one op map per line, and Knossos's test data
as a vector ``[...]`` or list ``(...)`` of op maps, with ``;`` comments::

    [{:process 0, :type :invoke, :f :cas, :value [1 2], :time 1234}
     {:process :nemesis, :type :info, :f :kill, :value nil}]

We find each top-level map ourselves, streaming line by line, so every op
knows its line, and parse it with :mod:`pyharness.history.formats.edn_fast`, which
hands any form it does not understand to ``edn_format``.
Clojure keywords become strings (``:invoke`` -> ``"invoke"``), vectors and
lists become lists, ``nil`` becomes ``None``. Keys other than the standard
ones (``:key`` in Porcupine's kv histories, for instance) go to ``Op.extra``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pyharness.history import TYPES, HistoryError, Op
from pyharness.history.formats.edn_fast import iter_maps, text_lines, to_python

__all__ = ["iter_edn", "op_from_map", "read_edn", "read_edn_lines", "to_python"]

_STANDARD = frozenset({"index", "time", "process", "type", "f", "value", "error", "node"})


def op_from_map(m: Any, path: Path, line: int, position: int) -> Op:
    """Validate one parsed map (EDN values or already plain) and build an Op,
    naming file:line on error."""
    if not isinstance(m, Mapping):
        raise HistoryError(f"{path}:{line}: expected an op map, got {type(m).__name__}")
    d = m if type(m) is dict else to_python(m)
    return op_from_dict(d, path, line, position)


def op_from_dict(d: dict[str, Any], path: Path, line: int, position: int) -> Op:
    """An Op from a map already converted by :func:`to_python`."""
    if "type" not in d or "f" not in d or "process" not in d:
        raise HistoryError(f"{path}:{line}: expected an op map with :type, :f and :process")
    if d["type"] not in TYPES:
        raise HistoryError(f"{path}:{line}: :type {d['type']!r} is not one of "
                           + ", ".join(":" + t for t in TYPES))
    get = d.get
    t = get("time", -1)
    idx = get("index", -1)
    return Op(d["type"], str(d["f"]), get("value"), d["process"],
              t if isinstance(t, int) else -1,
              idx if isinstance(idx, int) and idx >= 0 else position,
              get("error"), get("node"),
              {} if d.keys() <= _STANDARD else
              {k: v for k, v in d.items() if k not in _STANDARD})


def iter_edn(path: Path) -> Iterator[tuple[int, Op]]:
    """(line, op) for each op of a Jepsen/Knossos EDN history, streaming."""
    for position, (line, d) in enumerate(iter_maps(text_lines(path), path)):
        if type(d) is not dict:
            raise HistoryError(f"{path}:{line}: expected an op map, got {type(d).__name__}")
        yield line, op_from_dict(d, path, line, position)


def read_edn(path: Path) -> list[Op]:
    """Read a Jepsen/Knossos EDN history (vector, list, or one map per line)."""
    return [op for _, op in iter_edn(path)]


def read_edn_lines(path: Path) -> list[tuple[int, Op]]:
    """Like :func:`read_edn`, keeping each op's line number for later checks."""
    return list(iter_edn(path))
