"""Drawing a linearizability failure, so a person can see why.

Like Knossos's and Porcupine's reports, the page shows one key's operations
on a time line, one row per process: a bar from invocation to completion
(crashed ops run off to the right, dashed, since they may take effect at any
later time). The linearization found before the failure is drawn as a path
of numbered dots, one per op, in linearization order; the op that could not
be placed is red. Hovering shows each op and the state after it.

Only a window of ops before and around the failure is drawn (long histories
would make an unreadable page); the page says which. It is a single
self-contained file: inline SVG and CSS, no scripts or fetches.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Hashable, Sequence
from pathlib import Path

from checkers.linear_prep import Entry, Problem
from checkers.models import Model

WINDOW_OPS = 80  # ops before the failure to draw
ROW_H = 26
X_STEP = 22
LEFT = 90

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } code { background: #f3f3f3; padding: 0 .2em; }
.scroll { overflow-x: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; margin-top: 1em; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; font-size: 13px; }
tr.fail td { background: #fdd; }
.legend span { display: inline-block; margin-right: 1.5em; }
.sw { display: inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: middle; }
"""


_HASHED = re.compile(r"-[0-9a-f]{10}\Z")


def safe_name(key: str) -> str:
    """A file name part for ``key``, unique per key: a key that is not already
    a short, plain name gets a hash of itself appended (``a/b`` and ``a?b``
    both read ``a_b``, their hashes differ). A plain key never ends like a
    hash, so it cannot collide with a hashed one."""
    plain = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)[:80] or "_"
    if plain == key and not _HASHED.search(key) and key not in (".", ".."):
        return plain
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{plain[:69]}-{digest}"


def _esc(s: object) -> str:
    return html.escape(str(s), quote=True)


def replay(model: Model, entries: Sequence[Entry], order: Sequence[int]) -> list[Hashable]:
    """States after each op of ``order`` (the first successor where several exist)."""
    state = model.init()
    out: list[Hashable] = []
    for eid in order:
        nxt = model.step(state, entries[eid].call)
        if nxt:
            state = nxt[0]
        out.append(state)
    return out


