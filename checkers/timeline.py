"""Timeline: every operation as a bar in its process's lane, in one HTML page.

Concurrency anomalies are about *overlap*: which ops ran at the same time as
which, and which fault was in force then. Jepsen's ``timeline.html`` shows
that directly: one horizontal lane per process, each op a bar from its
invocation to its completion, coloured by outcome (green ok, red fail, yellow
info, grey never completed). Here the nemesis gets lanes too, pinned at the
top: one per fault kind showing its fault windows (:mod:`checkers.windows`),
and one showing the nemesis actions themselves. Fault windows are also
shaded faintly behind the process lanes, so "this read was stale" and "a
partition was in force" line up by eye. Hovering a bar shows the op: f,
value, error, node, times, latency and history indices.

Jepsen renders one DOM element per op, which a browser cannot lay out past a
few thousand ops. This page embeds the ops once as JSON and draws only what
is visible onto a ``<canvas>``: per lane, ops are sorted by start with a
running maximum of end times, so the visible ones are found by binary search
and a redraw costs the visible ops, not the history. Several ops falling on
one pixel draw once. Controls: mouse wheel zooms around the pointer,
shift+wheel or ↑/↓ scrolls lanes, drag pans, ←/→ page by one screen, and
"go to index" centres an op. The page is self-contained: inline CSS and JS,
no network fetches, so it opens from a test's store directory as is.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checkers.windows import fault_windows, history_end, kinds, nemesis_actions
from pyharness.history import Op, pairs

#: Values longer than this (as JSON) are cut in the page: a final read of
#: 100k elements would otherwise be copied into every read op's tooltip.
MAX_VALUE_CHARS = 300

DATA_ELEMENT_ID = "timeline-data"


def _short(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float):
        return v
    s = json.dumps(v, default=str, separators=(",", ":"))
    if len(s) <= MAX_VALUE_CHARS:
        return v
    n = f" ({len(v)} items)" if isinstance(v, list | dict) else ""
    return s[:MAX_VALUE_CHARS] + "…" + n


def _lane_key(p: int | str) -> tuple[int, int | str]:
    return (0, p) if isinstance(p, int) else (1, str(p))


def timeline_data(test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
    """The JSON the page renders: lanes, f names, ops as compact rows, windows.

    Each op row is ``[lane, start_ns, end_ns|None, f, type, invoke_index,
    complete_index|None, value, error, node]`` where ``lane`` and ``f`` index
    into ``lanes`` and ``fs``; ``type`` is the completion's type, ``"open"``
    if it never completed, ``"window"`` for a fault window and ``"nemesis"``
    for a nemesis action.
    """
    t_end = history_end(history)
    windows = fault_windows(history, end=t_end)
    fault_kinds = kinds(windows)
    lanes: list[dict[str, Any]] = [{"name": k, "kind": "fault"} for k in fault_kinds]
    lanes.append({"name": "nemesis", "kind": "nemesis"})
    fs: dict[str, int] = {}
    rows: list[list[Any]] = []

    procs = sorted({op.process for op in history if op.is_client}, key=_lane_key)
    base = len(lanes)
    lane_of = {p: base + i for i, p in enumerate(procs)}
    lanes.extend({"name": str(p), "kind": "process"} for p in procs)

    for inv, comp in pairs(history):
        c_val = None if comp is None else comp.value
        rows.append([
            lane_of[inv.process], inv.time, None if comp is None else comp.time,
            fs.setdefault(inv.f, len(fs)), "open" if comp is None else comp.type,
            inv.index, None if comp is None else comp.index,
            _short(c_val if c_val is not None else inv.value),
            None if comp is None else _short(comp.error),
            inv.node,
        ])
    for a in nemesis_actions(history):
        c = a.complete
        extra = {} if c is None else {k: _short(v) for k, v in c.extra.items()}
        rows.append([
            base - 1, a.start, a.end, fs.setdefault(a.f, len(fs)), "nemesis",
            a.invoke.index, None if c is None else c.index,
            _short(a.invoke.value if c is None or c.value is None else c.value),
            _short(a.error), extra or None,
        ])
    for w in windows:
        rows.append([
            fault_kinds.index(w.kind), w.start, w.end, fs.setdefault(w.kind, len(fs)),
            "window", w.open_index, w.close_index, _short(w.info or None),
            _short(w.error), None,
        ])
    return {
        "title": str(test.get("name", "")),
        "t_end": t_end,
        "lanes": lanes,
        "fs": list(fs),
        "ops": rows,
        "windows": [w.to_dict() for w in windows],
    }


def render_html(data: Mapping[str, Any]) -> str:
    # "<" never occurs in JSON outside strings, so escaping it keeps the data
    # from closing the <script> element and stays valid JSON.
    blob = json.dumps(data, default=str, separators=(",", ":")).replace("<", "\\u003c")
    title = html.escape(f"{data.get('title') or 'test'} timeline")
    return (_PAGE.replace("@TITLE@", title).replace("@DATA_ID@", DATA_ELEMENT_ID)
            .replace("@CSS@", _CSS).replace("@JS@", _JS).replace("@DATA@", blob))


class TimelineChecker:
    """Writes ``timeline.html`` into ``out_dir`` (default ``test["store_dir"]``)."""

    name = "timeline"

    def __init__(self, out_dir: Path | str | None = None) -> None:
        self.out_dir = None if out_dir is None else Path(out_dir)

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        out = self.out_dir if self.out_dir is not None else Path(test["store_dir"])
        out.mkdir(parents=True, exist_ok=True)
        path = out / "timeline.html"
        path.write_text(render_html(timeline_data(test, history)), encoding="utf-8")
        return {"valid?": True, "file": str(path)}


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>@TITLE@</title>
<style>@CSS@</style></head>
<body>
<header>
  <b>@TITLE@</b>
  <button id="fit" title="show the whole history">fit</button>
  <button id="zin" title="zoom in (+)">+</button>
  <button id="zout" title="zoom out (-)">&minus;</button>
  <button id="pprev" title="previous page (←)">&#9664; page</button>
  <button id="pnext" title="next page (→)">page &#9654;</button>
  <label>go to index <input id="goto" type="number" min="0" size="8"></label>
  <span id="range"></span>
  <span class="legend"><i class="ok"></i>ok <i class="fail"></i>fail <i class="info"></i>info
    <i class="open"></i>never completed <i class="nemesis"></i>nemesis</span>
  <span class="help">wheel: zoom · shift+wheel / ↑↓: lanes · drag: pan</span>
</header>
<div id="wrap"><canvas id="c"></canvas><div id="tip"></div></div>
<script type="application/json" id="@DATA_ID@">@DATA@</script>
<script>@JS@</script>
</body></html>
"""

