"""Performance plots: latency and throughput over time, with faults shaded.

Correctness checkers say *whether* something went wrong; these plots help say
*when* and *why*. As in Jepsen's ``jepsen.checker.perf`` there are three:

- ``latency-raw.png``: every operation as a point at its invocation time, its
  height the time until it completed (log scale: a 1 ms op and a 10 s timeout
  must both be visible). Colour is the outcome (ok / fail / info), marker the
  f. Timeouts show as a flat band of info points at the client timeout.
- ``latency-quantiles.png``: for each time bucket and f, the 0.5, 0.95, 0.99
  quantiles and the maximum of latency of all completed ops. Easier to read
  than the raw cloud when there are 100k points.
- ``rate.png``: completions per second in each bucket, by f and outcome. A
  partition typically turns ok throughput into a trickle of fail/info.

Each plot shades the nemesis fault windows (:mod:`checkers.windows`), one
colour per fault kind, hatched where the nemesis reported an error (the fault
may not have happened). Ops that never completed are left out: they have no
latency.

Everything is vectorised with numpy and drawn with one matplotlib call per
(f, outcome) group, and scatter points are rasterized, so 100k ops plot in a
couple of seconds and the PNGs stay small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from checkers.windows import Window, fault_windows, history_end, kinds
from pyharness.history import FAIL, INFO, OK, Op, pairs

OUTCOME_COLOURS = {OK: "#2a9d3f", FAIL: "#d62728", INFO: "#ff9f1c"}
MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", ":", "-.")
QUANTILES = ((0.5, "0.5", "#1f77b4"), (0.95, "0.95", "#9467bd"),
             (0.99, "0.99", "#e377c2"), (1.0, "max", "#7f7f7f"))
FAULT_COLOURS = ("#8ecae6", "#ffb4a2", "#b5e48c", "#cdb4db", "#ffd166", "#a0c4ff")
FIGSIZE = (12.0, 6.0)
DPI = 100
NS = 1e9


@dataclass(slots=True)
class OpTable:
    """Completed client ops as parallel arrays: one row per invoke/completion pair."""

    t: np.ndarray  # invocation time, s since test start
    done: np.ndarray  # completion time, s
    latency: np.ndarray  # ms
    f: np.ndarray  # index into fs
    outcome: np.ndarray  # index into OUTCOMES
    fs: list[str]


OUTCOMES = (OK, FAIL, INFO)


def op_table(history: Sequence[Op]) -> OpTable:
    fs: dict[str, int] = {}
    oc = {o: i for i, o in enumerate(OUTCOMES)}
    rows: list[tuple[int, int, int, int]] = []
    for inv, comp in pairs(history):
        if comp is None or comp.type not in oc:
            continue
        rows.append((inv.time, comp.time, fs.setdefault(inv.f, len(fs)), oc[comp.type]))
    a = np.array(rows, dtype=np.int64).reshape(-1, 4)
    t_ns, c_ns = a[:, 0], a[:, 1]
    return OpTable(t=t_ns / NS, done=c_ns / NS,
                   # Clip at 1 µs: a log axis cannot show 0.
                   latency=np.maximum((c_ns - t_ns) / 1e6, 1e-3),
                   f=a[:, 2], outcome=a[:, 3], fs=list(fs))


def bucket_width(duration_s: float, target: int = 150) -> float:
    """A round bucket width (1, 2, 5 × 10^k s) giving about ``target`` buckets."""
    if duration_s <= 0:
        return 1.0
    raw = duration_s / target
    mag = 10 ** np.floor(np.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return float(m * mag)
    return float(10 * mag)


def _shade(ax: Axes, windows: Sequence[Window], colours: Mapping[str, str]) -> None:
    for w in windows:
        ax.axvspan(w.start / NS, w.end / NS, color=colours[w.kind], alpha=0.35, lw=0,
                   hatch="//" if w.uncertain else None, zorder=0)


def _fault_handles(windows: Sequence[Window], colours: Mapping[str, str]) -> list[Patch]:
    hs = [Patch(facecolor=colours[k], alpha=0.6, label=k) for k in colours]
    if any(w.uncertain for w in windows):
        hs.append(Patch(facecolor="white", edgecolor="grey", hatch="//",
                        label="nemesis error"))
    return hs


def _figure(title: str, ylabel: str, t_end: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel("time since test start (s)")
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, max(t_end * 1.02, 1e-3))  # margin: the final read sits at t_end
    ax.grid(True, which="major", alpha=0.3)
    return fig, ax


def _finish(fig: Figure, data: list[Any], faults: list[Patch], path: Path) -> None:
    if data:
        fig.legend(handles=data, loc="outside right upper", title="ops", fontsize="small")
    if faults:
        fig.legend(handles=faults, loc="outside right lower", title="faults",
                   fontsize="small")
    fig.savefig(path)


def plot_latency_raw(tab: OpTable, windows: Sequence[Window], colours: Mapping[str, str],
                     t_end: float, title: str, path: Path) -> None:
    fig, ax = _figure(f"{title} latency (raw)", "latency (ms)", t_end)
    ax.set_yscale("log")
    _shade(ax, windows, colours)
    handles: list[Any] = []
    # Big opaque points for a short history, small translucent ones for 100k.
    n = len(tab.t)
    size = float(np.clip(2000 / max(n, 1) ** 0.5, 5, 25))
    alpha = 0.85 if n < 5000 else 0.5
    for fi, f in enumerate(tab.fs):
        for oi, o in enumerate(OUTCOMES):
            m = (tab.f == fi) & (tab.outcome == oi)
            if not m.any():
                continue
            ax.scatter(tab.t[m], tab.latency[m], s=size, marker=MARKERS[fi % len(MARKERS)],
                       color=OUTCOME_COLOURS[o], alpha=alpha, linewidths=0,
                       rasterized=True, zorder=2)
            handles.append(Line2D([], [], ls="", marker=MARKERS[fi % len(MARKERS)],
                                  color=OUTCOME_COLOURS[o], label=f"{f} {o}"))
    _finish(fig, handles, _fault_handles(windows, colours), path)


def _bucket_quantiles(t: np.ndarray, lat: np.ndarray, width: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Bucket midpoints and a (buckets × quantiles) array of latency quantiles."""
    b = np.floor(t / width).astype(np.int64)
    order = np.argsort(b, kind="stable")
    b, lat = b[order], lat[order]
    ids, starts = np.unique(b, return_index=True)
    qs = [q for q, _, _ in QUANTILES]
    # One np.quantile per bucket: ~150 calls, whatever the op count.
    out = np.array([np.quantile(chunk, qs) for chunk in np.split(lat, starts[1:])])
    return (ids + 0.5) * width, out.reshape(-1, len(qs))


