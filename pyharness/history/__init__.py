"""Histories: what every operation did, in the order it happened.

A history is a list of :class:`Op`. Each logical operation appears twice:
first as an ``invoke`` when a process starts it, then as its completion:

- ``ok``: it happened;
- ``fail``: it certainly did not happen;
- ``info``: the outcome is unknown. It may have happened at any moment after
  its invocation, or never. A process that gets ``info`` is retired and its
  worker continues under a fresh process number, as in Jepsen.

Nemesis operations use process ``"nemesis"`` and type ``info``.

On disk a history is JSON Lines (``history.jsonl``), one op per line, appended
as ops happen and flushed within 50 ms, so that a crash of the driver loses no
op completed before that.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
TYPES = (INVOKE, OK, FAIL, INFO)
NEMESIS = "nemesis"
_KNOWN = frozenset({"index", "time", "process", "type", "f", "value", "error", "node"})


@dataclass(slots=True)
class Op:
    """One history event. ``time`` is nanoseconds since the test started."""

    type: str
    f: str
    value: Any = None
    process: int | str = 0
    time: int = -1
    index: int = -1
    error: Any = None
    node: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.index,
            "time": self.time,
            "process": self.process,
            "type": self.type,
            "f": self.f,
            "value": self.value,
        }
        if self.error is not None:
            d["error"] = self.error
        if self.node is not None:
            d["node"] = self.node
        d.update(self.extra)
        return d

    def evolve(self, **changes: Any) -> Op:
        """A copy with ``changes``: :func:`dataclasses.replace` at a fraction
        of its cost, for the generators' hot path."""
        op = Op(self.type, self.f, self.value, self.process, self.time, self.index,
                self.error, self.node, self.extra)
        for k, v in changes.items():
            setattr(op, k, v)
        return op

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Op:
        get = d.get
        return cls(d["type"], d["f"], get("value"), get("process", 0), get("time", -1),
                   get("index", -1), get("error"), get("node"),
                   {} if d.keys() <= _KNOWN else {k: v for k, v in d.items() if k not in _KNOWN})

    def completion(self, type: str, value: Any = None, error: Any = None) -> Op:
        """The completion of this invocation, carrying the same f/process/node."""
        return Op(type=type, f=self.f, value=self.value if value is None else value,
                  process=self.process, error=error, node=self.node)

    @property
    def is_client(self) -> bool:
        return self.process != NEMESIS


class HistoryError(ValueError):
    """A history file that cannot be read. The message names file:line."""