_CSS = """
html,body{margin:0;height:100%;font:13px system-ui,sans-serif;overflow:hidden}
header{display:flex;gap:8px;align-items:center;flex-wrap:wrap;padding:6px 8px;
  border-bottom:1px solid #ccc;background:#f7f7f7}
header .legend i{display:inline-block;width:12px;height:10px;margin:0 2px 0 6px;
  vertical-align:middle}
.help{color:#777} #range{font-family:monospace}
i.ok{background:#7bd67b} i.fail{background:#ef7b7b} i.info{background:#f5d45b}
i.open{background:#bbb} i.nemesis{background:#9aa7d9}
#wrap{position:relative;height:calc(100% - 40px)}
canvas{display:block;width:100%;height:100%;cursor:grab}
#tip{position:absolute;display:none;pointer-events:none;background:#fff;
  border:1px solid #888;padding:4px 6px;font:12px monospace;white-space:pre;
  max-width:60em;overflow:hidden;box-shadow:2px 2px 4px #0003;z-index:2}
"""

_JS = r"""
"use strict";
const D = JSON.parse(document.getElementById("timeline-data").textContent);
const COL = {ok:"#7bd67b", fail:"#ef7b7b", info:"#f5d45b", open:"#bbbbbb",
             nemesis:"#9aa7d9"};
const FAULT = ["#8ecae6","#ffb4a2","#b5e48c","#cdb4db","#ffd166","#a0c4ff"];
const GUTTER = 90, AXIS = 22, LANE = 16;
const tEnd = Math.max(D.t_end, 1);
const pinned = D.lanes.filter(l => l.kind !== "process").length;
const canvas = document.getElementById("c"), ctx = canvas.getContext("2d");
const tip = document.getElementById("tip");

// Per lane: op row indices sorted by start, plus the running max of end
// times, so the ops overlapping [t0, t1] are found by binary search.
const lanes = D.lanes.map(() => ({ix: [], maxEnd: []}));
const endOf = r => (r[2] === null ? tEnd : r[2]);
D.ops.forEach((r, i) => lanes[r[0]].ix.push(i));
for (const l of lanes) {
  l.ix.sort((a, b) => D.ops[a][1] - D.ops[b][1]);
  let m = -Infinity;
  for (const i of l.ix) { m = Math.max(m, endOf(D.ops[i])); l.maxEnd.push(m); }
}
const byIndex = new Map();
D.ops.forEach((r, i) => {
  if (r[4] === "window") return;
  byIndex.set(r[5], i);
  if (r[6] !== null) byIndex.set(r[6], i);
});

let t0 = 0, t1 = tEnd, scrollLane = 0, W = 0, H = 0;

function resize() {
  const dpr = window.devicePixelRatio || 1, b = canvas.getBoundingClientRect();
  W = b.width; H = b.height;
  canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  draw();
}
const xOf = t => GUTTER + (t - t0) / (t1 - t0) * (W - GUTTER);
const tOf = x => t0 + (x - GUTTER) / (W - GUTTER) * (t1 - t0);
const procRows = () => Math.max(1, Math.floor((H - AXIS - pinned * LANE - 6) / LANE));
const nProc = D.lanes.length - pinned;
// Lane index -> y of its top, or null if scrolled out of view.
function yOf(lane) {
  if (lane < pinned) return AXIS + lane * LANE;
  const k = lane - pinned - scrollLane;
  if (k < 0 || k >= procRows()) return null;
  return AXIS + pinned * LANE + 6 + k * LANE;
}
function laneAt(y) {
  if (y < AXIS) return null;
  if (y < AXIS + pinned * LANE) return Math.floor((y - AXIS) / LANE);
  const k = Math.floor((y - AXIS - pinned * LANE - 6) / LANE);
  const lane = pinned + scrollLane + k;
  return k >= 0 && lane < D.lanes.length ? lane : null;
}
function firstVisible(l, t) {  // first position whose running max end >= t
  let lo = 0, hi = l.maxEnd.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (l.maxEnd[m] < t) lo = m + 1; else hi = m; }
  return lo;
}
function colourOf(r) {
  if (r[4] === "window") return FAULT[r[0] % FAULT.length];
  return COL[r[4]] || "#999";
}
function niceStep(span, px) {
  const raw = span / Math.max(1, px / 110), mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}
function fmtS(ns, step) {
  const d = Math.max(0, Math.min(9, -Math.floor(Math.log10(step / 1e9))));
  return (ns / 1e9).toFixed(d) + "s";
}
function drawLane(lane, y, h) {
  const l = lanes[lane]; let drawn = 0, lastX = -1, lastC = "";
  for (let p = firstVisible(l, t0); p < l.ix.length; p++) {
    const r = D.ops[l.ix[p]];
    if (r[1] > t1) break;
    if (endOf(r) < t0) continue;
    const x0 = Math.max(GUTTER, xOf(r[1])), x1 = Math.min(W, xOf(endOf(r)));
    const c = colourOf(r), px = Math.floor(x0);
    if (px === lastX && c === lastC && x1 - x0 < 1) continue;  // same pixel again
    ctx.fillStyle = c; ctx.fillRect(x0, y + 1, Math.max(1, x1 - x0), h - 2);
    if (r[8] !== null && r[4] === "window") {  // nemesis reported an error
      ctx.strokeStyle = "#c00"; ctx.strokeRect(x0, y + 1, Math.max(1, x1 - x0), h - 2);
    }
    lastX = px; lastC = c; drawn++;
  }
  return drawn;
}
function draw() {
  ctx.clearRect(0, 0, W, H);
  ctx.font = "11px system-ui,sans-serif"; ctx.textBaseline = "middle";
  // Faint fault windows behind the process lanes.
  const top = AXIS + pinned * LANE + 6;
  for (const w of D.windows) {
    const x0 = Math.max(GUTTER, xOf(w.start)), x1 = Math.min(W, xOf(w.end));
    if (x1 <= x0) continue;
    ctx.globalAlpha = 0.25; ctx.fillStyle = FAULT[D.lanes.findIndex(l =>
      l.kind === "fault" && l.name === w.kind) % FAULT.length];
    ctx.fillRect(x0, top, x1 - x0, H - top); ctx.globalAlpha = 1;
  }
  let drawn = 0;
  for (let lane = 0; lane < D.lanes.length; lane++) {
    const y = yOf(lane);
    if (y === null) continue;
    if ((lane - pinned) % 2 === 1 || lane < pinned) {
      ctx.fillStyle = lane < pinned ? "#eef0f8" : "#0000000a";
      ctx.fillRect(GUTTER, y, W - GUTTER, LANE);
    }
    drawn += drawLane(lane, y, LANE);
    ctx.fillStyle = "#333";
    const L = D.lanes[lane];
    ctx.fillText((L.kind === "process" ? "p " : "") + L.name, 4, y + LANE / 2, GUTTER - 8);
  }
  ctx.strokeStyle = "#888"; ctx.beginPath();
  ctx.moveTo(GUTTER, top - 3); ctx.lineTo(W, top - 3); ctx.stroke();
  // Time axis.
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, AXIS);
  const step = niceStep(t1 - t0, W - GUTTER);
  ctx.fillStyle = "#333"; ctx.strokeStyle = "#ddd";
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    const x = xOf(t);
    ctx.fillText(fmtS(t, step), x + 2, AXIS / 2);
    ctx.beginPath(); ctx.moveTo(x, AXIS - 4); ctx.lineTo(x, H); ctx.stroke();
  }
  const last = Math.min(nProc, scrollLane + procRows());
  document.getElementById("range").textContent =
    `${fmtS(t0, step)} – ${fmtS(t1, step)} · processes ${nProc ? scrollLane + 1 : 0}–` +
    `${last} of ${nProc} · ${drawn} bars drawn · ${D.ops.length} ops`;
}
function setView(a, b) {
  const span = Math.min(Math.max(b - a, 1e3), tEnd * 1.2);
  a = Math.max(-tEnd * 0.1, Math.min(a, tEnd * 1.1 - span));
  t0 = a; t1 = a + span; draw();
}
function zoom(f, at) {
  const c = at === undefined ? (t0 + t1) / 2 : at;
  setView(c - (c - t0) * f, c + (t1 - c) * f);
}
function scrollBy(k) {
  scrollLane = Math.max(0, Math.min(Math.max(0, nProc - procRows()), scrollLane + k));
  draw();
}
function opAt(x, y) {
  const lane = laneAt(y);
  if (lane === null || x < GUTTER) return null;
  const l = lanes[lane], tol = 3 * (t1 - t0) / (W - GUTTER), t = tOf(x);
  let best = null, bestD = Infinity;
  for (let p = firstVisible(l, t - tol); p < l.ix.length; p++) {
    const r = D.ops[l.ix[p]];
    if (r[1] > t + tol) break;
    if (endOf(r) < t - tol) continue;
    const d = t < r[1] ? r[1] - t : t > endOf(r) ? t - endOf(r) : 0;
    if (d < bestD) { best = r; bestD = d; }
  }
  return best;
}
function describe(r) {
  const s = t => (t === null ? "—" : (t / 1e9).toFixed(6) + " s");
  const L = D.lanes[r[0]], lines = [];
  if (r[4] === "window") {
    lines.push(`fault window: ${D.fs[r[3]]}`);
  } else {
    lines.push(`${D.fs[r[3]]}  ${r[4]}  (${L.kind === "process" ? "process " : ""}${L.name})`);
  }
  const w = r[4] === "window", ci = r[6] === null ? "—" : r[6];
  lines.push(`${w ? "from    " : "invoke  "} ${s(r[1])}   index ${r[5]}`);
  lines.push(`${w ? "to      " : "complete"} ${s(endOf(r))}   index ${ci}` +
             (r[2] === null ? "  (never completed)" : ""));
  const dur = ((endOf(r) - r[1]) / 1e6).toFixed(3);
  lines.push(`${w ? "duration" : "latency "} ${dur} ms`);
  if (r[7] !== null) lines.push(`value    ${JSON.stringify(r[7])}`);
  if (r[8] !== null) lines.push(`error    ${JSON.stringify(r[8])}`);
  if (r[9] !== null) lines.push(`${L.kind === "process" ? "node " : "extra"}    ` +
                                JSON.stringify(r[9]));
  return lines.join("\n");
}

let drag = null;
canvas.addEventListener("mousedown", e => {
  drag = {x: e.clientX, y: e.clientY, t0, t1, s: scrollLane};
  canvas.style.cursor = "grabbing";
});
window.addEventListener("mouseup", () => { drag = null; canvas.style.cursor = "grab"; });
canvas.addEventListener("mousemove", e => {
  const b = canvas.getBoundingClientRect(), x = e.clientX - b.left, y = e.clientY - b.top;
  if (drag) {
    const dt = (e.clientX - drag.x) / (W - GUTTER) * (drag.t1 - drag.t0);
    t0 = drag.t0 - dt; t1 = drag.t1 - dt;
    scrollLane = drag.s;
    scrollBy(-Math.round((e.clientY - drag.y) / LANE));
    tip.style.display = "none";
    return;
  }
  const r = opAt(x, y);
  if (!r) { tip.style.display = "none"; return; }
  tip.textContent = describe(r);
  tip.style.display = "block";
  tip.style.left = Math.min(x + 14, Math.max(0, W - tip.offsetWidth - 4)) + "px";
  tip.style.top = (y + 14 + tip.offsetHeight > H ? y - tip.offsetHeight - 8 : y + 14) + "px";
});
canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });
canvas.addEventListener("wheel", e => {
  e.preventDefault();
  if (e.shiftKey) { scrollBy(Math.sign(e.deltaY || e.deltaX) * 3); return; }
  const b = canvas.getBoundingClientRect();
  zoom(e.deltaY > 0 ? 1.25 : 0.8, tOf(e.clientX - b.left));
}, {passive: false});
window.addEventListener("keydown", e => {
  if (e.target.tagName === "INPUT") return;
  const span = t1 - t0;
  if (e.key === "ArrowRight") setView(t0 + span * 0.9, t1 + span * 0.9);
  else if (e.key === "ArrowLeft") setView(t0 - span * 0.9, t1 - span * 0.9);
  else if (e.key === "ArrowDown") scrollBy(3);
  else if (e.key === "ArrowUp") scrollBy(-3);
  else if (e.key === "+" || e.key === "=") zoom(0.5);
  else if (e.key === "-") zoom(2);
  else return;
  e.preventDefault();
});
const on = (id, f) => document.getElementById(id).addEventListener("click", f);
on("fit", () => setView(0, tEnd));
on("zin", () => zoom(0.5));
on("zout", () => zoom(2));
on("pprev", () => setView(t0 - (t1 - t0) * 0.9, t1 - (t1 - t0) * 0.9));
on("pnext", () => setView(t0 + (t1 - t0) * 0.9, t1 + (t1 - t0) * 0.9));
document.getElementById("goto").addEventListener("change", e => {
  const i = byIndex.get(Number(e.target.value));
  if (i === undefined) return;
  const r = D.ops[i], mid = (r[1] + endOf(r)) / 2, span = Math.max((endOf(r) - r[1]) * 20, 1e6);
  if (r[0] >= pinned) scrollLane = Math.max(0, r[0] - pinned - (procRows() >> 1));
  setView(mid - span / 2, mid + span / 2);
  scrollBy(0);
});
window.addEventListener("resize", resize);
resize();
"""