def plot_latency_quantiles(tab: OpTable, windows: Sequence[Window],
                           colours: Mapping[str, str], t_end: float, title: str,
                           path: Path) -> None:
    width = bucket_width(t_end)
    fig, ax = _figure(f"{title} latency quantiles ({width:g} s buckets)", "latency (ms)",
                      t_end)
    ax.set_yscale("log")
    _shade(ax, windows, colours)
    handles: list[Any] = []
    for fi, f in enumerate(tab.fs):
        m = tab.f == fi
        if not m.any():
            continue
        x, qv = _bucket_quantiles(tab.t[m], tab.latency[m], width)
        ls = LINESTYLES[fi % len(LINESTYLES)]
        for qi, (_, label, colour) in enumerate(QUANTILES):
            ax.plot(x, qv[:, qi], ls=ls, color=colour, marker=".", ms=3, lw=1, zorder=2)
            handles.append(Line2D([], [], ls=ls, color=colour, label=f"{f} {label}"))
    _finish(fig, handles, _fault_handles(windows, colours), path)


def plot_rate(tab: OpTable, windows: Sequence[Window], colours: Mapping[str, str],
              t_end: float, title: str, path: Path) -> None:
    width = bucket_width(t_end)
    fig, ax = _figure(f"{title} throughput ({width:g} s buckets)", "completions / s", t_end)
    _shade(ax, windows, colours)
    edges = np.arange(0.0, max(t_end, width) + width, width)
    mids = (edges[:-1] + edges[1:]) / 2
    handles: list[Any] = []
    for fi, f in enumerate(tab.fs):
        ls = LINESTYLES[fi % len(LINESTYLES)]
        for oi, o in enumerate(OUTCOMES):
            m = (tab.f == fi) & (tab.outcome == oi)
            if not m.any():
                continue
            counts, _ = np.histogram(tab.done[m], bins=edges)
            ax.plot(mids, counts / width, ls=ls, color=OUTCOME_COLOURS[o], lw=1.2, zorder=2)
            handles.append(Line2D([], [], ls=ls, color=OUTCOME_COLOURS[o], label=f"{f} {o}"))
    ax.set_ylim(bottom=0)
    _finish(fig, handles, _fault_handles(windows, colours), path)


class PerfChecker:
    """Writes latency-raw.png, latency-quantiles.png and rate.png into ``out_dir``.

    ``out_dir`` defaults to ``test["store_dir"]``. Always valid: plots judge nothing.
    """

    name = "perf"

    def __init__(self, out_dir: Path | str | None = None) -> None:
        self.out_dir = None if out_dir is None else Path(out_dir)

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        out = self.out_dir if self.out_dir is not None else Path(test["store_dir"])
        out.mkdir(parents=True, exist_ok=True)
        title = str(test.get("name", ""))
        windows = fault_windows(history)
        colours = {k: FAULT_COLOURS[i % len(FAULT_COLOURS)]
                   for i, k in enumerate(kinds(windows))}
        tab = op_table(history)
        t_end = history_end(history) / NS
        files = []
        for fname, plot in (("latency-raw.png", plot_latency_raw),
                            ("latency-quantiles.png", plot_latency_quantiles),
                            ("rate.png", plot_rate)):
            path = out / fname
            plot(tab, windows, colours, t_end, title, path)
            files.append(str(path))
        return {"valid?": True, "files": files}
