"""``pyharness serve``: browse the store in a web browser, read-only.

Jepsen's ``lein run serve`` shows its store as a web page: the runs, newest
first, coloured by verdict, each opening on its files. This is the same over
our store (see :mod:`pyharness.history.store`), with the standard library's
``ThreadingHTTPServer`` (a dozen routes need no framework):

==========================  ==================================================
URL                         what
==========================  ==================================================
``/``                       the run list; ``?workload=set&verdict=false``
                            filters it (verdict: true, false, unknown, none)
``/runs/<path>/``           a run's report page (:mod:`pyharness.report.page`;
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
and say nothing about what lies outside. Only regular files are served: a
FIFO, a device or a socket in the store is 404 (opening a FIFO would wait
for a writer forever).

**A store is data, not code.** Every value from a run's files is escaped
before it reaches a page, and the Content-Security-Policy runs no script but
the two the server ships (the run list's filter, the timeline's drawing),
named by hash: a page in the store with a script of its own, inline or not,
does not run it. A run whose files are broken (``test.json`` a list, a
directory name that is not UTF-8) is listed and flagged, and never takes
the list down; any other failure of one request is a 500 for that request.

**Bounded.** Each connection has a socket timeout (:data:`TIMEOUT_S`),
at most :data:`MAX_WORKERS` are served at once (more wait in a listen
backlog of :data:`BACKLOG`), and a request line and headers larger than
:data:`MAX_REQUEST_BYTES`, or a request with a body, are refused.

**Binding.** Loopback by default. Binding elsewhere is the caller's choice
(``pyharness serve`` warns); the Host check stays on, and
``allowed_hosts`` names the extra Host names to accept (``*``: any).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import ipaddress
import json
import mimetypes
import os
import re
import shutil
import socket
import stat
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

from checkers.timeline import _JS as TIMELINE_JS
from pyharness.history.store import read_regular
from pyharness.report.page import REPORT, render_report, verdict_badge, verdict_class

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
VERDICTS = ("true", "false", "unknown", "none")
# Encodings of '.', '/', '\' and NUL: refused before decoding (see module doc).
_BAD_ESCAPES = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_TEXT_SUFFIXES = {".jsonl", ".log", ".edn", ".yml", ".yaml", ".txt", ".json", ".out", ""}
CHUNK = 64 * 1024
TIMEOUT_S = 15.0  # an idle or slow connection is dropped after this
MAX_WORKERS = 32  # requests served at once
BACKLOG = 512  # connections waiting for a worker
MAX_REQUEST_BYTES = 16 * 1024  # request line and headers together
#: The run list's only script: the filters submit on change.
LIST_JS = ('for(const s of document.querySelectorAll("#filter select"))'
           's.addEventListener("change",()=>s.form.submit());')


def _sha256(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


# No inline script runs but ours, by hash: a page in the store cannot bring its own.
CSP = ("default-src 'none'; script-src " + _sha256(LIST_JS) + " " + _sha256(TIMELINE_JS)
       + "; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) means this machine only."""
    h = host.strip("[]")
    if h.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(h, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


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


def _utf8(s: str) -> bool:
    """False for a name os.walk decoded with surrogates: it has no URL we accept."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(s: str) -> str:
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


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
    problem: str = ""  # why the run is broken, if it is

    @property
    def verdict_key(self) -> str:
        if self.verdict is None:
            return "none"
        return "true" if self.verdict is True else "false" if self.verdict is False \
            else "unknown"


def _load(path: Path) -> Any:
    try:
        return json.loads(read_regular(path, 64 << 20))
    except (OSError, ValueError):
        return None


def _started(d: Path) -> float:
    """When a run without ``start_wall_ns`` began: its directory's timestamp
    name (``20260101T120000.00Z``, see :mod:`pyharness.history.store`), else mtime."""
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
        runs.append(_run_info(root, d))
    runs.sort(key=lambda r: (r.started, r.stamp), reverse=True)
    return runs


def _run_info(root: Path, d: Path) -> RunInfo:
    """One run for the list; whatever is wrong with it becomes ``problem``."""
    rel = d.relative_to(root).as_posix()
    problems = [] if _utf8(rel) else [f"its path {_shown(rel)} is not UTF-8"]
    test = _load(d / "test.json") if (d / "test.json").exists() else {}
    if not isinstance(test, dict):
        problems.append(f"test.json is {type(test).__name__ if test is not None else 'unreadable'}"
                        ", not an object")
        test = {}
    opts = test.get("options") or {}
    if not isinstance(opts, dict):
        problems.append(f"test.json options is a {type(opts).__name__}, not an object")
        opts = {}
    results = _load(d / "results.json")
    if (d / "results.json").exists() and not isinstance(results, dict):
        problems.append("results.json is not a JSON object")
    started = test.get("start_wall_ns")
    try:
        when = started / 1e9 if isinstance(started, int | float) and \
            not isinstance(started, bool) else _started(d)
    except (OSError, OverflowError, ValueError):
        when = 0.0
    verdict = results.get("valid?") if isinstance(results, dict) else None
    if not (verdict is None or isinstance(verdict, bool | str)):
        verdict = "unknown"
    return RunInfo(
        rel=rel, name=_shown(str(test.get("name") or d.parent.name)), stamp=_shown(d.name),
        workload=str(opts.get("workload", "")), nemesis=str(opts.get("nemesis", "")),
        seed=opts.get("seed"), verdict=verdict, started=when, problem="; ".join(problems))


def _e(v: object) -> str:
    return html.escape(str(v), quote=True)


def _url(prefix: str, rel: str, slash: bool = False) -> str:
    return prefix + quote(rel) + ("/" if slash and rel else "")


def _page(title: str, body: str) -> bytes:
    # "replace": a stray surrogate from a file name must not cost the page
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"{body}</body></html>\n").encode("utf-8", "replace")


def render_list(runs: list[RunInfo], workload: str = "", verdict: str = "") -> bytes:
    workloads = sorted({r.workload for r in runs if r.workload})
    shown = [r for r in runs if (not workload or r.workload == workload)
             and (not verdict or r.verdict_key == verdict)]
    opt_w = "".join(f'<option value="{_e(w)}"{" selected" if w == workload else ""}>{_e(w)}'
                    "</option>" for w in workloads)
    opt_v = "".join(f'<option value="{v}"{" selected" if v == verdict else ""}>{v}</option>'
                    for v in VERDICTS)
    rows = "".join(_run_row(r) for r in shown)
    body = f"""<h1>pyharness store</h1>
<form method="get" action="/" id="filter">
  <label>workload <select name="workload">
    <option value="">all</option>{opt_w}</select></label>
  <label>verdict <select name="verdict">
    <option value="">all</option>{opt_v}</select></label>
  <noscript><button>filter</button></noscript>
  <span id="count">{len(shown)} of {len(runs)} runs</span>
  · <a href="/runs/latest/">latest</a> · <a href="/browse/">browse the store</a>
</form>
<table id="runs"><tr><th>run</th><th>test</th><th>workload</th><th>nemesis</th><th>seed</th>
<th>verdict</th><th></th></tr>{rows}</table><script>{LIST_JS}</script>"""
    return _page("pyharness store", body)


def _run_row(r: RunInfo) -> str:
    linked = _utf8(r.rel)  # a name that is not UTF-8 has no URL the server accepts
    stamp = (f'<a class="open" href="{_url("/runs/", r.rel, True)}">{_e(r.stamp)}</a>'
             if linked else f'<span class="open">{_e(r.stamp)}</span>')
    flag = f' <span class="badge broken" title="{_e(r.problem)}">broken: {_e(r.problem)}</span>' \
        if r.problem else ""
    links = (f'<a href="{_url("/browse/", r.rel, True)}">files</a> · '
             f'<a href="{_url("/zip/", r.rel)}">zip</a>') if linked else ""
    return (f'<tr class="run {verdict_class(r.verdict)}{" broken" if r.problem else ""}" '
            f'data-workload="{_e(r.workload)}" data-verdict="{r.verdict_key}">'
            f"<td>{stamp}</td><td>{_e(r.name)}</td><td>{_e(r.workload)}</td>"
            f"<td>{_e(r.nemesis)}</td><td>{_e('' if r.seed is None else r.seed)}</td>"
            f"<td>{verdict_badge(r.verdict)}{flag}</td><td>{links}</td></tr>")


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
        if not _utf8(prel):
            rows.append(f"<tr><td>{_e(_shown(p.name))}</td><td>name is not UTF-8</td></tr>")
        elif not inside:
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
    text = None
    if fresh:
        try:
            text = read_regular(path, 64 << 20)
        except (OSError, ValueError):
            text = None  # a FIFO or a broken file: draw the page afresh instead
    if text is None:
        text = render_report(run)
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
    allowed_hosts: frozenset[str] = frozenset()  # Host names accepted beyond loopback
    timeout = TIMEOUT_S  # StreamRequestHandler sets it on the socket

    def setup(self) -> None:
        super().setup()
        self.rfile = _Budget(self.rfile, MAX_REQUEST_BYTES)  # type: ignore[assignment]

    def handle_one_request(self) -> None:
        self.rfile.reset()  # type: ignore[attr-defined]
        super().handle_one_request()

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.rfile.over:  # type: ignore[attr-defined]
            self.close_connection = True
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            return False
        if self.headers.get("Transfer-Encoding") or \
                self.headers.get("Content-Length", "0").strip() not in ("", "0"):
            # read-only: a body is never read, so it is refused, not left on the wire
            self.close_connection = True
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return False
        return True

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
        except (UnicodeDecodeError, UnicodeEncodeError):
            self._error(HTTPStatus.BAD_REQUEST, head)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the client went away; nothing to tell it
        except Exception as e:  # one broken run costs one request, not the connection
            self.log_error("%s %s: %s: %s", self.command, self.path, type(e).__name__, e)
            with contextlib.suppress(OSError):
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, head)

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in LOOPBACK_HOSTS or name in self.allowed_hosts

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
            # O_NONBLOCK: a FIFO must not hold the thread waiting for a writer.
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            raise Refused(HTTPStatus.NOT_FOUND) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise Refused(HTTPStatus.NOT_FOUND)  # FIFOs, devices, sockets
        os.set_blocking(fd, True)
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


class _Budget:
    """The request's reader, stopping at :data:`MAX_REQUEST_BYTES` per request.

    ``http.server`` takes 64 KiB per line and 100 header lines; a request has
    no use for that, and a thread holding 6 MB of headers is a cheap attack."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self.raw, self.limit, self.left, self.over = raw, limit, limit, False

    def reset(self) -> None:
        self.left, self.over = self.limit, False

    def readline(self, size: int = -1) -> bytes:
        if self.left <= 0:
            self.over = True
            return b""  # ends the headers; parse_request then refuses the request
        n = self.left if size is None or size < 0 else min(size, self.left)
        line = self.raw.readline(n)
        self.left -= len(line)
        if self.left <= 0 and not line.endswith(b"\n"):
            self.over = True
        return line

    def read(self, size: int = -1) -> bytes:
        return self.raw.read(size)

    def close(self) -> None:
        self.raw.close()


class StoreServer(ThreadingHTTPServer):
    """A threading server with at most :data:`MAX_WORKERS` requests at once.

    Past that, accepting waits for a worker and new connections wait in the
    listen backlog, instead of each getting a thread."""

    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, address: tuple[str, int], handler: type[StoreHandler],
                 family: socket.AddressFamily, quiet: bool = False) -> None:
        self.address_family = family
        self.quiet = quiet
        self._slots = threading.BoundedSemaphore(MAX_WORKERS)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # One line, not a traceback per dropped connection.
        e = sys.exc_info()[1]
        if not self.quiet:
            print(f"serve: {client_address[0]}: {type(e).__name__}: {e}", file=sys.stderr)


def make_server(store: Path, host: str = "127.0.0.1", port: int = 8080,
                quiet: bool = False, allowed_hosts: Any = ()) -> StoreServer:
    """A server over ``store``, bound but not yet serving (call ``serve_forever``).

    ``port=0`` picks a free port: read it back from ``server.server_address``.
    The Host check is on whatever ``host`` is; ``allowed_hosts`` adds names
    it accepts, and ``"*"`` among them turns it off.
    """
    store = Path(store)
    if not store.is_dir():
        raise FileNotFoundError(f"--store {store}: no such directory")
    allowed = frozenset(h.strip().lower() for h in allowed_hosts)
    handler = type("Handler", (StoreHandler,), {
        "store": store.resolve(), "check_host": "*" not in allowed,
        "allowed_hosts": allowed})
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    return StoreServer((bare, port), handler, family, quiet)


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
.badge.broken{background:#7b1fa2;margin-left:4px} tr.run.broken{outline:2px dashed #7b1fa2}
form label{margin-right:1em} #count{color:#666}
"""
