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
- **atomic**: all events of one revision (a transaction writing several
  keys) arrive in one response of the stream;
- **resumable**: a watch resumed from revision R is judged as any other from R;
- **bookmarkable**: a progress notification at revision P promises that
  every event up to P has been delivered: no later event of that watch is at
  P or below, and every acknowledged write from the start to P came before it;
- **prevKV and is_create**: a PUT creates its key (``create_revision`` is the
  event's revision, ``version`` 1) exactly when the key did not exist just
  before, and the ``prev_kv`` of an event is the key's state just before it
  (or none, as documented, once that state's revision may be compacted:
  counted in ``prev-kv-compacted``, not judged).
  That state is known when every revision between the key's previous known
  write and the event is known (acknowledged, or delivered by some watch);
  otherwise an unknown write could lie between, and the event is not judged
  on it (counted as ``meta-unjudged``);
- **filters honoured**: a watch with ``NOPUT`` (``NODELETE``) gets no PUT
  (DELETE) event, and is judged reliable on the other type only;
- **no phantoms**: every event is a write that happened: an acknowledged one
  with the same revision, type, key and value, or one whose outcome was
  unknown (``info``) with that type, key and value.

Events are ``[revision, type, key, value]``, with ``create_revision``,
``version`` and the previous value appended where the workload recorded
them; a watch op's ``splits`` (where each response began) and ``progress``
(``[events delivered so far, revision]`` per notification) are judged where
present. A history without them is judged on the rest.

A watch that etcd refused because its start was compacted is its documented
answer, counted as ``compacted``, never a violation. A watch that delivered
no event, or a history with no watch, has nothing to judge: with no watch
that delivered anything the verdict is ``unknown``.

Each violation names the watch op, its member, the revisions and the missing
or extra event, and when it showed (``time-s``, since the test began): the
arrival of the event that shows it (for a missing event, of the first later
one), where the workload recorded arrivals, else the watch's end.
In a run's directory the checker also draws ``watch.png``
(:mod:`checkers.watch_plot`): every watch's revisions against time, by
member, violations marked.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN
from checkers.watch_times import arrivals_s
from pyharness.history import INFO, OK, Op, pairs

MAX_DETAILED = 50  # violations listed in full; the counts stay exact

WRITES = {"put": "PUT", "delete": "DELETE"}


def _event(rev: int, kind: str, key: Any, value: Any) -> list[Any]:
    return [rev, kind, key, None if kind == "DELETE" else value]


def _writes_of(f: str, value: Any) -> list[tuple[str, Any, Any]]:
    """(type, key, value) of what one write op writes, in key order."""
    if f == "txn":
        return sorted((("PUT", k, v) for k, v in value), key=lambda w: str(w[1]))
    k, v = value
    return [(WRITES[f], k, None if f == "delete" else v)]


class _Timeline:
    """What is known of the store's writes: by revision (acknowledged, or
    delivered by some watch) and by key, to find a key's state just before
    a revision when nothing unknown can lie between."""

    def __init__(self, acked: Mapping[int, list[list[Any]]],
                 watches: Sequence[Sequence[list[Any]]]) -> None:
        known: dict[int, dict[Any, list[Any]]] = {
            r: {e[2]: e for e in evs} for r, evs in acked.items()}
        for events in watches:
            for e in events:
                known.setdefault(e[0], {}).setdefault(e[2], e[:4])
        self.known = known
        self.revs = sorted(known)
        by_key: dict[Any, list[int]] = {}
        for r in self.revs:
            for k in known[r]:
                by_key.setdefault(k, []).append(r)
        self.by_key = by_key

    def before(self, key: Any, rev: int, unsure_since: int | None,
               acked_at: int | None) -> tuple[bool, list[Any] | None]:
        """(judgeable, the key's last write before ``rev`` or None if absent).
        ``unsure_since``: when the first write to the key of unknown outcome
        was invoked; ``acked_at``: when the write at ``rev`` was acknowledged."""
        ks = self.by_key.get(key, [])
        i = bisect_left(ks, rev)
        if i == 0:
            # Never written before, as far as is known (the prefix is the
            # test's own): sure if no write of unknown outcome to the key
            # was invoked before ``rev`` was acknowledged.
            return (unsure_since is None
                    or (acked_at is not None and acked_at < unsure_since), None)
        prev = ks[i - 1]
        between = bisect_left(self.revs, rev) - bisect_right(self.revs, prev)
        if between != rev - prev - 1:
            return (False, None)  # a revision between is unknown
        return (True, self.known[prev][key])


class WatchChecker:
    name = "watch"

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        acked: dict[int, list[list[Any]]] = {}  # revision -> its events, in key order
        maybe: set[tuple[str, Any, Any]] = set()  # (type, key, value) of info writes
        unsure: dict[Any, int] = {}  # key -> first invoke of a write of unknown outcome
        acked_at: dict[int, int] = {}  # revision -> when its write was acknowledged
        watches: list[tuple[Op, Op]] = []
        compactions: list[tuple[int, int]] = []  # (invoked at, revision)
        for inv, comp in pairs(history):
            if inv.f in WRITES or inv.f == "txn":
                try:
                    ws = _writes_of(inv.f, inv.value)
                except (TypeError, ValueError):
                    continue  # not a write this checker knows
                if comp is not None and comp.type == OK:
                    rev = comp.extra.get("revision")
                    if inv.f == "delete" and not comp.extra.get("deleted"):
                        continue  # deleting an absent key writes nothing: no event
                    if isinstance(rev, int):
                        acked[rev] = [_event(rev, *w) for w in ws]
                        acked_at[rev] = comp.time
                elif comp is None or comp.type == INFO:
                    maybe.update(ws)
                    for w in ws:
                        unsure[w[1]] = min(unsure.get(w[1], inv.time), inv.time)
            elif inv.f == "watch" and comp is not None and isinstance(comp.value, dict):
                watches.append((inv, comp))
            elif inv.f == "compact" and isinstance(inv.value, int):
                compactions.append((inv.time, inv.value))

        violations: list[dict[str, Any]] = []
        counts = {"watches": len(watches), "compacted": 0, "judged": 0, "events": 0,
                  "meta-judged": 0, "meta-unjudged": 0, "prev-kv-compacted": 0,
                  "progress-notifications": 0}
        judged: list[tuple[Op, Op, int, list[list[Any]]]] = []
        for inv, comp in watches:
            v = comp.value
            if v.get("compacted"):
                counts["compacted"] += 1
                continue
            events = [e for e in v.get("events") or [] if isinstance(e, list) and len(e) >= 4]
            counts["events"] += len(events)
            counts["progress-notifications"] += len(v.get("progress") or [])
            if not events:
                continue
            counts["judged"] += 1
            start = int(v.get("from") or 0) or int(v.get("created") or 0) + 1
            judged.append((inv, comp, start, events))
        timeline = _Timeline(acked, [e for _i, _c, _s, e in judged])
        for inv, comp, start, events in judged:
            at = arrivals_s(inv, comp, len(events))
            violations.extend(self._judge(comp, start, events, acked, maybe, at))
            # etcd sends no prev_kv once the previous revision is compacted
            # (documented): the highest compaction asked before this watch ended.
            compacted = max((r for t, r in compactions if t < comp.time), default=0)
            violations.extend(self._judge_meta(comp, start, events, timeline, unsure,
                                               acked_at, compacted, counts, at))

        by_kind: dict[str, int] = {}
        for x in violations:
            by_kind[x["kind"]] = by_kind.get(x["kind"], 0) + 1
        valid: bool | str = not violations
        if not violations and counts["judged"] == 0:
            valid = UNKNOWN
        files: dict[str, Any] = {}
        if test.get("store_dir") and watches:
            files = _draw(test, history, violations)
        return {
            **files,
            "valid?": valid,
            **({"reason": "no watch delivered an event"} if valid == UNKNOWN else {}),
            **counts,
            "acknowledged-writes": len(acked),
            "violation-count": len(violations),
            "violations-by-kind": by_kind,
            "violations": violations[:MAX_DETAILED],
        }

    def _judge(self, comp: Op, start: int, events: list[list[Any]],
               acked: Mapping[int, list[list[Any]]], maybe: set[tuple[str, Any, Any]],
               at: Sequence[float]) -> list[dict[str, Any]]:
        where = _where(comp, start)
        hidden = filtered_types(comp.value.get("filters"))
        out: list[dict[str, Any]] = []
        seen: set[tuple[int, Any]] = set()
        last = 0
        highest: list[int] = []  # the highest revision delivered so far, per event
        for i, e in enumerate(events):
            rev, kind, key, value = e[:4]
            n = len(out)
            if kind in hidden:
                out.append({**where, "kind": "filtered-event", "event": e[:4],
                            "filters": sorted(comp.value.get("filters") or [])})
            if rev < last:
                out.append({**where, "kind": "out-of-order", "revision": rev, "after": last})
            last = max(last, rev)
            if (rev, key) in seen:
                out.append({**where, "kind": "duplicate", "event": e[:4]})
            seen.add((rev, key))
            if rev < start:
                out.append({**where, "kind": "before-start", "event": e[:4]})
            want = acked.get(rev)
            if want is not None:
                w = next((x for x in want if x[2] == key), None)
                if w != _event(rev, kind, key, value):
                    out.append({**where, "kind": "wrong-event", "event": e[:4],
                                "expected": w if w is not None else want})
            elif (kind, key, None if kind == "DELETE" else value) not in maybe:
                out.append({**where, "kind": "phantom", "event": e[:4]})
            for v in out[n:]:  # shown when this event arrived
                v["time-s"] = at[i]
            highest.append(last)
        missing = [x for r in sorted(acked) if start <= r <= last
                   for x in acked[r] if (r, x[2]) not in seen and x[1] not in hidden]
        for m in missing:
            # Shown once the watch delivered a later revision.
            shown = at[min(bisect_right(highest, m[0]), len(at) - 1)]
            out.append({**where, "kind": "missing", "event": m, "last-delivered": last,
                        "time-s": shown})
        out.extend(_atomic(where, events, comp.value.get("splits")))
        out.extend(_bookmarks(where, start, events, comp.value.get("progress"), acked,
                              hidden))
        return out

    @staticmethod
    def _judge_meta(comp: Op, start: int, events: list[list[Any]], timeline: _Timeline,
                    unsure: Mapping[Any, int], acked_at: Mapping[int, int],
                    compacted: int, counts: dict[str, int], at: Sequence[float]
                    ) -> list[dict[str, Any]]:
        """is_create, version and prev_kv of each event, against the key's
        state just before it, where that state is known."""
        where = _where(comp, start)
        with_prev = bool(comp.value.get("prev_kv"))
        out: list[dict[str, Any]] = []
        for i, e in enumerate(events):
            if len(e) < 6:
                continue
            rev, kind, key = e[0], e[1], e[2]
            where["time-s"] = at[i]
            sure, before = timeline.before(key, rev, unsure.get(key), acked_at.get(rev))
            if not sure:
                counts["meta-unjudged"] += 1
                continue
            counts["meta-judged"] += 1
            exists = before is not None and before[1] == "PUT"
            if kind == "PUT":
                created, version = e[4], e[5]
                if (created == rev) != (not exists) or (version == 1) != (created == rev):
                    out.append({**where, "kind": "wrong-is-create", "event": e[:4],
                                "create-revision": created, "version": version,
                                "existed": exists})
            if with_prev and len(e) >= 7:
                want = before[3] if exists and before is not None else None
                gone = e[6] is None and before is not None and before[0] < compacted
                if gone and want is not None:
                    counts["prev-kv-compacted"] += 1  # not judged: said so
                elif e[6] != want:
                    out.append({**where, "kind": "wrong-prev-kv", "event": e[:4],
                                "prev-kv": e[6], "expected": want})
        return out


def _draw(test: Mapping[str, Any], history: Sequence[Op],
          violations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """watch.png beside the run; a drawing that fails says so and judges nothing."""
    from checkers.watch_plot import plot_watches

    path = Path(test["store_dir"]) / "watch.png"
    try:
        plot_watches(history, violations, str(test.get("name", "")), path)
    except Exception as e:  # the verdict stands without its drawing
        return {"plot-error": f"{type(e).__name__}: {e}"}
    return {"files": [str(path)]}


FILTERS = {"NOPUT": "PUT", "NODELETE": "DELETE"}  # etcd's watch filters -> what they drop


def filtered_types(filters: Any) -> frozenset[str]:
    """The event types a watch's ``filters`` ask etcd to leave out."""
    if not isinstance(filters, list):
        return frozenset()
    return frozenset(FILTERS[f] for f in filters if isinstance(f, str) and f in FILTERS)


def _where(comp: Op, start: int) -> dict[str, Any]:
    return {"watch": comp.index, "process": comp.process, "member": comp.node,
            "from": start, "time-s": round(comp.time / 1e9, 3)}


def _atomic(where: Mapping[str, Any], events: list[list[Any]],
            splits: Any) -> list[dict[str, Any]]:
    """A revision whose events came in more than one response. Only first
    deliveries count: an event sent again (a watch gone back in time) is a
    duplicate, not a split."""
    if not isinstance(splits, list) or not splits:
        return []
    bounds = sorted({int(i) for i in splits if isinstance(i, int)} | {0})
    response: dict[int, set[int]] = {}
    seen: set[tuple[int, Any]] = set()
    j = 0
    for i, e in enumerate(events):
        while j + 1 < len(bounds) and bounds[j + 1] <= i:
            j += 1
        if (e[0], e[2]) in seen:
            continue
        seen.add((e[0], e[2]))
        response.setdefault(e[0], set()).add(j)
    return [{**where, "kind": "split-revision", "revision": r, "responses": len(rs)}
            for r, rs in sorted(response.items()) if len(rs) > 1]


def _bookmarks(where: Mapping[str, Any], start: int, events: list[list[Any]], progress: Any,
               acked: Mapping[int, list[list[Any]]], hidden: frozenset[str] = frozenset()
               ) -> list[dict[str, Any]]:
    """Each progress notification at P, after n events: nothing later at or
    below P, and every acknowledged write in [start, P] among the first n."""
    out: list[dict[str, Any]] = []
    if not isinstance(progress, list):
        return out
    acked_revs = sorted(acked)
    for p in progress:
        if not (isinstance(p, list) and len(p) == 2):
            continue
        n, rev = int(p[0]), int(p[1])
        late = [e[:4] for e in events[n:] if e[0] <= rev]
        if late:
            out.append({**where, "kind": "bookmark-ahead", "revision": rev, "event": late[0],
                        "late": len(late)})
            continue
        before = {(e[0], e[2]) for e in events[:n]}
        lo, hi = bisect_left(acked_revs, start), bisect_right(acked_revs, rev)
        lost = [x for r in acked_revs[lo:hi] for x in acked[r]
                if (r, x[2]) not in before and x[1] not in hidden]
        if lost:
            out.append({**where, "kind": "bookmark-ahead", "revision": rev, "event": lost[0],
                        "late": len(lost)})
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
    if kind == "filtered-event":
        return f"{head}: {what}, though the watch asked for {', '.join(v.get('filters') or [])}"
    if kind == "split-revision":
        return (f"{head}: the events of revision {v.get('revision')} came in "
                f"{v.get('responses')} responses")
    if kind == "bookmark-ahead":
        return (f"{head}: a progress notification at {v.get('revision')} came before "
                f"{what} ({v.get('late')} such)")
    if kind == "wrong-is-create":
        was = "existed" if v.get("existed") else "did not exist"
        return (f"{head}: {what} has create_revision {v.get('create-revision')}, version "
                f"{v.get('version')}, but the key {was} just before")
    if kind == "wrong-prev-kv":
        return f"{head}: {what} has prev_kv {v.get('prev-kv')!r}, expected {v.get('expected')!r}"
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
