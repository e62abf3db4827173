"""The watch checker: did every watch deliver what etcd promises?

etcd's API guarantees for watch (its "API guarantees" page; the robustness
suite's ``validate/watch.go``), as judged here from the watch workload's
history (:mod:`pyharness.workloads.watch`):

- **ordered**: within one watch, revisions never go backwards;
- **unique**: no event (revision, key) arrives twice on one watch;
- **reliable**: no gap. A watch that started at revision S and delivered an
  event at revision L must have delivered every acknowledged write to its
  keys with S <= revision <= L. (Writes after L may simply not have arrived
  within the window, so they are not judged.) This is what etcd-io/etcd#18089
  broke: a watch from a compacted revision that was a delete skipped the
  delete;
- **resumable**: a watch resumed from revision R is judged as any other from R;
- **no phantoms**: every event is a write that happened: an acknowledged one
  with the same revision, type, key and value, or one whose outcome was
  unknown (``info``) with that type, key and value.

A watch that etcd refused because its start was compacted is its documented
answer, counted as ``compacted``, never a violation. A watch that delivered
no event, or a history with no watch, has nothing to judge: with no watch
that delivered anything the verdict is ``unknown``.

Each violation names the watch op, its member, the revisions and the missing
or extra event, and when the watch ended (``time-s``, since the test began).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checkers.core import UNKNOWN
from pyharness.history import INFO, OK, Op, pairs

MAX_DETAILED = 50  # violations listed in full; the counts stay exact

WRITES = {"put": "PUT", "delete": "DELETE"}


def _event(rev: int, kind: str, key: Any, value: Any) -> list[Any]:
    return [rev, kind, key, None if kind == "DELETE" else value]


class WatchChecker:
    name = "watch"

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        acked: dict[int, list[Any]] = {}  # revision -> [rev, type, key, value]
        maybe: set[tuple[str, Any, Any]] = set()  # (type, key, value) of info writes
        watches: list[tuple[Op, Op]] = []
        for inv, comp in pairs(history):
            if inv.f in WRITES and comp is not None and comp.type == OK:
                rev = comp.extra.get("revision")
                k, v = inv.value
                if inv.f == "delete" and not comp.extra.get("deleted"):
                    continue  # deleting an absent key writes nothing: no event
                if isinstance(rev, int):
                    acked[rev] = _event(rev, WRITES[inv.f], k, v)
            elif inv.f in WRITES and (comp is None or comp.type == INFO):
                k, v = inv.value
                maybe.add((WRITES[inv.f], k, None if inv.f == "delete" else v))
            elif inv.f == "watch" and comp is not None and isinstance(comp.value, dict):
                watches.append((inv, comp))

        violations: list[dict[str, Any]] = []
        counts = {"watches": len(watches), "compacted": 0, "judged": 0, "events": 0}
        for _inv, comp in watches:
            v = comp.value
            if v.get("compacted"):
                counts["compacted"] += 1
                continue
            events = [e for e in v.get("events") or [] if isinstance(e, list) and len(e) == 4]
            counts["events"] += len(events)
            if not events:
                continue
            counts["judged"] += 1
            start = int(v.get("from") or 0) or int(v.get("created") or 0) + 1
            violations.extend(self._judge(comp, start, events, acked, maybe))

        by_kind: dict[str, int] = {}
        for x in violations:
            by_kind[x["kind"]] = by_kind.get(x["kind"], 0) + 1
        valid: bool | str = not violations
        if not violations and counts["judged"] == 0:
            valid = UNKNOWN
        return {
            "valid?": valid,
            **({"reason": "no watch delivered an event"} if valid == UNKNOWN else {}),
            **counts,
            "acknowledged-writes": len(acked),
            "violation-count": len(violations),
            "violations-by-kind": by_kind,
            "violations": violations[:MAX_DETAILED],
        }

    def _judge(self, comp: Op, start: int, events: list[list[Any]],
               acked: Mapping[int, list[Any]], maybe: set[tuple[str, Any, Any]]
               ) -> list[dict[str, Any]]:
        where = {"watch": comp.index, "process": comp.process, "member": comp.node,
                 "from": start, "time-s": round(comp.time / 1e9, 3)}
        out: list[dict[str, Any]] = []
        seen: set[tuple[int, Any]] = set()
        last = 0
        for e in events:
            rev, kind, key, value = e
            if rev < last:
                out.append({**where, "kind": "out-of-order", "revision": rev, "after": last})
            last = max(last, rev)
            if (rev, key) in seen:
                out.append({**where, "kind": "duplicate", "event": e})
            seen.add((rev, key))
            if rev < start:
                out.append({**where, "kind": "before-start", "event": e})
            want = acked.get(rev)
            if want is not None:
                if want != _event(rev, kind, key, value):
                    out.append({**where, "kind": "wrong-event", "event": e, "expected": want})
            elif (kind, key, None if kind == "DELETE" else value) not in maybe:
                out.append({**where, "kind": "phantom", "event": e})
        delivered = {rev for rev, *_ in events}
        missing = [acked[r] for r in sorted(acked) if start <= r <= last and r not in delivered]
        for m in missing:
            out.append({**where, "kind": "missing", "event": m, "last-delivered": last})
        return out


def describe(v: Mapping[str, Any]) -> str:
    """One violation in words, e.g. "watch op 812 on n2 from 143: missing
    DELETE of key 1 at 143 (it delivered up to 150)"."""
    head = f"watch op {v.get('watch')} on {v.get('member')} from {v.get('from')}"
    e = v.get("event") or []
    what = (f"{e[1]} of key {e[2]} at {e[0]}" + (f" = {e[3]}" if e[3] is not None else "")
            if len(e) == 4 else "")
    kind = v.get("kind")
    if kind == "missing":
        return f"{head}: missing {what} (it delivered up to {v.get('last-delivered')})"
    if kind == "out-of-order":
        return f"{head}: revision {v.get('revision')} after {v.get('after')}"
    if kind == "wrong-event":
        x = v.get("expected") or []
        return f"{head}: got {what}, but the write at {e[0] if e else '?'} was {x}"
    return f"{head}: {kind} {what}".rstrip()


def summary(r: Mapping[str, Any]) -> str:
    """The verdict's reason in one line."""
    if r.get("reason"):
        return str(r["reason"])
    n = int(r.get("violation-count", 0))
    if not n:
        return (f"{r.get('judged', 0)} watches judged, {r.get('events', 0)} events, "
                f"{r.get('compacted', 0)} answered compacted")
    first = (r.get("violations") or [{}])[0]
    kinds = ", ".join(f"{k} {c}" for k, c in sorted((r.get("violations-by-kind") or {}).items()))
    return f"{n} violations ({kinds}); first: {describe(first)}"
