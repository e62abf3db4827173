"""``pyharness serve``: browse the store in a web browser, read-only.

Jepsen's ``lein run serve`` shows its store as a web page: the runs, newest
first, coloured by verdict, each opening on its files. This is the same over
our store (see :mod:`pyharness.store`), with the standard library's
``ThreadingHTTPServer`` (a dozen routes need no framework):

==========================  ==================================================
URL                         what
==========================  ==================================================
``/``                       the run list; ``?workload=set&verdict=false``
                            filters it (verdict: true, false, unknown, none)
``/runs/<path>/``           a run's report page (:mod:`pyharness.report`;
                            rendered on the fly if ``report.html`` is missing
                            or older than ``results.json``); a directory
                            that is not a run gets a listing
``/runs/<path>/<file>``     a file of the store, as is
``/browse/<path>/``         a listing of any directory in the store
``/zip/<path>``             a run as a zip, streamed while it is made
==========================  ==================================================

Because a run page lives at ``/runs/<path>/``, the report's relative links
(``timeline.html``, ``nodes/n1/etcd.log``) land on the run's files, and
``/runs/latest/`` follows the store's ``latest`` symlink.

**Safety.** The server only reads: GET and HEAD; every other method gets
405. It binds to loopback by default and then also refuses requests whose
``Host`` is not a loopback name, so a web page cannot reach it through DNS
rebinding. No file outside the store can be read, whatever the URL:

- percent-encoded ``.``, ``/``, ``\\`` and NUL (``%2e``, ``%2f``, ``%5c``,
  ``%00``) are refused before decoding: no real store path needs them, and
  refusing them means decoding cannot conjure a ``..`` or a separator;
- after decoding, a segment that is empty (``//``, hence absolute paths),
  ``.``, ``..``, or holds ``\\`` or NUL is refused;
- the path that remains is resolved (following symlinks) and must still lie
  inside the resolved store. ``store/latest`` resolves to a run inside the
  store and is served; a symlink to ``/etc`` or to a sibling of the store
  resolves outside it and is refused, as is anything a zip would include
  through such a link.

Refusals are 404 (not found, or not yours to see) or 400 (a malformed path),
and say nothing about what lies outside.
"""

from __future__ import annotations

import html
import json
import mimetypes
import os
import re
import shutil
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

from pyharness.report import REPORT, render_report, verdict_badge, verdict_class

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
VERDICTS = ("true", "false", "unknown", "none")
# Encodings of '.', '/', '\' and NUL: refused before decoding (see module doc).
_BAD_ESCAPES = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_TEXT_SUFFIXES = {".jsonl", ".log", ".edn", ".yml", ".yaml", ".txt", ".json", ".out", ""}
CHUNK = 64 * 1024
# Our own pages need nothing from the network; say so to the browser too.
CSP = "default-src 'self' 'unsafe-inline' data:; connect-src 'none'; form-action 'self'"


class Refused(Exception):
    """A request for something outside the store, or a malformed path."""

    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


def safe_path(store: Path, url_path: str) -> Path:
    """The file or directory ``url_path`` names inside ``store``, resolved.

    ``url_path`` is the still percent-encoded path after the route prefix.
    Raises :class:`Refused` for anything that is not plainly inside the store.
    """
    if _BAD_ESCAPES.search(url_path):
        raise Refused(HTTPStatus.BAD_REQUEST)
    decoded = unquote(url_path, errors="strict")
    parts = decoded.split("/")
    if parts and parts[-1] == "":
        parts.pop()  # a trailing slash names the directory itself
    for seg in parts:
        if seg in ("", ".", "..") or "\\" in seg or "\x00" in seg:
            raise Refused(HTTPStatus.BAD_REQUEST)
    root = store.resolve()
    try:
        target = root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symlink loop
        raise Refused(HTTPStatus.NOT_FOUND) from None
    if not target.is_relative_to(root):
        raise Refused(HTTPStatus.NOT_FOUND)
    return target


def is_run(d: Path) -> bool:
    return (d / "test.json").is_file() or (d / "history.jsonl").is_file()


