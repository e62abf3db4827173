"""Stats: how many operations of each kind succeeded, failed, or were unsure.

Before asking whether a history is correct, ask whether it says anything. A
test in which every write timed out is trivially "consistent": nothing
happened, so nothing went wrong. Jepsen's stats checker guards against that:
it counts completions by ``f`` and by outcome (``ok``, ``fail``, ``info``) and
calls the history invalid if some ``f`` never once succeeded, since then that
part of the workload tested nothing.

Only client completions count (each invocation has exactly one completion,
or none if the test ended first). Nemesis ops are not client work; their number
is reported apart so a reader can see the faults happened at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyharness.history import FAIL, INFO, INVOKE, OK, Op

OUTCOMES = (OK, FAIL, INFO)


def _counts(ops: Sequence[Op]) -> dict[str, Any]:
    by_type = {t: 0 for t in OUTCOMES}
    for op in ops:
        by_type[op.type] = by_type.get(op.type, 0) + 1
    return {
        "valid?": by_type[OK] > 0,
        "count": len(ops),
        "ok-count": by_type[OK],
        "fail-count": by_type[FAIL],
        "info-count": by_type[INFO],
    }


class StatsChecker:
    """Counts by f and outcome; invalid if some f has no ok at all."""

    name = "stats"

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        completions = [op for op in history if op.is_client and op.type != INVOKE]
        by_f: dict[str, list[Op]] = {}
        for op in completions:
            by_f.setdefault(op.f, []).append(op)
        per_f = {f: _counts(ops) for f, ops in sorted(by_f.items())}
        overall = _counts(completions)
        return {
            **overall,
            # Jepsen: valid iff every f had some ok. No ops at all is vacuous: valid.
            "valid?": all(r["valid?"] for r in per_f.values()),
            "by-f": per_f,
            "nemesis-count": sum(1 for op in history if not op.is_client),
        }
