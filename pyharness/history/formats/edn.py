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

from collections.abc import Callable, Iterator, Mapping
from operator import itemgetter
from pathlib import Path
from typing import Any

from pyharness.history import TYPES, HistoryError, Op, utf8_lines
from pyharness.history.formats.edn_fast import Framing, flat_map, iter_maps, text_lines, to_python

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


# Op's fields as they are taken from a flat map's values, in Op's order
_FIELDS = ("type", "f", "value", "process", "time", "index", "error", "node")
_Plan = tuple[Callable[[list[Any]], tuple[Any, ...]], tuple[tuple[str, int], ...]]
_plans: dict[tuple[str, ...], _Plan | None] = {}
_NO_PLAN = object()


def _plan(names: tuple[str, ...]) -> _Plan | None:
    """How to take an Op's fields from the values of a flat map with these keys
    (a missing one from a None appended); None if op_from_dict must say what is
    wrong."""
    if "type" not in names or "f" not in names or "process" not in names:
        return None
    at = {n: i for i, n in enumerate(names)}
    return (itemgetter(*(at.get(k, len(names)) for k in _FIELDS)),
            tuple((n, i) for i, n in enumerate(names) if n not in _STANDARD))


def iter_edn(path: Path) -> Iterator[tuple[int, Op]]:
    """(line, op) for each op of a Jepsen/Knossos EDN history, streaming."""
    for position, (line, d) in enumerate(iter_maps(text_lines(path), path)):
        if type(d) is not dict:
            raise HistoryError(f"{path}:{line}: expected an op map, got {type(d).__name__}")
        yield line, op_from_dict(d, path, line, position)


def read_edn(path: Path) -> list[Op]:
    """Read a Jepsen/Knossos EDN history (vector, list, or one map per line)."""
    return [op for _, op in read_edn_lines(path)]


def read_edn_lines(path: Path) -> list[tuple[int, Op]]:
    """Like :func:`read_edn`, keeping each op's line number for later checks.

    :func:`iter_edn` in one loop: a line that :func:`flat_map` reads becomes an
    Op straight from its values, as op_from_dict would make it, without a dict
    or a generator layer between (each was a tenth of the time)."""
    out: list[tuple[int, Op]] = []
    keep = out.append
    framing = Framing(path)
    plans = _plans
    lineno = 0
    with utf8_lines(path) as it:
        for lineno, text in it:
            if framing.ready and (flat := flat_map(text)) is not None:
                framing.seen = True
                names, values = flat
                plan = plans.get(names, _NO_PLAN)
                if plan is _NO_PLAN:
                    plan = _plan(names)
                    if len(plans) < 10_000:
                        plans[names] = plan
                if plan is not None:
                    values.append(None)  # what a key the map lacks gives
                    type_, f, value, process, time, index, error, node = plan[0](values)
                    if type_ in TYPES:
                        keep((lineno, Op(
                            type_, f if type(f) is str else str(f), value, process,
                            time if isinstance(time, int) else -1,
                            index if isinstance(index, int) and index >= 0 else len(out),
                            error, node, {n: values[i] for n, i in plan[1]} if plan[1]
                            else {})))
                        continue
                # op_from_dict says what is wrong (values may have the None appended)
                keep((lineno, op_from_dict(dict(zip(names, values, strict=False)), path,
                                           lineno, len(out))))
                continue
            for line, d in framing.feed(lineno, text, it):
                if type(d) is not dict:
                    raise HistoryError(f"{path}:{line}: expected an op map, got "
                                       f"{type(d).__name__}")
                keep((line, op_from_dict(d, path, line, len(out))))
    framing.finish(lineno)
    return out
