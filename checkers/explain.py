"""The facts behind a failed op, so an explanation needs no trip to the history.

"read is not linearizable" sends a user to ``history.jsonl``; "read returned
nil on n4, 0.7 s after n4's partition healed" says what happened. For one op
these are: what it asked (``invoked``), what it got (``returned``, ``type``,
``error``), the member it ran on, its interval, and every fault window (see
:mod:`checkers.windows`) that touched that member during the interval or
ended shortly before it (``RECENT_S``): a member that just rejoined is where
stale reads come from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from checkers.windows import Window
from pyharness.history import Op

NS = 1_000_000_000
#: A fault on the member that ended this long before the op is still worth naming.
RECENT_S = 10.0


def _hosts(w: Window) -> set[str]:
    hosts = w.info.get("hosts")
    return {str(h) for h in hosts} if isinstance(hosts, list) else set()


def op_facts(invoke: Op, complete: Op | None, windows: Sequence[Window],
             end_ns: int) -> dict[str, Any]:
    """The facts of one op (see the module doc), JSON-ready."""
    start = invoke.time
    stop = complete.time if complete is not None else end_ns
    member = invoke.node or (complete.node if complete is not None else None)
    faults = []
    for w in windows:
        if member is None or member not in _hosts(w):
            continue
        if w.start <= stop and w.end >= start:
            relation = "during"
        elif w.end < start and (start - w.end) / NS <= RECENT_S:
            relation = f"ended {(start - w.end) / NS:.1f} s before"
        else:
            continue
        fault = {"kind": w.kind, "start-s": round(w.start / NS, 3),
                 "end-s": round(w.end / NS, 3), "relation": relation}
        if w.uncertain:
            fault["uncertain"] = True
        faults.append(fault)
    facts: dict[str, Any] = {
        "invoked": invoke.value,
        "returned": complete.value if complete is not None else None,
        "type": complete.type if complete is not None else "info",
        "member": member,
        "invoke-s": round(start / NS, 3),
        "complete-s": round(stop / NS, 3) if complete is not None else None,
        "faults-on-member": faults,
    }
    if complete is not None and complete.error is not None:
        facts["error"] = complete.error
    facts["explanation"] = explain(invoke.f, facts)
    return facts


def _show(v: Any) -> str:
    return "nil" if v is None else str(v)


def explain(f: str, facts: dict[str, Any]) -> str:
    """One line: ``read returned nil on n4 (10.20-10.24 s); on n4: partition
    ended 0.7 s before``."""
    what = f"{f} {_show(facts['invoked'])}" if facts["invoked"] is not None else f
    if facts["type"] == "ok":
        got = f"returned {_show(facts['returned'])}"
    elif facts["type"] == "fail":
        got = f"failed ({_show(facts.get('error'))})"
    else:
        got = "has an unknown outcome"
    where = f" on {facts['member']}" if facts["member"] else ""
    if facts["complete-s"] is not None:
        when = f"{facts['invoke-s']:.2f}-{facts['complete-s']:.2f} s"
    else:
        when = f"from {facts['invoke-s']:.2f} s, never completed"
    line = f"{what} {got}{where} ({when})"
    if facts["faults-on-member"]:
        parts = [f"{x['kind']} {x['relation']}" + (" (uncertain)" if x.get("uncertain") else "")
                 for x in facts["faults-on-member"]]
        line += f"; on {facts['member']}: " + ", ".join(parts)
    elif facts["member"]:
        line += f"; no fault on {facts['member']} then"
    return line
