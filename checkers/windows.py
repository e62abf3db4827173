"""Fault windows: when, according to the history, a fault was in force.

The nemesis records its actions in the history like any process, but Jepsen
style: process ``"nemesis"``, type ``info`` both for the invocation and for the
completion (a fault has no ok/fail; it happens, and we say what we did). So a
nemesis action is two consecutive ``info`` ops with the same ``f``: the first
is the invocation, the second its completion.

Nemesis actions come in opening/closing pairs. The rule is that ``start-X``
opens a window of fault kind ``X`` and ``stop-X`` closes it
(``start-partition`` / ``stop-partition``). Some faults read better with other
verbs (``kill`` / ``start``, ``pause`` / ``resume``); :data:`EXTRA_ACTIONS`
maps those, and callers may pass their own table.

A window opens when the fault took effect: the completion op's
``effective_ns`` (the driver's time when every target had the fault) or, if
absent, the completion's time. It closes at the completion of the closing op,
since only then is the fault certainly lifted everywhere. A window still open
when the history ends runs to the end of the history. If the opening op
reported an ``error`` the fault may not have taken effect at all; the window
is kept but flagged, so plots can draw it as uncertain rather than hide it.

Perf plots shade these windows and the timeline draws them as lanes, so a
reader can line up latency spikes and anomalies with the faults that caused
them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pyharness.history import Op

Action = Literal["open", "close"]

#: Nemesis f names that do not follow ``start-X`` / ``stop-X``: f -> (kind, action).
EXTRA_ACTIONS: dict[str, tuple[str, Action]] = {
    "kill": ("kill", "open"),
    "start": ("kill", "close"),
    "pause": ("pause", "open"),
    "resume": ("pause", "close"),
}


def classify(f: str, extra: Mapping[str, tuple[str, Action]] | None = None
             ) -> tuple[str, Action] | None:
    """``(kind, "open"|"close")`` for a nemesis f, or None if it is no fault edge."""
    table = EXTRA_ACTIONS if extra is None else extra
    if f in table:
        return table[f]
    if f.startswith("start-") and len(f) > 6:
        return f[6:], "open"
    if f.startswith("stop-") and len(f) > 5:
        return f[5:], "close"
    return None


@dataclass(slots=True)
class NemesisAction:
    """One nemesis action: its invocation and (if recorded) its completion."""

    f: str
    invoke: Op
    complete: Op | None

    @property
    def start(self) -> int:
        return self.invoke.time

    @property
    def end(self) -> int | None:
        return None if self.complete is None else self.complete.time

    @property
    def error(self) -> Any:
        if self.complete is None:
            return None
        return self.complete.error if self.complete.error is not None \
            else self.complete.extra.get("error")


@dataclass(slots=True)
class Window:
    """A fault of ``kind`` in force from ``start`` to ``end`` (ns since test start)."""

    kind: str
    start: int
    end: int
    open_index: int
    close_index: int | None  # None: never closed, ran to the end of the history
    error: Any = None  # the opening op's error: the fault may not have happened
    info: dict[str, Any] = field(default_factory=dict)  # hosts, grudge, ...

    @property
    def uncertain(self) -> bool:
        return self.error is not None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "start": self.start, "end": self.end,
                             "open-index": self.open_index, "close-index": self.close_index}
        if self.error is not None:
            d["error"] = self.error
        d.update(self.info)
        return d


def nemesis_actions(history: Iterable[Op]) -> list[NemesisAction]:
    """Pair nemesis info ops into actions: per f, invocation then completion.

    Pairing per f (not just "the next nemesis op") keeps this right if a
    nemesis ever runs several actions at once, as long as two of the same f
    do not overlap.
    """
    pending: dict[str, NemesisAction] = {}
    actions: list[NemesisAction] = []
    for op in history:
        if op.is_client:
            continue
        a = pending.pop(op.f, None)
        if a is None:
            a = NemesisAction(op.f, op, None)
            pending[op.f] = a
            actions.append(a)
        else:
            a.complete = op
    return actions


def history_end(history: Sequence[Op]) -> int:
    return max((op.time for op in history), default=0)


def fault_windows(history: Sequence[Op],
                  extra: Mapping[str, tuple[str, Action]] | None = None,
                  end: int | None = None) -> list[Window]:
    """Every fault window in the history, ordered by start time.

    A second opening of a kind that is already open is ignored (the fault is
    already in force); a closing with nothing open is ignored too.
    """
    t_end = history_end(history) if end is None else end
    open_: dict[str, Window] = {}
    done: list[Window] = []
    for a in nemesis_actions(history):
        edge = classify(a.f, extra)
        if edge is None:
            continue
        kind, action = edge
        if action == "open":
            if kind in open_:
                continue
            c = a.complete
            if c is None:
                # Never completed: it may have taken effect any time after invocation.
                start, err = a.start, "incomplete"
            else:
                eff = c.extra.get("effective_ns")
                start = int(eff) if isinstance(eff, int | float) else c.time
                err = a.error
            info = {k: c.extra[k] for k in ("hosts", "grudge") if c and k in c.extra}
            open_[kind] = Window(kind, start, t_end, a.invoke.index, None, err, info)
        else:
            w = open_.pop(kind, None)
            if w is None:
                continue
            if a.complete is None:
                w.end = t_end  # the close never finished: assume the worst
            else:
                w.end = max(a.complete.time, w.start)
                w.close_index = a.complete.index
            done.append(w)
    done.extend(open_.values())
    done.sort(key=lambda w: (w.start, w.kind))
    return done


def kinds(windows: Iterable[Window]) -> list[str]:
    """Fault kinds in order of first appearance, for stable colours/legends."""
    seen: dict[str, None] = {}
    for w in windows:
        seen.setdefault(w.kind, None)
    return list(seen)
