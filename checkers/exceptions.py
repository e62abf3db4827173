"""Unhandled exceptions: errors the client did not expect, grouped by class.

A client turns the failures it understands into short error strings
(``"timeout"``, ``["not-leader", ...]``) and decides from them whether an op
failed or is unknown. Anything else, an exception it had no handler for,
it records as ``info`` (the op may have happened) with the error shaped as::

    {"class": "urllib3.exceptions.ProtocolError", "message": "...", "trace": "..."}

(``trace`` optional). Such errors are often a bug in the client or the
harness rather than in the database, and one of them repeated ten thousand
times hides everything else, so this checker groups them by class, counts
them, and keeps the first op of each as an example. Like Jepsen's
``unhandled-exceptions`` it is informational: ``valid?`` is always True.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyharness.history import INVOKE, Op


def exception_class(error: Any) -> str | None:
    """The class name if ``error`` has the documented exception shape."""
    if isinstance(error, Mapping) and isinstance(error.get("class"), str):
        return error["class"]
    return None


class UnhandledExceptionsChecker:
    """Groups completions whose error is ``{"class": ..., "message": ...}``."""

    name = "unhandled-exceptions"

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        groups: dict[str, dict[str, Any]] = {}
        for op in history:
            if op.type == INVOKE:
                continue
            cls = exception_class(op.error)
            if cls is None:
                continue
            g = groups.get(cls)
            if g is None:
                groups[cls] = {"class": cls, "count": 1, "example": op.to_dict()}
            else:
                g["count"] += 1
        ranked = sorted(groups.values(), key=lambda g: (-g["count"], g["class"]))
        result: dict[str, Any] = {"valid?": True}
        if ranked:
            result["exceptions"] = ranked
        return result
