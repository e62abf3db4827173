"""The report page: one run, on one page, for a person.

``results.json`` is for machines. A person opening a run wants, in this
order: did it pass, by which checker did it fail, what happened (how many ops,
how fast, how many ended ``ok``, ``fail`` or ``info``), which faults were in
force and when, and where to look next: the plots, the timeline, the
linearizability drawings, the raw history, each node's log and the driver's.
``report.html`` is that page, like the index Jepsen's web UI shows for a test.

The key figures come from the history itself (``history.jsonl``), not only
from the checkers' results, so the page says something useful even for a run
whose checkers crashed or never ran: ops and their outcomes by ``f``, latency
quantiles of ``ok`` ops, throughput, and the fault windows of
:mod:`checkers.windows`. Each checker gets a coloured verdict and a one-line
summary of why (lost and unexpected adds for ``set``, non-linearizable keys
for ``linear``, matching log lines for ``log-file-pattern``...).

The page is self-contained: inline CSS, no script, no network fetch. Every
link is relative to the run directory, so the page works the same opened
from disk (``file://``) and served by ``pyharness serve``.

Everything from the run's files reaches the page through :func:`_e`,
numbers included: ``results.json`` is data anyone with write access to the
store may have shaped, and ``serve`` renders it. A section whose data has
an odd shape says so in its place; the rest of the page is still drawn.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checkers.windows import Window, fault_windows, history_end
from pyharness.gen.driver_load import describe as describe_load
from pyharness.history import FAIL, INFO, OK, HistoryError, Op, pairs, read_jsonl
from pyharness.history.store import read_regular, regular_inside

REPORT = "report.html"
NS = 1e9
#: results.json longer than this is cut in the page's raw view.
MAX_RAW_CHARS = 200_000
#: Rows of lost ops, exceptions, log lines shown; the counts stay exact.
MAX_ROWS = 50

VERDICT_CLASS = {True: "valid", False: "invalid"}
VERDICT_TEXT = {True: "valid", False: "INVALID"}


def _e(v: object) -> str:
    return html.escape(str(v), quote=True)


def verdict_class(v: Any) -> str:
    """CSS class for a verdict: valid, invalid, unknown or none (no results)."""
    if v is None:
        return "none"
    return VERDICT_CLASS.get(v, "unknown") if isinstance(v, bool) else "unknown"


def verdict_badge(v: Any) -> str:
    text = "no result" if v is None else VERDICT_TEXT.get(v, "unknown") \
        if isinstance(v, bool) else "unknown"
    return f'<span class="badge {verdict_class(v)}">{_e(text)}</span>'


def _secs(ns: Any, digits: int = 3) -> str:
    """Nanoseconds as seconds, escaped; anything else as is, escaped."""
    if isinstance(ns, int | float) and not isinstance(ns, bool):
        return _e(f"{ns / NS:.{digits}f}")
    return _e(ns)


def _rel(run_dir: Path, p: Path) -> str | None:
    """``p`` relative to the run as a URL path, or None if it lies outside."""
    try:
        return p.resolve().relative_to(run_dir.resolve()).as_posix()
    except (ValueError, OSError):
        return None


def _link(href: str, text: str | None = None) -> str:
    return f'<a href="{_e(href)}">{_e(text or href)}</a>'


def _pct(q: float, xs: Sequence[float]) -> float:
    """Nearest-rank quantile of sorted ``xs``."""
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def key_figures(history: Sequence[Op]) -> dict[str, Any]:
    """Counts, rates and latencies of a history, overall and by f."""
    by_f: dict[str, dict[str, Any]] = {}
    lat_ok: list[float] = []
    for inv, comp in pairs(history):
        row = by_f.setdefault(inv.f, {"invoke": 0, OK: 0, FAIL: 0, INFO: 0, "open": 0,
                                      "lat": []})
        row["invoke"] += 1
        if comp is None:
            row["open"] += 1
            continue
        row[comp.type] = row.get(comp.type, 0) + 1
        if comp.type == OK:
            ms = (comp.time - inv.time) / 1e6
            row["lat"].append(ms)
            lat_ok.append(ms)
    duration = history_end(history) / NS
    total = {k: sum(r[k] for r in by_f.values()) for k in ("invoke", OK, FAIL, INFO, "open")}
    for r in by_f.values():
        lat = sorted(r.pop("lat"))
        r["median-ms"] = _pct(0.5, lat) if lat else None
        r["p99-ms"] = _pct(0.99, lat) if lat else None
    lat_ok.sort()
    return {
        "duration-s": duration,
        "ops": total["invoke"],
        "ok": total[OK], "fail": total[FAIL], "info": total[INFO], "open": total["open"],
        "rate": total["invoke"] / duration if duration > 0 else 0.0,
        "ok-rate": total[OK] / duration if duration > 0 else 0.0,
        "latency-ms": {name: _pct(q, lat_ok) for name, q in
                       (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))}
        if lat_ok else {},
        "nemesis-ops": sum(1 for op in history if not op.is_client),
        "by-f": dict(sorted(by_f.items())),
    }


# --- checker summaries: one line of HTML saying why the verdict is what it is


def _summary_linear(r: Mapping[str, Any], run_dir: Path) -> str:
    fails = r.get("failures") or []
    s = f"{_e(r.get('key-count', 0))} keys, <b>{len(fails)}</b> not linearizable"
    if r.get("unknown"):
        s += f", {len(r['unknown'])} unknown"
    links = []
    for fl in fails[:MAX_ROWS]:
        rel = _rel(run_dir, Path(fl["file"])) if fl.get("file") else None
        text = f"key {fl.get('key')}: {fl.get('description', '')}"
        links.append(_link(rel, text) if rel else _e(text))
    return s + ("<br>" + "<br>".join(links) if links else "")


def _summary_stats(r: Mapping[str, Any], run_dir: Path) -> str:
    s = (f"{_e(r.get('count', 0))} completions: {_e(r.get('ok-count', 0))} ok, "
         f"{_e(r.get('fail-count', 0))} fail, {_e(r.get('info-count', 0))} info")
    never = [f for f, x in (r.get("by-f") or {}).items() if not x.get("valid?", True)]
    if never:
        s += "; never succeeded: <b>" + _e(", ".join(never)) + "</b>"
    return s


def _summary_exceptions(r: Mapping[str, Any], run_dir: Path) -> str:
    ex = r.get("exceptions") or []
    if not ex:
        return "none"
    return ", ".join(f"{_e(g['class'])} ×{_e(g['count'])}" for g in ex[:MAX_ROWS])


def _summary_logs(r: Mapping[str, Any], run_dir: Path) -> str:
    if r.get("warning"):
        return _e(r["warning"])
    m = r.get("matches") or {}
    s = f"{_e(r.get('files-scanned', 0))} log files scanned, " \
        f"<b>{_e(r.get('match-count', 0))}</b> matching lines"
    if m:
        s += ": " + ", ".join(f"{_e(h)} ({_e(x['count'])})" for h, x in m.items())
    return s


def _summary_files(r: Mapping[str, Any], run_dir: Path) -> str:
    files = list(r.get("files") or []) + ([r["file"]] if r.get("file") else [])
    rels = [x for x in (_rel(run_dir, Path(f)) for f in files) if x]
    return ", ".join(_link(x) for x in rels) or _e(r.get("error", ""))


def _summary_faults(r: Mapping[str, Any], run_dir: Path) -> str:
    parts = [f"{_e(f)}: {_e(c['in-effect'])} of {_e(c['started'])} in effect"
             for f, c in r.get("faults", {}).items()]
    missed = r.get("not-in-effect") or []
    lines = [f"{_e(m['f'])} on {_e(m['host'])}: {_e(m['reason'])}" for m in missed[:10]]
    more = int(r.get("not-in-effect-count", len(missed))) - len(lines)
    if more > 0:
        lines.append(f"and {more} more")
    head = _e(r["reason"]) + "<br>" if r.get("reason") else ""
    body = "; ".join(parts) or "no faults asked for"
    return head + body + ("<br>not in effect: " + "<br>".join(lines) if lines else "")


# The generic checkers'; a workload's own checkers bring theirs (its SUMMARIES).
SUMMARIES = {"faults": _summary_faults,
             "linear": _summary_linear,
             "stats": _summary_stats,
             "unhandled-exceptions": _summary_exceptions, "log-file-pattern": _summary_logs,
             "perf": _summary_files, "timeline": _summary_files}


def checker_summary(name: str, r: Mapping[str, Any], run_dir: Path) -> str:
    fn = SUMMARIES.get(name)
    if fn is None:
        from pyharness import workloads

        fn = workloads.summaries().get(name)
    if fn is not None:
        try:
            s = fn(r, run_dir)
        except Exception:
            s = ""  # an older or odd result shape: fall through to the generic line
        if s:
            return s
    for k in ("error", "reason", "warning"):
        if r.get(k):
            return _e(r[k])
    return ""


# --- page sections


def _section_checkers(results: Mapping[str, Any] | None, run_dir: Path) -> str:
    if results is None:
        return ('<p class="none">No <code>results.json</code>: the run did not get as far as '
                'checking (see <a href="driver.log">driver.log</a>), or it is still running. '
                'Run <code>pyharness analyze</code> on this directory to check it.</p>')
    rows = []
    for name, r in results.items():
        if name == "valid?" or not isinstance(r, Mapping):
            continue
        v = r.get("valid?")
        rows.append(f'<tr class="{verdict_class(v)}"><td>{_e(name)}</td>'
                    f"<td>{verdict_badge(v)}</td><td>{checker_summary(name, r, run_dir)}</td></tr>")
    return ("<table><tr><th>checker</th><th>verdict</th><th>why</th></tr>"
            + "".join(rows) + "</table>")


def _fmt(x: Any, digits: int = 1) -> str:
    """A figure as escaped HTML text."""
    return "–" if x is None else _e(f"{x:.{digits}f}") if isinstance(x, float) else _e(x)


def _section_figures(fig: Mapping[str, Any]) -> str:
    lat = fig["latency-ms"]
    cells = [("client ops", fig["ops"]), ("ok", fig["ok"]), ("fail", fig["fail"]),
             ("info", fig["info"]), ("never completed", fig["open"]),
             ("duration", f"{_fmt(float(fig['duration-s']))} s"),
             ("ops/s", _fmt(fig["rate"])), ("ok/s", _fmt(fig["ok-rate"])),
             ("nemesis ops", fig["nemesis-ops"])]
    cells += [(f"ok latency {k}", f"{_fmt(float(v))} ms") for k, v in lat.items()]
    # cells hold escaped text or plain numbers: escaping again would show "&amp;"
    figs = "".join(f'<div class="fig"><div class="n" data-figure="{_e(k)}">{_fmt(v)}</div>'
                   f'<div class="l">{_e(k)}</div></div>' if not isinstance(v, str) else
                   f'<div class="fig"><div class="n" data-figure="{_e(k)}">{v}</div>'
                   f'<div class="l">{_e(k)}</div></div>' for k, v in cells)
    rows = "".join(
        f"<tr><td>{_e(f)}</td><td>{_e(r['invoke'])}</td><td>{_e(r[OK])}</td>"
        f"<td>{_e(r[FAIL])}</td><td>{_e(r[INFO])}</td><td>{_e(r['open'])}</td>"
        f"<td>{_fmt(r['median-ms'])}</td>"
        f"<td>{_fmt(r['p99-ms'])}</td></tr>" for f, r in fig["by-f"].items())
    return (f'<div class="figs">{figs}</div>'
            "<table><tr><th>f</th><th>invoked</th><th>ok</th><th>fail</th><th>info</th>"
            "<th>never completed</th><th>median ms (ok)</th><th>p99 ms (ok)</th></tr>"
            f"{rows}</table>")


def _section_driver(test: Mapping[str, Any]) -> str:
    """How busy the driver was: saturated means the harness limited the load."""
    d = test.get("driver")
    line = describe_load(d) if isinstance(d, dict) else None
    if line is None:
        return ""
    cls = "invalid" if float(d.get("saturated-share", 0)) >= 0.2 else "none"
    return f'<p class="{cls}" id="driver-load">{_e(line)}</p>'


def _section_windows(windows: Sequence[Window]) -> str:
    if not windows:
        return "<p>No faults in this history.</p>"
    rows = []
    for w in windows:
        detail = ", ".join(f"{k}: {json.dumps(v, default=str)}" for k, v in w.info.items())
        flag = f' <span class="badge unknown">uncertain: {_e(w.error)}</span>' \
            if w.uncertain else ""
        closed = "" if w.close_index is not None else " (never healed)"
        rows.append(f"<tr><td>{_e(w.kind)}{flag}</td><td>{_secs(w.start, 2)}</td>"
                    f"<td>{_secs(w.end, 2)}{closed}</td><td>{_secs(w.end - w.start, 2)}</td>"
                    f"<td><code>{_e(detail)}</code></td></tr>")
    return ("<table><tr><th>fault</th><th>from s</th><th>to s</th><th>for s</th>"
            "<th>detail</th></tr>" + "".join(rows) + "</table>")


def _section_details(results: Mapping[str, Any] | None) -> str:
    """The lists behind the bad verdicts: lost ops, exceptions, log lines."""
    if not results:
        return ""
    out = []
    s = results.get("set")
    if isinstance(s, Mapping) and (s.get("lost-count") or s.get("unexpected-count")):
        rows = "".join(
            f"<tr><td>{_e(o['value'])}</td><td>{_e(o['process'])}</td><td>{_e(o['node'])}</td>"
            f"<td>{_secs(o['invoke-time'])}</td><td>{_secs(o['complete-time'])}</td>"
            f"<td>{_e(o['invoke-index'])}</td></tr>" for o in (s.get("lost-ops") or [])[:MAX_ROWS])
        out.append(f"<h3>set: lost <code>{_e(s.get('lost'))}</code>, unexpected "
                   f"<code>{_e(s.get('unexpected'))}</code></h3>"
                   "<table><tr><th>lost value</th><th>process</th><th>node</th>"
                   "<th>invoked s</th><th>acknowledged s</th><th>index</th></tr>"
                   f"{rows}</table>")
    ex = results.get("unhandled-exceptions")
    if isinstance(ex, Mapping) and ex.get("exceptions"):
        rows = "".join(f"<tr><td>{_e(g['class'])}</td><td>{_e(g['count'])}</td><td><code>"
                       f"{_e(json.dumps(g.get('example'), default=str)[:400])}</code></td></tr>"
                       for g in ex["exceptions"][:MAX_ROWS])
        out.append("<h3>unhandled exceptions</h3><table><tr><th>class</th><th>count</th>"
                   f"<th>first op</th></tr>{rows}</table>")
    logs = results.get("log-file-pattern")
    if isinstance(logs, Mapping) and logs.get("matches"):
        rows = "".join(
            f'<tr><td>{_e(h)}</td><td><a href="{_e(x["file"])}">{_e(x["file"])}</a>:'
            f'{_e(x["line"])}</td><td><code>{_e(x["text"])}</code></td></tr>'
            for h, m in logs["matches"].items() for x in m.get("examples", []))
        out.append("<h3>log lines matching "
                   + _e(", ".join(map(str, logs.get("patterns", [])))) + "</h3>"
                   f"<table><tr><th>host</th><th>where</th><th>line</th></tr>{rows}</table>")
    return "".join(out)


def _section_plots(run_dir: Path) -> str:
    pngs = sorted(run_dir.glob("*.png"))
    if not pngs:
        return "<p>No plots (the perf checker did not run).</p>"
    return "".join(f'<figure><a href="{_e(p.name)}"><img src="{_e(p.name)}" '
                   f'alt="{_e(p.stem)}" loading="lazy"></a><figcaption>{_e(p.name)}'
                   "</figcaption></figure>" for p in pngs)


def _size(p: Path) -> str:
    n = float(p.stat().st_size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _section_files(run_dir: Path) -> str:
    """Links to everything a reader may want next, most useful first."""
    items: list[tuple[str, str]] = []

    def add(p: Path, what: str) -> None:
        rel = _rel(run_dir, p)
        if rel is not None and p.is_file():
            items.append((f"{_link(rel)} <small>{_size(p)}</small>", what))

    add(run_dir / "timeline.html", "every op on a timeline, with faults")
    for p in sorted(run_dir.glob("linear-*.html")):
        add(p, "why this key is not linearizable")
    add(run_dir / "history.jsonl", "the history, one op a line")
    add(run_dir / "history.edn", "the history as Jepsen EDN")
    add(run_dir / "results.json", "every checker's result")
    add(run_dir / "test.json", "the options, to run or analyse again")
    add(run_dir / "driver.log", "the driver's log")
    add(run_dir / "junit.xml", "verdicts as JUnit XML")
    nodes = run_dir / "nodes"
    if nodes.is_dir():
        for p in sorted(x for x in nodes.rglob("*") if x.is_file()):
            add(p, f"log of {p.relative_to(nodes).parts[0]}")
    if (run_dir / "ansible").is_dir():
        items.append((_link("ansible/"), "ansible-runner artifacts of each playbook"))
    rows = "".join(f"<tr><td>{a}</td><td>{_e(b)}</td></tr>" for a, b in items)
    return f"<table>{rows}</table>"


def _section_raw(results: Mapping[str, Any] | None) -> str:
    if results is None:
        return ""
    text = json.dumps(results, indent=2, sort_keys=True, default=str)
    if len(text) > MAX_RAW_CHARS:
        text = text[:MAX_RAW_CHARS] + "\n... cut; see results.json"
    return f"<details><summary>results.json</summary><pre>{_e(text)}</pre></details>"


def _load_json(path: Path) -> Any:
    """A run's JSON file, or None; FIFOs and files outside the run are not read."""
    try:
        return json.loads(read_regular(regular_inside(path, path.parent)))
    except (OSError, ValueError):
        return None