def write_failure_html(out_dir: Path, key_label: str, model: Model, problem: Problem,
                       failed: int, prefix: Sequence[int], previous: Sequence[str],
                       reachable: Sequence[str], facts: str | None = None) -> Path:
    """Write ``linear-<key>.html`` and return its path."""
    entries = problem.entries
    fail = entries[failed]
    states = replay(model, entries, prefix)
    rank = {eid: i for i, eid in enumerate(prefix)}
    state_after = {eid: states[i] for i, eid in enumerate(prefix)}

    # window: the last WINDOW_OPS ops invoked before the failing op completed
    shown = [e for e in entries if e.inv_pos <= fail.comp_pos]
    shown.sort(key=lambda e: e.inv_pos)
    shown = shown[-WINDOW_OPS:]
    lo = min(e.inv_pos for e in shown)
    # still-open ops invoked earlier are part of the picture too
    shown += [e for e in entries if e.inv_pos < lo and (e.crashed or e.comp_pos >= lo)]
    points = sorted({p for e in shown for p in (e.inv_pos, e.comp_pos) if p >= 0})
    xs = {p: LEFT + 10 + i * X_STEP for i, p in enumerate(points)}
    right = LEFT + 10 + len(points) * X_STEP + 40
    procs = sorted({e.process for e in shown}, key=lambda p: (not isinstance(p, int), str(p)))
    row = {p: i for i, p in enumerate(procs)}
    height = len(procs) * ROW_H + 40

    def x_of(pos: int) -> int:
        return xs.get(pos, LEFT)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{right}" height="{height}">']
    for p, i in row.items():
        y = 20 + i * ROW_H
        parts.append(f'<text x="4" y="{y + 14}" font-size="12">process {_esc(p)}</text>'
                     f'<line x1="{LEFT}" x2="{right}" y1="{y + ROW_H - 3}" y2="{y + ROW_H - 3}" '
                     'stroke="#eee"/>')
    dots: list[tuple[int, int, int, Entry]] = []
    last_x = -1
    for e in sorted(shown, key=lambda e: rank.get(e.id, 1 << 60)):
        y = 20 + row[e.process] * ROW_H
        x1 = x_of(e.inv_pos) if e.inv_pos >= lo else LEFT
        x2 = right - 10 if e.crashed or e.comp_pos < 0 else x_of(e.comp_pos)
        is_fail = e.id == failed
        color = ("#e53935" if is_fail else "#9e9e9e" if e.crashed
                 else "#fb8c00" if e.call.status == "fail" else "#4c9be8")
        dash = ' stroke-dasharray="4 3"' if e.crashed else ""
        tip = (f"op {e.index} (process {e.process}): {model.describe_call(e.call)}"
               + (f"\nstate after: {model.describe_state(state_after[e.id])}"
                  if e.id in state_after else "\nnot linearized")
               + ("\nCANNOT BE LINEARIZED" if is_fail else ""))
        parts.append(
            f'<g><title>{_esc(tip)}</title>'
            f'<rect x="{x1}" y="{y + 3}" width="{max(x2 - x1, 6)}" height="{ROW_H - 10}" rx="3" '
            f'fill="{color}" fill-opacity="{0.9 if is_fail else 0.35}" stroke="{color}" '
            f'stroke-width="{3 if is_fail else 1}"{dash}/>'
            f'<text x="{x1 + 3}" y="{y + 16}" font-size="11">{_esc(model.describe_call(e.call))}'
            '</text></g>')
        if e.id in rank:
            # a point inside the op's interval, moving right along the linearization
            x = min(max(x1 + 4, last_x + 6), x2 - 2)
            last_x = x
            dots.append((x, y + ROW_H // 2, rank[e.id], e))
    if dots:
        path = " ".join(f"{x},{y}" for x, y, _, _ in dots)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#2e7d32" stroke-width="1.5"/>')
        for x, y, r, e in dots:
            parts.append(f'<g><title>{_esc(f"#{r + 1} in the linearization: op {e.index}")}</title>'
                         f'<circle cx="{x}" cy="{y}" r="4" fill="#2e7d32"/>'
                         f'<text x="{x + 3}" y="{y - 6}" font-size="9" fill="#2e7d32">'
                         f'{r + 1}</text>'
                         '</g>')
    parts.append("</svg>")

    tail = list(prefix[-40:])
    offset = len(prefix) - len(tail)
    rows = "".join(
        f"<tr><td>{offset + i + 1}</td><td>{entries[eid].index}</td>"
        f"<td>{_esc(entries[eid].process)}</td><td><code>{_esc(model.describe_call(entries[eid].call))}"
        f"</code></td><td>{_esc(model.describe_state(states[offset + i]))}</td></tr>"
        for i, eid in enumerate(tail))
    rows += (f'<tr class="fail"><td>✗</td><td>{fail.index}</td><td>{_esc(fail.process)}</td>'
             f"<td><code>{_esc(model.describe_call(fail.call))}</code></td>"
             f"<td>no state among: {_esc(', '.join(reachable))}</td></tr>")

    doc = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Not linearizable: key {_esc(key_label)}</title>
<style>{_CSS}</style></head><body>
<h1>Key {_esc(key_label)} is not linearizable ({_esc(model.name)})</h1>
<p>Op <b>{fail.index}</b> by process <b>{_esc(fail.process)}</b>,
<code>{_esc(model.describe_call(fail.call))}</code>, cannot be placed anywhere in its interval.
Just before it completed, the possible states were <b>{_esc(', '.join(previous) or '(none)')}</b>;
linearizing other pending ops first could reach <b>{_esc(', '.join(reachable) or '(none)')}</b>,
and in none of them can it run.</p>
{f'<p class="facts"><b>What happened:</b> {_esc(facts)}</p>' if facts else ''}
<p>Longest linearizable prefix found: {len(prefix)} ops. The drawing shows
{len(shown)} of this key's {len(entries)} ops, those around the failure.</p>
<p class="legend"><span><i class="sw" style="background:#4c9be8"></i>ok</span>
<span><i class="sw" style="background:#fb8c00"></i>failed (definite answer)</span>
<span><i class="sw" style="background:#9e9e9e"></i>crashed (info): any later time or never</span>
<span><i class="sw" style="background:#e53935"></i>cannot be linearized</span>
<span><i class="sw" style="background:#2e7d32"></i>linearization order</span></p>
<div class="scroll">{''.join(parts)}</div>
<table><tr><th>#</th><th>op index</th><th>process</th><th>op</th><th>state after</th></tr>
{rows}</table>
</body></html>
"""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"linear-{safe_name(key_label)}.html"
    path.write_text(doc, encoding="utf-8")
    return path