@dataclass
class RunInfo:
    """One run as the list shows it."""

    rel: str  # path inside the store, with '/'
    name: str
    stamp: str
    workload: str
    nemesis: str
    seed: Any
    verdict: Any  # True, False, "unknown", or None when there is no results.json
    started: float

    @property
    def verdict_key(self) -> str:
        if self.verdict is None:
            return "none"
        return "true" if self.verdict is True else "false" if self.verdict is False \
            else "unknown"


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _started(d: Path) -> float:
    """When a run without ``start_wall_ns`` began: its directory's timestamp
    name (``20260101T120000.00Z``, see :mod:`pyharness.store`), else mtime."""
    try:
        return datetime.strptime(d.name, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return d.stat().st_mtime


def find_runs(store: Path, max_depth: int = 3) -> list[RunInfo]:
    """Every run under ``store``, newest first. Symlinks (``latest``) are not
    followed, so each run is listed once, under its real path."""
    root = store.resolve()
    runs: list[RunInfo] = []
    for dirpath, dirnames, _ in os.walk(root, followlinks=False):
        d = Path(dirpath)
        depth = len(d.relative_to(root).parts)
        if depth >= max_depth:
            dirnames[:] = []
        if d == root or not is_run(d):
            continue
        dirnames[:] = []  # a run's subdirectories (nodes/, ansible/) hold no runs
        test = _load(d / "test.json") or {}
        results = _load(d / "results.json")
        opts = test.get("options") or {}
        started = test.get("start_wall_ns")
        runs.append(RunInfo(
            rel=d.relative_to(root).as_posix(), name=str(test.get("name") or d.parent.name),
            stamp=d.name, workload=str(opts.get("workload", "")),
            nemesis=str(opts.get("nemesis", "")), seed=opts.get("seed"),
            verdict=results.get("valid?") if isinstance(results, dict) else None,
            started=started / 1e9 if isinstance(started, int | float) else _started(d)))
    runs.sort(key=lambda r: (r.started, r.stamp), reverse=True)
    return runs


def _e(v: object) -> str:
    return html.escape(str(v), quote=True)


def _url(prefix: str, rel: str, slash: bool = False) -> str:
    return prefix + quote(rel) + ("/" if slash and rel else "")


def _page(title: str, body: str) -> bytes:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"{body}</body></html>\n").encode()


def render_list(runs: list[RunInfo], workload: str = "", verdict: str = "") -> bytes:
    workloads = sorted({r.workload for r in runs if r.workload})
    shown = [r for r in runs if (not workload or r.workload == workload)
             and (not verdict or r.verdict_key == verdict)]
    opt_w = "".join(f'<option value="{_e(w)}"{" selected" if w == workload else ""}>{_e(w)}'
                    "</option>" for w in workloads)
    opt_v = "".join(f'<option value="{v}"{" selected" if v == verdict else ""}>{v}</option>'
                    for v in VERDICTS)
    rows = "".join(
        f'<tr class="run {verdict_class(r.verdict)}" data-workload="{_e(r.workload)}" '
        f'data-verdict="{r.verdict_key}">'
        f'<td><a class="open" href="{_url("/runs/", r.rel, True)}">{_e(r.stamp)}</a></td>'
        f"<td>{_e(r.name)}</td><td>{_e(r.workload)}</td><td>{_e(r.nemesis)}</td>"
        f"<td>{_e('' if r.seed is None else r.seed)}</td><td>{verdict_badge(r.verdict)}</td>"
        f'<td><a href="{_url("/browse/", r.rel, True)}">files</a> · '
        f'<a href="{_url("/zip/", r.rel)}">zip</a></td></tr>' for r in shown)
    body = f"""<h1>pyharness store</h1>
<form method="get" action="/" id="filter">
  <label>workload <select name="workload" onchange="this.form.submit()">
    <option value="">all</option>{opt_w}</select></label>
  <label>verdict <select name="verdict" onchange="this.form.submit()">
    <option value="">all</option>{opt_v}</select></label>
  <noscript><button>filter</button></noscript>
  <span id="count">{len(shown)} of {len(runs)} runs</span>
  · <a href="/runs/latest/">latest</a> · <a href="/browse/">browse the store</a>
</form>
<table id="runs"><tr><th>run</th><th>test</th><th>workload</th><th>nemesis</th><th>seed</th>
<th>verdict</th><th></th></tr>{rows}</table>"""
    return _page("pyharness store", body)