def _safe(section: Any, *args: Any) -> str:
    """A section's HTML, or a line saying why it cannot be shown."""
    try:
        return str(section(*args))
    except Exception as e:  # odd data must cost one section, not the page
        return f'<p class="invalid">Cannot show this section: {_e(type(e).__name__)}: {_e(e)}</p>'


def _figures_and_windows(history: Sequence[Op]) -> tuple[str, str]:
    return (_safe(lambda: _section_figures(key_figures(history))),
            _safe(lambda: _section_windows(fault_windows(history)) if history else ""))


def render_report(run_dir: Path) -> str:
    """The report page of ``run_dir`` as HTML text (nothing is written)."""
    test = _load_json(run_dir / "test.json")
    if not isinstance(test, dict):
        test = {}
    results = _load_json(run_dir / "results.json")
    if not isinstance(results, dict):
        results = None
    history: list[Op] = []
    history_note = ""
    try:
        if (run_dir / "history.jsonl").exists():
            history = read_jsonl(regular_inside(run_dir / "history.jsonl", run_dir))
        else:
            history_note = "<p>No history.jsonl in this run.</p>"
    except (HistoryError, OSError, ValueError, TypeError, KeyError) as e:
        history_note = f'<p class="invalid">Cannot read the history: {_e(e)}</p>'
    valid = results.get("valid?") if results is not None else None
    name = test.get("name") or run_dir.parent.name
    opts = test.get("options")
    opts = opts if isinstance(opts, dict) else {}
    opt_rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(json.dumps(v, default=str))}</td></tr>"
                       for k, v in opts.items())
    nodes_v = test.get("nodes")
    nodes = ", ".join(map(str, nodes_v)) if isinstance(nodes_v, list | dict) else ""
    figures, windows = _figures_and_windows(history)
    body = f"""
<header class="{verdict_class(valid)}">
  <h1>{_e(name)} <small>{_e(run_dir.name)}</small></h1>
  <p id="verdict">{verdict_badge(valid)}</p>
</header>
<nav>{_link("timeline.html", "timeline")} · {_link("history.jsonl", "history")} ·
  {_link("results.json", "results")} · {_link("driver.log", "driver log")} ·
  <a href="#files">node logs and files</a></nav>
<h2>Checkers</h2>{_safe(_section_checkers, results, run_dir)}
<h2>Key figures</h2>{history_note or figures}{_safe(_section_driver, test)}
<h2>Fault windows</h2>{windows}
{_safe(_section_details, results)}
<h2>Plots</h2><div class="plots">{_safe(_section_plots, run_dir)}</div>
<h2 id="files">Files</h2>{_safe(_section_files, run_dir)}
<h2>Test</h2><table>{opt_rows}<tr><th>nodes</th><td>{_e(nodes)}</td></tr></table>
{_safe(_section_raw, results)}
"""
    return _PAGE.replace("@TITLE@", _e(f"{name} {run_dir.name}")).replace("@BODY@", body)


