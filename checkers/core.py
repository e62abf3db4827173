"""The checker protocol and how verdicts compose.

Composed verdicts follow Jepsen: ``False`` beats ``"unknown"``, which beats
``True``.

A checker that crashes does not lose the other verdicts: its result is
unknown with an ``error`` naming the checker, and the key and op when the
checker knows them (:class:`CheckerFailure`), so the cause can be printed.
A checker that only draws (perf, timeline) and cannot write its file has no
opinion on the history either way: its failure is a ``write-error``, never a
verdict. Every write error of every checker is gathered in the composed
``write-errors``, for the caller to report beside the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from pyharness.history import Op

#: Checkers that only draw the history; their verdict is always true.
ARTIFACT_CHECKERS = frozenset({"perf", "timeline"})


class CheckerFailure(Exception):
    """A checker could not judge: says which key and op, when it knows."""

    def __init__(self, reason: str, key: str | None = None, op: Op | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key
        self.op = op


def describe_op(op: Op) -> str:
    """An op as a person finds it in the history: index, process, type, f, value."""
    return (f"op {op.index} (process {op.process!r}, {op.type} {op.f} "
            f"{_short(op.value)})")


def _short(v: Any, limit: int = 60) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "..."


def failure_result(checker: str, e: BaseException) -> dict[str, Any]:
    """The unknown result of a checker that raised ``e``."""
    reason = e.reason if isinstance(e, CheckerFailure) else f"{type(e).__name__}: {e}"
    r: dict[str, Any] = {"valid?": UNKNOWN, "error": reason}
    where = [f"checker {checker}"]
    if isinstance(e, CheckerFailure):
        if e.key is not None:
            r["key"] = e.key
            where.append(f"key {e.key}")
        if e.op is not None:
            r["op"] = e.op.to_dict()
            where.append(describe_op(e.op))
    r["failure"] = ", ".join(where) + ": " + reason
    return r

Valid = bool | Literal["unknown"]
UNKNOWN: Literal["unknown"] = "unknown"


class Checker(Protocol):
    name: str

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        """Return a result map with at least ``"valid?"``."""
        ...


def merge_valid(values: Sequence[Valid]) -> Valid:
    """Jepsen's priority: any False -> False; else any unknown -> unknown."""
    if any(v is False for v in values):
        return False
    if any(v is not True for v in values):
        return UNKNOWN
    return True


def compose(checkers: Sequence[Checker], test: Mapping[str, Any],
            history: Sequence[Op]) -> dict[str, Any]:
    """Run every checker; a checker that crashes yields unknown, not a crash."""
    results: dict[str, Any] = {}
    write_errors: list[str] = []
    for c in checkers:
        try:
            r = c.check(test, history)
        except OSError as e:
            if c.name not in ARTIFACT_CHECKERS:
                r = failure_result(c.name, e)
            else:
                # a plot that cannot be written says nothing about the history
                where = f" {e.filename}" if e.filename else ""
                r = {"valid?": True, "write-error":
                     f"checker {c.name}: cannot write{where}: {e.strerror or e}"}
        except Exception as e:  # a checker bug must not lose the other verdicts
            r = failure_result(c.name, e)
        results[c.name] = r
        if isinstance(r.get("write-error"), str):
            write_errors.append(r["write-error"])
        write_errors.extend(x for x in r.get("write-errors", []) if isinstance(x, str))
    out: dict[str, Any] = {"valid?": merge_valid([r["valid?"] for r in results.values()]),
                           **results}
    if write_errors:
        out["write-errors"] = write_errors
    return out


def failures(results: Mapping[str, Any]) -> list[str]:
    """One line per checker that could not judge, from a composed result."""
    return [r["failure"] for r in results.values()
            if isinstance(r, Mapping) and isinstance(r.get("failure"), str)]
