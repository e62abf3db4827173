"""The set checker: was every acknowledged add still there at the end?

The set workload is the simplest durability test there is. Clients add
distinct integers to a set; at the end, after the faults have healed, a client
reads the whole set. Then, as in Jepsen's ``jepsen.checker/set``:

- *attempted*: every value some client tried to add;
- *acknowledged*: adds that completed ``ok``. The database promised these;
- *final read*: the set returned by the last ``ok`` read in the history. If
  several final reads run at the end (one per node, say), the one completing
  last wins: it is the latest state, and any earlier read that saw fewer
  values was at worst stale, which this checker does not judge;
- *lost*: acknowledged but absent from the final read. A broken promise:
  the history is invalid;
- *unexpected*: read but never attempted. Values out of thin air: invalid;
- *recovered*: adds whose outcome was unknown (``info``) or even ``fail``
  that are nonetheless in the final read. Fine for ``info`` (it may have
  happened); for ``fail`` the database claimed it did not happen, which is
  worth a look, so the checker lists those apart as ``failed-but-present``
  without making the history invalid, as Jepsen does not either;
- *ok*: final read ∩ attempted.

If no read ever succeeded the checker cannot tell: ``valid?`` is
``"unknown"`` ("never-read").

Sets print compactly (``#{0..55 57}``, see :mod:`checkers.intset`). Lost adds
are also listed with their invoke and completion times, so they can be found
on the timeline next to the faults that were in force.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checkers.core import UNKNOWN
from checkers.intset import format_intset
from pyharness.history import FAIL, OK, Op, pairs

#: How many lost adds to detail with their times; the counts stay exact.
MAX_LOST_OPS = 100


def _frac(n: int, d: int) -> float:
    return n / d if d else 0.0


class SetChecker:
    """Jepsen's set checker for f ``"add"`` (int values) and ``"read"``."""

    name = "set"

    def __init__(self, add_f: str = "add", read_f: str = "read") -> None:
        self.add_f = add_f
        self.read_f = read_f

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        attempted: set[int] = set()
        acked: dict[int, tuple[Op, Op]] = {}
        failed: set[int] = set()
        final: Op | None = None
        for inv, comp in pairs(history):
            if inv.f == self.add_f:
                v = inv.value
                attempted.add(v)
                # info or never completed: unknown; it may show up as recovered.
                if comp is not None and comp.type == OK:
                    acked[v] = (inv, comp)
                elif comp is not None and comp.type == FAIL:
                    failed.add(v)
            elif (inv.f == self.read_f and comp is not None and comp.type == OK
                  # Latest completion wins; pairs() yields in invocation order.
                  and (final is None or (comp.time, comp.index) > (final.time, final.index))):
                final = comp

        if final is None:
            return {"valid?": UNKNOWN, "error": "never-read",
                    "attempt-count": len(attempted), "acknowledged-count": len(acked)}

        read_list = list(final.value or [])
        read = set(read_list)
        acked_set = set(acked)
        ok = read & attempted
        lost = acked_set - read
        unexpected = read - attempted
        recovered = ok - acked_set
        failed_present = recovered & failed
        n = len(attempted)

        lost_ops = [
            {"value": v, "process": acked[v][0].process, "node": acked[v][0].node,
             "invoke-time": acked[v][0].time, "complete-time": acked[v][1].time,
             "invoke-index": acked[v][0].index, "complete-index": acked[v][1].index}
            for v in sorted(lost)[:MAX_LOST_OPS]
        ]
        return {
            "valid?": not lost and not unexpected,
            "attempt-count": n,
            "acknowledged-count": len(acked),
            "ok-count": len(ok),
            "lost-count": len(lost),
            "recovered-count": len(recovered),
            "unexpected-count": len(unexpected),
            "ok": format_intset(ok),
            "lost": format_intset(lost),
            "recovered": format_intset(recovered),
            "unexpected": format_intset(unexpected),
            "failed-but-present": format_intset(failed_present),
            "ok-frac": _frac(len(ok), n),
            "lost-frac": _frac(len(lost), n),
            "recovered-frac": _frac(len(recovered), n),
            "unexpected-frac": _frac(len(unexpected), n),
            # Duplicates in a set read mean the store returned one add twice.
            "duplicated-count": len(read_list) - len(read),
            "final-read": {"index": final.index, "time": final.time, "node": final.node,
                           "process": final.process},
            "lost-ops": lost_ops,
        }
