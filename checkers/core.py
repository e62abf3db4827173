"""The checker protocol and how verdicts compose.

Composed verdicts follow Jepsen: ``False`` beats ``"unknown"``, which beats
``True``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from pyharness.history import Op

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
    for c in checkers:
        try:
            results[c.name] = c.check(test, history)
        except Exception as e:  # a checker bug must not lose the other verdicts
            results[c.name] = {"valid?": UNKNOWN, "error": f"{type(e).__name__}: {e}"}
    return {"valid?": merge_valid([r["valid?"] for r in results.values()]), **results}
