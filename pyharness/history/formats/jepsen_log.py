"""Jepsen's console log of operations.

Old Jepsen tests logged every op through ``jepsen.util``, one line each::

    INFO  jepsen.util - 3	:invoke	:cas	[1 4]
    INFO  jepsen.util - 3	:fail	:cas	[1 4]
    INFO  jepsen.util - 0	:info	:write	:timed-out

Fields are tab-separated (some copies expand the tabs to spaces): process,
type, function, value. The value is EDN (``nil``, ``3``, ``[1 4]``,
``:timed-out``) and is parsed by :mod:`pyharness.history.formats.edn_fast`.
Porcupine's etcd test data is in this form. Lines from other loggers are not
ops and are skipped; a ``jepsen.util`` line that is not an op is an error.
Logs carry no op times; ops are indexed by position.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyharness.history import TYPES, HistoryError, Op, utf8_lines
from pyharness.history.formats.edn_fast import loads as edn_loads

OP_LINE = re.compile(r"\b(?:TRACE|DEBUG|INFO|WARN|ERROR)\s+jepsen\.util\s+-\s+(.*)$")
# tabs in Jepsen's own logs; some copies have them expanded to spaces
FIELDS = re.compile(r"(\S+)\s+(\S+)\s+(\S+)(?:\s+(.*))?$")
OTHER_LOG_LINE = re.compile(r"^(?:\S+\s+\S+\s+)?\{?\s*(?:TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\s+\S")


_PROCESS = re.compile(r"-?[0-9]+").fullmatch
_VALUES: dict[str, Any] = {}
_MISSING = object()


def _scalar(v: Any) -> bool:
    return v is None or type(v) in (int, str, bool, float)


def looks_like(line: str) -> bool:
    return OP_LINE.search(line) is not None


def parse_line(line: str, path: Path, lineno: int, position: int) -> Op | None:
    """One log line to an Op; None for lines of other loggers."""
    m = OP_LINE.search(line)
    if m is None:
        if OTHER_LOG_LINE.match(line):
            return None
        raise HistoryError(f"{path}:{lineno}: expected a Jepsen log line "
                           "'INFO  jepsen.util - <process>\\t:<type>\\t:<f>\\t<value>'")
    fields = FIELDS.match(m.group(1))
    if fields is None:
        raise HistoryError(f"{path}:{lineno}: expected process, :type, :f and value "
                           "separated by tabs or spaces")
    proc_s, type_s, f_s, value_s = fields.groups()
    value_s = (value_s or "").strip() or "nil"
    if _PROCESS(proc_s):
        process: int | str = int(proc_s)
    elif proc_s.startswith(":") and len(proc_s) > 1:
        process = proc_s[1:]
    else:
        raise HistoryError(
            f"{path}:{lineno}: expected a process number or :nemesis, got {proc_s!r}")
    if not type_s.startswith(":") or type_s[1:] not in TYPES:
        raise HistoryError(f"{path}:{lineno}: expected :type one of "
                           + ", ".join(":" + t for t in TYPES) + f", got {type_s!r}")
    if not f_s.startswith(":") or len(f_s) < 2:
        raise HistoryError(f"{path}:{lineno}: expected :f as a keyword, got {f_s!r}")
    value = _VALUES.get(value_s, _MISSING)
    if value is _MISSING:
        try:
            value = edn_loads(value_s)
        except ValueError as e:
            raise HistoryError(f"{path}:{lineno}: expected an EDN value, got {value_s[:80]!r}"
                               f" ({e})") from None
        if len(_VALUES) < 10_000 and (_scalar(value) or (type(value) is list and all(
                _scalar(x) for x in value))):
            _VALUES[value_s] = value  # a list is copied for each op that uses it
    elif type(value) is list:
        value = value.copy()
    return Op(type_s[1:], f_s[1:], value, process, -1, position)  # positional: every line


def iter_jepsen_log(path: Path) -> Iterator[tuple[int, Op]]:
    """(line, op) for each op line of a Jepsen log, streaming."""
    position = 0
    with utf8_lines(path) as numbered:  # not text_lines: a generator layer less a line
        for lineno, line in numbered:
            if not line.strip():
                continue
            op = parse_line(line.rstrip("\n"), path, lineno, position)
            if op is not None:
                position += 1
                yield lineno, op


def read_jepsen_log(path: Path) -> list[Op]:
    return [op for _, op in iter_jepsen_log(path)]
