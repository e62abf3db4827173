"""``watch.png``: every watch as revisions against time, one row of colour per
member, with the watch checker's violations marked on it.

Each watch op is a line from (its invocation, the revision it started at)
through each event, at the time its response arrived (``arrived-ms``; in
histories without it, the op's end), timed as the checker times its
violations: a watch that goes back in time, or stalls while its member is
cut off, shows as a line that drops or stays flat while the others climb.
A violation is a red cross at the moment it showed (the checker's
``time-s``) and the revision it names. Fault windows are shaded as in the
perf plots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.lines import Line2D

from checkers.perf import FAULT_COLOURS, _fault_handles, _figure, _finish, _shade
from checkers.watch_times import arrivals_s
from checkers.windows import fault_windows, history_end, kinds
from pyharness.history import Op, pairs

NS = 1_000_000_000
MEMBER_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22",
                  "#e377c2", "#7f7f7f")


def _thin(revs: Sequence[int], most: int = 400) -> list[int]:
    """Indices of the points to draw: at most about ``most`` evenly, plus
    both ends of every drop, so that a watch going back is never smoothed
    away."""
    if len(revs) <= most:
        return list(range(len(revs)))
    k = len(revs) // most + 1
    keep = {0, len(revs) - 1}
    for i in range(1, len(revs)):
        if i % k == 0:
            keep.add(i)
        if revs[i] < revs[i - 1]:
            keep.update((i - 1, i))
    return sorted(keep)


def plot_watches(history: Sequence[Op], violations: Sequence[Mapping[str, Any]],
                 title: str, path: Path) -> None:
    windows = fault_windows(history)
    colours = {k: FAULT_COLOURS[i % len(FAULT_COLOURS)] for i, k in enumerate(kinds(windows))}
    fig, ax = _figure(f"{title} watches", "revision", history_end(history) / NS)
    _shade(ax, windows, colours)
    members: dict[str, str] = {}
    ends: dict[int, tuple[float, int]] = {}  # watch op index -> its end point
    for inv, comp in pairs(history):
        if inv.f != "watch" or comp is None or not isinstance(comp.value, dict):
            continue
        events = [e for e in comp.value.get("events") or [] if isinstance(e, list) and e]
        if not events:
            continue
        start = int(comp.value.get("from") or 0) or int(comp.value.get("created") or 0) + 1
        node = str(comp.node)
        colour = members.setdefault(node, MEMBER_COLOURS[len(members) % len(MEMBER_COLOURS)])
        t0, t1 = inv.time / NS, comp.time / NS
        revs = [start] + [int(e[0]) for e in events]
        times = [t0, *arrivals_s(inv, comp, len(events))]
        keep = _thin(revs)
        # Steps: a watch holds its last revision until the next event
        # arrives, so a stalled one is flat and one that goes back drops.
        ax.plot([times[i] for i in keep], [revs[i] for i in keep], color=colour,
                lw=0.8, alpha=0.7, zorder=2, drawstyle="steps-post")
        ends[int(comp.index)] = (t1, revs[-1])
    marks: set[tuple[float, int]] = set()
    for v in violations:
        end = ends.get(int(v.get("watch", -1)))
        if end is None:
            continue
        e = v.get("event")
        rev = v.get("revision") or (e[0] if isinstance(e, list) and e else end[1])
        t = v.get("time-s")
        marks.add((float(t) if isinstance(t, int | float) else end[0], int(rev)))
    xs = [x for x, _ in sorted(marks)]
    ys = [y for _, y in sorted(marks)]
    if xs:
        ax.scatter(xs, ys, marker="x", color="#d62728", s=30, zorder=3)
    handles: list[Any] = [Line2D([], [], color=c, label=f"watches on {m}")
                          for m, c in sorted(members.items())]
    if xs:
        handles.append(Line2D([], [], ls="", marker="x", color="#d62728",
                              label="violation (when it showed)"))
    _finish(fig, handles, _fault_handles(windows, colours), path)