def _line(d: dict[str, Any]) -> bytes:
    """One op as a JSONL line. orjson writes the line json.dumps would, five
    times faster (non-ASCII as UTF-8, not \\u escapes; a NaN, which no etcd value
    holds, as null); an int past 64 bits, which orjson refuses, goes to json."""
    try:  # without the options first: they cost a third more, and change nothing
        return orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE)  # that this takes
    except orjson.JSONEncodeError:
        pass
    try:
        return orjson.dumps(d, default=str, option=orjson.OPT_NON_STR_KEYS
                            | orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return (json.dumps(d, separators=(",", ":"), default=str) + "\n").encode()


class HistoryWriter:
    """Appends ops to a JSONL file, assigning index.

    Thread-safe: workers and the nemesis record through one writer. Lines
    reach the OS in batches: at once when the last flush is older than
    ``flush_s``, else from a background flusher within ``flush_s``. So a
    crash of the driver (``kill -9`` included) keeps every op recorded more
    than ``flush_s`` before it, without a write system call per op at
    thousands of ops/s. ``fsync`` is left to ``close``.
    """

    def __init__(self, path: Path, flush_s: float = 0.05) -> None:
        self.path = path
        self.flush_s = flush_s
        self._fh: BinaryIO = path.open("ab")
        self._lock = threading.Lock()
        self._ops: list[Op] = []
        self._dirty = False
        self._last_flush = time.monotonic()
        self._closed = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="history-flush",
                                         daemon=True)
        self._flusher.start()

    def append(self, op: Op) -> Op:
        with self._lock:
            op.index = len(self._ops)
            self._ops.append(op)
            self._fh.write(_line(op.to_dict()))
            now = time.monotonic()
            if now - self._last_flush >= self.flush_s:
                self._flush(now)
            else:
                self._dirty = True
        return op

    def _flush(self, now: float) -> None:
        self._fh.flush()
        self._dirty = False
        self._last_flush = now

    def _flush_loop(self) -> None:
        while not self._closed.wait(self.flush_s / 2):
            with self._lock:
                if self._dirty and not self._fh.closed:
                    self._flush(time.monotonic())

    def flush(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._flush(time.monotonic())

    @property
    def ops(self) -> list[Op]:
        with self._lock:
            return list(self._ops)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()


_MAX_JSON_DEPTH = 100  # as for EDN: checkers and reports recurse on values


def utf8_error(path: Path) -> str:
    """Where ``path`` first stops being UTF-8: ``file:line: ... byte N``."""
    offset = 0
    line = 1
    with path.open("rb") as fh:
        for raw in fh:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                # lone CRs end lines too when the file is read as text
                line += raw.count(b"\r", 0, e.start) - raw.count(b"\r\n", 0, e.start)
                return (f"{path}:{line}: not UTF-8 text: byte {offset + e.start} "
                        f"(0x{raw[e.start]:02x}, column {e.start + 1}): {e.reason}")
            offset += len(raw)
            line += 1 + raw.count(b"\r") - raw.count(b"\r\n")
    return f"{path}: not UTF-8 text"


@contextlib.contextmanager
def utf8_lines(path: Path) -> Iterator[Iterator[tuple[int, str]]]:
    """(line number, text) of a UTF-8 file, for a reader's own loop: no
    generator layer per line, and bad UTF-8 is a HistoryError naming the line
    and the byte offset (:func:`utf8_error`)."""
    with path.open(encoding="utf-8") as fh:
        try:
            yield enumerate(fh, 1)
        except UnicodeDecodeError:
            raise HistoryError(utf8_error(path)) from None


def _depth(text: str) -> int:
    """How deeply a JSON text nests arrays and objects (brackets in strings count too:
    an over-estimate, used only when the cheap count says it may be deep)."""
    depth = deepest = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _json_loads() -> Any:
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency
        return json.loads
    return orjson.loads


def iter_jsonl(path: Path) -> Iterator[tuple[int, Op]]:
    """(line, op) for each op of our JSONL history, streaming; any malformed line is a
    :class:`HistoryError` naming ``file:line``."""
    fast = _json_loads()
    position = 0
    with utf8_lines(path) as numbered:
        for lineno, line in numbered:
            try:
                d = fast(line)
            except ValueError:
                if not line.strip():
                    continue
                try:  # NaN, huge ints...: what json takes, we take
                    d = json.loads(line)
                except json.JSONDecodeError as e:
                    raise HistoryError(
                        f"{path}:{lineno}: expected a JSON object: {e.msg}") from None
                except RecursionError:
                    d = None
            if (line.count("[") + line.count("{") > _MAX_JSON_DEPTH
                    and _depth(line) > _MAX_JSON_DEPTH):
                raise HistoryError(f"{path}:{lineno}: expected an op nested at most "
                                   f"{_MAX_JSON_DEPTH} deep")
            if type(d) is not dict or "type" not in d or "f" not in d:
                raise HistoryError(f"{path}:{lineno}: expected an op with 'type' and 'f'")
            t = d["type"]
            if t not in TYPES:
                raise HistoryError(f"{path}:{lineno}: type {t!r} is not one of "
                                   f"{', '.join(TYPES)}")
            op = Op.from_dict(d)
            if type(op.index) is not int or type(op.time) is not int:
                name, v = ("index", op.index) if type(op.index) is not int \
                    else ("time", op.time)
                raise HistoryError(f"{path}:{lineno}: expected {name} to be an integer, "
                                   f"got {v!r:.60}")
            if op.index < 0:
                op.index = position
            position += 1
            yield lineno, op


def read_jsonl(path: Path) -> list[Op]:
    """Read our own history format, naming file:line on any malformed line."""
    return [op for _, op in iter_jsonl(path)]


def client_ops(history: Iterable[Op]) -> Iterator[Op]:
    return (op for op in history if op.is_client)


def pairs(history: Iterable[Op]) -> Iterator[tuple[Op, Op | None]]:
    """Yield (invoke, completion) for each client op; completion is None if
    the op never completed (the history ended first)."""
    open_: dict[Any, Op] = {}
    order: list[Op] = []
    done: dict[int, Op] = {}
    for op in history:
        if not op.is_client:
            continue
        if op.type == INVOKE:
            open_[op.process] = op
            order.append(op)
        else:
            inv = open_.pop(op.process, None)
            if inv is not None:
                done[id(inv)] = op
    for inv in order:
        yield inv, done.get(id(inv))