def write_report(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` and return its path."""
    path = run_dir / REPORT
    tmp = path.with_name(REPORT + ".tmp")
    tmp.write_text(render_report(run_dir), encoding="utf-8")
    tmp.replace(path)
    return path


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 1.5em 2em;color:#222}
header{margin:0 -1.5em;padding:.6em 1.5em;border-bottom:4px solid #ccc}
header.valid{border-color:#2a9d3f} header.invalid{border-color:#d62728}
header.unknown{border-color:#ff9f1c} h1{margin:.2em 0;font-size:1.5em}
h1 small{color:#777;font-weight:normal;font-size:.6em}
h2{margin-top:1.4em;border-bottom:1px solid #eee}
table{border-collapse:collapse;margin:.4em 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
tr.valid td:first-child{border-left:4px solid #2a9d3f}
tr.invalid td:first-child{border-left:4px solid #d62728}
tr.unknown td:first-child{border-left:4px solid #ff9f1c}
tr.invalid{background:#fff0f0}
.badge{display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;font-weight:bold}
.badge.valid{background:#2a9d3f} .badge.invalid{background:#d62728}
.badge.unknown{background:#e08600} .badge.none{background:#888}
p.invalid{color:#d62728} .figs{display:flex;flex-wrap:wrap;gap:8px}
.fig{border:1px solid #ddd;border-radius:6px;padding:4px 10px;min-width:6em}
.fig .n{font-size:1.3em;font-weight:bold} .fig .l{color:#666;font-size:.85em}
.plots{display:flex;flex-wrap:wrap;gap:12px} figure{margin:0}
figure img{width:560px;max-width:100%;border:1px solid #ddd}
code,pre{font-family:ui-monospace,monospace;font-size:12px}
pre{background:#f7f7f7;padding:8px;overflow:auto;max-height:40em}
nav{margin:.6em 0}
"""

_PAGE = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<title>@TITLE@</title><style>" + CSS + "</style></head><body>@BODY@</body></html>\n")