def render_listing(store: Path, d: Path) -> bytes:
    rel = d.relative_to(store.resolve()).as_posix() if d != store.resolve() else ""
    crumbs = ['<a href="/browse/">store</a>']
    acc = ""
    for part in rel.split("/") if rel else []:
        acc = f"{acc}/{part}" if acc else part
        crumbs.append(f'<a href="{_url("/browse/", acc, True)}">{_e(part)}</a>')
    rows = []
    for p in sorted(d.iterdir(), key=lambda p: (not p.is_dir(), p.name)):
        prel = f"{rel}/{p.name}" if rel else p.name
        try:
            inside = p.resolve().is_relative_to(store.resolve())
        except (OSError, RuntimeError):
            inside = False
        if not inside:
            rows.append(f"<tr><td>{_e(p.name)}</td><td>outside the store</td></tr>")
        elif p.is_dir():
            rows.append(f'<tr><td><a href="{_url("/browse/", prel, True)}">{_e(p.name)}/</a>'
                        "</td><td></td></tr>")
        elif p.is_file():
            rows.append(f'<tr><td><a href="{_url("/runs/", prel)}">{_e(p.name)}</a></td>'
                        f"<td>{p.stat().st_size}</td></tr>")
    extra = ""
    if rel and is_run(d):
        extra = (f'<p><a href="{_url("/runs/", rel, True)}">report</a> · '
                 f'<a href="{_url("/zip/", rel)}">download as zip</a></p>')
    body = (f'<p><a href="/">all runs</a></p><h1>{" / ".join(crumbs)}</h1>{extra}'
            f'<table id="listing"><tr><th>name</th><th>bytes</th></tr>{"".join(rows)}</table>')
    return _page(f"store/{rel}", body)


def report_bytes(run: Path, rel: str) -> bytes:
    """The run's report page, with a bar linking back to the server's pages."""
    path = run / REPORT
    results = run / "results.json"
    fresh = path.is_file() and (not results.exists()
                                or path.stat().st_mtime >= results.stat().st_mtime)
    text = path.read_text(encoding="utf-8") if fresh else render_report(run)
    bar = (f'<div class="serve-bar" style="margin:0 -1.5em;padding:4px 1.5em;background:#f3f3f3">'
           f'<a href="/">all runs</a> · <a href="{_url("/browse/", rel, True)}">files</a> · '
           f'<a href="{_url("/zip/", rel)}">download zip</a></div>')
    return text.replace("<body>", "<body>" + bar, 1).encode()


def zip_files(run: Path, root: Path) -> Iterator[tuple[Path, str]]:
    """(file, name in zip) for each file of ``run`` that resolves inside ``root``."""
    for dirpath, dirnames, filenames in os.walk(run, followlinks=False):
        d = Path(dirpath)
        # Symlinked directories are not walked: os.walk lists them in dirnames.
        dirnames.sort()
        for name in sorted(filenames):
            p = d / name
            try:
                real = p.resolve(strict=True)
            except (OSError, RuntimeError):
                continue
            if real.is_relative_to(root) and real.is_file():
                yield real, p.relative_to(run).as_posix()


