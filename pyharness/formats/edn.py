"""Jepsen and Knossos histories in EDN.

Jepsen writes ``history.edn`` as one op map per line, and Knossos's test data
as a vector ``[...]`` or list ``(...)`` of op maps, with ``;`` comments::

    [{:process 0, :type :invoke, :f :cas, :value [1 2], :time 1234}
     {:process :nemesis, :type :info, :f :kill, :value nil}]

We find each top-level map ourselves (tracking brackets, strings and
comments, so every op knows its line) and let ``edn_format`` parse it.
Clojure keywords become strings (``:invoke`` -> ``"invoke"``), vectors and
lists become lists, ``nil`` becomes ``None``. Keys other than the standard
ones (``:key`` in Porcupine's kv histories, for instance) go to ``Op.extra``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import edn_format
from edn_format.edn_lex import Keyword, Symbol

from pyharness.history import TYPES, HistoryError, Op

_STANDARD = {"index", "time", "process", "type", "f", "value", "error", "node"}


def to_python(v: Any) -> Any:
    """EDN values to plain Python: keywords/symbols to names, sequences to lists."""
    if isinstance(v, Keyword | Symbol):
        return v.name
    if isinstance(v, Mapping):
        return {to_python(k): to_python(x) for k, x in v.items()}
    if isinstance(v, frozenset | set):
        return sorted((to_python(x) for x in v), key=repr)
    if isinstance(v, Sequence) and not isinstance(v, str):
        return [to_python(x) for x in v]
    return v


def top_level_maps(text: str, path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line, source text) for each op map, inside an optional outer [..] or (..)."""
    depth = 0
    base = 0  # depth at which op maps sit: 1 inside an outer vector or list
    closed = False  # the outer collection ended; only blanks and comments may follow
    seen = False
    start, start_line, line = -1, 0, 1
    i, n = 0, len(text)
    in_str = False
    while i < n:
        ch = text[i]
        if in_str:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_str = False
            elif ch == "\n":
                line += 1
        elif ch == ";":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif ch == "\n":
            line += 1
        elif ch.isspace() or ch == ",":
            pass
        elif closed:
            raise HistoryError(f"{path}:{line}: expected end of file after the closing bracket")
        elif ch in "[(" and not seen:
            base = depth = 1
        elif ch in "[({":
            if depth == base:
                if ch != "{":
                    raise HistoryError(f"{path}:{line}: expected an op map {{...}}, found {ch!r}")
                start, start_line = i, line
            depth += 1
        elif ch in "])}":
            if depth == 0:
                raise HistoryError(f"{path}:{line}: unbalanced {ch!r}")
            depth -= 1
            if depth == base and start >= 0:
                yield start_line, text[start:i + 1]
                start = -1
            elif depth == 0:
                closed = True
        elif ch == '"':
            in_str = True
        elif depth == base:
            raise HistoryError(f"{path}:{line}: expected an op map {{...}}, found {ch!r}")
        seen = seen or not (ch.isspace() or ch == ",")
        i += 1
    if depth > 0:
        raise HistoryError(f"{path}:{start_line or line}: unclosed map or vector at end of file")


def op_from_map(m: Any, path: Path, line: int, position: int) -> Op:
    """Validate one parsed map and build an Op, naming file:line on error."""
    if not isinstance(m, Mapping):
        raise HistoryError(f"{path}:{line}: expected an op map, got {type(m).__name__}")
    d = to_python(m)
    if "type" not in d or "f" not in d or "process" not in d:
        raise HistoryError(f"{path}:{line}: expected an op map with :type, :f and :process")
    if d["type"] not in TYPES:
        raise HistoryError(f"{path}:{line}: :type {d['type']!r} is not one of "
                           + ", ".join(":" + t for t in TYPES))
    t = d.get("time", -1)
    idx = d.get("index", -1)
    return Op(
        type=d["type"], f=str(d["f"]), value=d.get("value"), process=d["process"],
        time=t if isinstance(t, int) else -1,
        index=idx if isinstance(idx, int) and idx >= 0 else position,
        error=d.get("error"), node=d.get("node"),
        extra={k: v for k, v in d.items() if k not in _STANDARD},
    )


def read_edn(path: Path) -> list[Op]:
    """Read a Jepsen/Knossos EDN history (vector, list, or one map per line)."""
    return [op for _, op in read_edn_lines(path)]


def read_edn_lines(path: Path) -> list[tuple[int, Op]]:
    """Like :func:`read_edn`, keeping each op's line number for later checks."""
    text = path.read_text(encoding="utf-8")
    ops: list[tuple[int, Op]] = []
    for line, src in top_level_maps(text, path):
        try:
            m = edn_format.loads(src)
        except Exception as e:  # edn_format raises several types for bad syntax
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise HistoryError(f"{path}:{line}: expected an EDN op map: {msg}") from None
        ops.append((line, op_from_map(m, path, line, len(ops))))
    return ops
