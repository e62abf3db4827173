"""Exporting a history as Jepsen-style EDN, for Jepsen, Knossos and Elle.

Jepsen's tools speak EDN, Clojure's data notation. A history there is a
vector of op maps whose keys are keywords::

    [{:index 0, :time 1200, :process 0, :type :invoke, :f :add, :value 3}
     {:index 1, :time 5300, :process 0, :type :ok, :f :add, :value 3}
     {:index 2, :time 6000, :process :nemesis, :type :info, :f :start-partition,
      :value {"n1" ["n2" "n3"]}}]

The conventions that matter to those tools, and that this export keeps:

- ``:type`` and ``:f`` are keywords (``:invoke``, ``:ok``, ``:fail``,
  ``:info``; ``:add``, ``:read``, ``:cas``), not strings;
- ``:process`` is an integer for clients and the keyword ``:nemesis`` for
  the nemesis;
- ``:time`` is nanoseconds since the test started, ``:index`` the position;
- ``:error`` only when there is one, as are our extra fields (``:node``,
  ``:cas_conflicts``, ``:effective_ns``...), which Jepsen's checkers ignore.

Values are written as data, not re-interpreted: lists become vectors and
JSON objects become maps with string keys, so reading the file back (with
:func:`pyharness.history.formats.read_history`) gives the same ops. One op is
written per line, which is what Jepsen itself writes and lets ``grep`` work.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import edn_format
from edn_format import Keyword

from pyharness.history import NEMESIS, Op
from pyharness.history.formats import txn

# Names that read back as one plain keyword. A "/" would make a namespaced
# keyword and other characters may not parse, so those stay strings.
_KEYWORD_NAME = re.compile(r"[A-Za-z*+!_?<>=-][A-Za-z0-9*+!_?<>=.-]*\Z")


def _keyword_or_str(name: str) -> Keyword | str:
    return Keyword(name) if _KEYWORD_NAME.match(name) else name


def to_edn(v: Any) -> Any:
    """Plain Python data to what ``edn_format`` writes as vectors and maps."""
    if isinstance(v, Mapping):
        return {to_edn(k): to_edn(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [to_edn(x) for x in v]
    if isinstance(v, set | frozenset):
        return frozenset(to_edn(x) for x in v)
    return v


def op_to_edn(op: Op) -> dict[Any, Any]:
    """One op as an EDN map with keyword keys, in Jepsen's order."""
    process: Any = Keyword(NEMESIS) if op.process == NEMESIS else op.process
    m: dict[Any, Any] = {
        Keyword("index"): op.index,
        Keyword("time"): op.time,
        Keyword("process"): process,
        Keyword("type"): Keyword(op.type),
        Keyword("f"): _keyword_or_str(op.f),
        Keyword("value"): to_edn(op.value),
    }
    if op.error is not None:
        m[Keyword("error")] = to_edn(op.error)
    if op.node is not None:
        m[Keyword("node")] = op.node
    for k, v in op.extra.items():
        m[_keyword_or_str(k)] = to_edn(v)
    return m


@lru_cache(maxsize=4096)
def _name(name: str) -> str:
    """A key or f as EDN text: ``:name`` if it can be a keyword, else a string."""
    return edn_format.dumps(_keyword_or_str(name))


def _data(v: Any) -> str:
    # Ints print the same in EDN as in Python; skipping edn_format's generic
    # printer for the commonest values makes the export several times faster.
    if type(v) is int:
        return str(v)
    return edn_format.dumps(to_edn(v))


def _value(op: Op) -> str:
    return _data(txn.value_to_edn(op.value) if op.f == txn.TXN_F else op.value)


def op_line(op: Op) -> str:
    """One op as EDN text: the same data as ``edn_format.dumps(op_to_edn(op))``."""
    process = ":" + NEMESIS if op.process == NEMESIS else _data(op.process)
    parts = [f"{{:index {_data(op.index)} :time {_data(op.time)} :process {process} "
             f":type {_name(op.type)} :f {_name(op.f)} :value {_value(op)}"]
    if op.error is not None:
        parts.append(f":error {_data(op.error)}")
    if op.node is not None:
        parts.append(f":node {_data(op.node)}")
    parts.extend(f"{_name(k)} {_data(v)}" for k, v in op.extra.items())
    return " ".join(parts) + "}"


def export_edn(history: Iterable[Op], path: Path) -> Path:
    """Write ``history`` to ``path`` as an EDN vector, one op map per line.

    Raises OSError (naming ``path``) if it cannot; no ``.tmp`` file is left."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write("[")
            for i, op in enumerate(history):
                if i:
                    fh.write("\n ")
                fh.write(op_line(op))
            fh.write("]\n")
        tmp.replace(path)  # a reader never sees half a file
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