class _Sink:
    """A write-only stream for ZipFile: no tell/seek, so it writes data
    descriptors and never goes back, and the zip streams as it is made."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def write(self, b: bytes) -> int:
        self.out.write(b)
        return len(b)

    def flush(self) -> None:
        self.out.flush()


def _content_type(p: Path) -> str:
    if p.suffix.lower() in _TEXT_SUFFIXES:
        return "text/plain; charset=utf-8"
    ctype, _ = mimetypes.guess_type(p.name)
    if ctype is None:
        return "application/octet-stream"
    return ctype + ("; charset=utf-8" if ctype.startswith("text/") else "")


class StoreHandler(BaseHTTPRequestHandler):
    server_version = "pyharness-serve"
    store: Path  # set on the subclass make_server creates
    check_host: bool = True

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD>; every method but GET and HEAD is 405.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def do_GET(self) -> None:
        self._handle(head=False)

    def log_message(self, format: str, *args: Any) -> None:
        if not getattr(self.server, "quiet", False):
            super().log_message(format, *args)

    # --- routing

    def _handle(self, head: bool) -> None:
        try:
            if self.check_host and not self._host_ok():
                raise Refused(HTTPStatus.MISDIRECTED_REQUEST)
            url = urlsplit(self.path)
            path = url.path
            if path == "/":
                q = parse_qs(url.query)
                wl = q.get("workload", [""])[0]
                v = q.get("verdict", [""])[0]
                self._send(render_list(find_runs(self.store), wl, v), "text/html; charset=utf-8",
                           head)
            elif path == "/favicon.ico":
                raise Refused(HTTPStatus.NOT_FOUND)
            elif path.startswith("/runs/"):
                self._runs(path[len("/runs/"):], head)
            elif path == "/browse" or path.startswith("/browse/"):
                d = safe_path(self.store, path[len("/browse/"):])
                if not d.is_dir():
                    raise Refused(HTTPStatus.NOT_FOUND)
                self._send(render_listing(self.store, d), "text/html; charset=utf-8", head)
            elif path.startswith("/zip/"):
                self._zip(path[len("/zip/"):], head)
            else:
                raise Refused(HTTPStatus.NOT_FOUND)
        except Refused as r:
            self._error(r.status, head)
        except UnicodeDecodeError:
            self._error(HTTPStatus.BAD_REQUEST, head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away; nothing to tell it

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in LOOPBACK_HOSTS

    def _runs(self, rest: str, head: bool) -> None:
        target = safe_path(self.store, rest)
        if target.is_dir():
            if not rest.endswith("/") and rest:
                # Relative links in the report need the trailing slash.
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", "/runs/" + rest + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if is_run(target):
                self._send(report_bytes(target, rest.rstrip("/")),
                           "text/html; charset=utf-8", head)
            else:
                self._send(render_listing(self.store, target), "text/html; charset=utf-8",
                           head)
            return
        self._file(target, head)

    def _file(self, p: Path, head: bool) -> None:
        try:
            # O_NOFOLLOW: the last component was checked resolved; open it as such.
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            raise Refused(HTTPStatus.NOT_FOUND) from None
        with os.fdopen(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            self.send_response(HTTPStatus.OK)
            self._headers(_content_type(p), size)
            if not head:
                shutil.copyfileobj(fh, self.wfile, CHUNK)

    def _zip(self, rest: str, head: bool) -> None:
        run = safe_path(self.store, rest)
        if not run.is_dir() or not is_run(run):
            raise Refused(HTTPStatus.NOT_FOUND)
        root = self.store.resolve()
        label = "-".join(run.relative_to(root).parts) or "run"
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Disposition", f'attachment; filename="{label}.zip"')
        self.send_header("X-Content-Type-Options", "nosniff")
        # No length: the zip is written to the socket as it is made.
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if head:
            return
        with zipfile.ZipFile(_Sink(self.wfile), "w", zipfile.ZIP_DEFLATED) as zf:
            for real, arc in zip_files(run, root):
                zf.write(real, f"{label}/{arc}")

    # --- responses

    def _headers(self, ctype: str, length: int) -> None:
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

    def _send(self, body: bytes, ctype: str, head: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self._headers(ctype, len(body))
        if not head:
            self.wfile.write(body)

    def _error(self, status: HTTPStatus, head: bool) -> None:
        body = _page(f"{status.value}", f"<h1>{status.value} {_e(status.phrase)}</h1>"
                                          '<p><a href="/">all runs</a></p>')
        self.send_response(status)
        self._headers("text/html; charset=utf-8", len(body))
        if not head:
            self.wfile.write(body)


def make_server(store: Path, host: str = "127.0.0.1", port: int = 8080,
                quiet: bool = False) -> ThreadingHTTPServer:
    """A server over ``store``, bound but not yet serving (call ``serve_forever``).

    ``port=0`` picks a free port: read it back from ``server.server_address``.
    """
    store = Path(store)
    if not store.is_dir():
        raise FileNotFoundError(f"--store {store}: no such directory")
    handler = type("Handler", (StoreHandler,), {
        "store": store.resolve(), "check_host": host in LOOPBACK_HOSTS})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.quiet = quiet  # type: ignore[attr-defined]
    return server


def serve(store: Path, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve ``store`` until Ctrl-C."""
    server = make_server(store, host, port)
    h, p = server.server_address[:2]
    print(f"serving {Path(store).resolve()} at http://{h}:{p}/ (Ctrl-C to stop)",
          file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1em 1.5em;color:#222}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left} tr.run.valid td:first-child{border-left:5px solid #2a9d3f}
tr.run.invalid td:first-child{border-left:5px solid #d62728} tr.run.invalid{background:#fff0f0}
tr.run.unknown td:first-child{border-left:5px solid #ff9f1c} tr.run.unknown{background:#fff8ec}
tr.run.none td:first-child{border-left:5px solid #999} tr.run.none{color:#666}
.badge{display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;font-weight:bold}
.badge.valid{background:#2a9d3f} .badge.invalid{background:#d62728}
.badge.unknown{background:#e08600} .badge.none{background:#888}
form label{margin-right:1em} #count{color:#666}
"""
