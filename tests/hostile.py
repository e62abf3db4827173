"""A hostile store: every broken run issue 17 listed, and a run full of HTML.

Shared by the unit tests of ``serve`` and the browser test. The payload sets
``window.__pwned`` if any of it runs as script, so a browser can tell.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pyharness.report.demo_store import make_run
from pyharness.report.page import write_report

MARKER = "__pwned"
PAYLOAD = (f'<img src=x onerror="window.{MARKER}=1"><script>window.{MARKER}=1</script>'
           f'"><svg onload="window.{MARKER}=1">')
T0 = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


@dataclass
class HostileStore:
    store: Path
    good: Path  # a plain valid run, which must still be listed
    html: Path  # every string and number of results.json and test.json is PAYLOAD
    dict_process: Path  # a history whose ops have a map as process
    broken: dict[str, Path]  # what is wrong -> the run
    non_utf8: bytes  # the run directory whose name is not UTF-8, relative to the store


def _poison(v: Any) -> Any:
    """Every string and number (not bool) of ``v`` replaced by the payload."""
    if isinstance(v, dict):
        return {k: _poison(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_poison(x) for x in v]
    if isinstance(v, bool) or v is None:
        return v
    return PAYLOAD


def _run_dir(store: Path, name: str, minutes: int) -> Path:
    d = store / name / (T0 + timedelta(minutes=minutes)).strftime("%Y%m%dT%H%M%S.00Z")
    d.mkdir(parents=True)
    return d


def make_hostile_store(store: Path) -> HostileStore:
    store.mkdir(parents=True, exist_ok=True)
    good = make_run(store, workload="set", valid=True, seed=0, when=T0)

    html = make_run(store, workload="set", valid=False, seed=1, when=T0 + timedelta(minutes=1))
    write_report(html)  # a report on disk, then made older than results.json: re-rendered
    results = json.loads((html / "results.json").read_text())
    (html / "results.json").write_text(json.dumps(_poison(results)))
    test = json.loads((html / "test.json").read_text())
    test = {**_poison(test), "start_wall_ns": test["start_wall_ns"]}
    (html / "test.json").write_text(json.dumps(test))
    old = (html / "results.json").stat().st_mtime - 60
    os.utime(html / "report.html", (old, old))

    broken: dict[str, Path] = {}
    for i, (what, text) in enumerate([("test.json is a list", "[1, 2]"),
                                      ("test.json is a string", '"hello"'),
                                      ("options is a list",
                                       '{"name": "opts", "options": ["set"]}')]):
        d = _run_dir(store, f"broken-{i}", 10 + i)
        (d / "test.json").write_text(text)
        (d / "history.jsonl").write_text("")
        broken[what] = d

    d = _run_dir(store, "fifos", 20)
    (d / "test.json").write_text(json.dumps({"name": "fifos", "options": {"workload": "set"}}))
    (d / "history.jsonl").write_text("")
    os.mkfifo(d / "results.json")  # read by the list: must not hang it
    os.mkfifo(d / "fifo.log")
    here = os.getcwd()
    os.chdir(d)  # a relative name: AF_UNIX paths are limited to 108 bytes
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind("socket.log")
        sock.close()
    finally:
        os.chdir(here)
    broken["results.json is a FIFO"] = d

    dict_process = _run_dir(store, "dict-process", 30)
    (dict_process / "test.json").write_text(json.dumps(
        {"name": "dict-process", "options": {"workload": "register"}}))
    (dict_process / "history.jsonl").write_text(
        '{"index": 0, "time": 1, "process": {"a": 1}, "type": "invoke", "f": "read", '
        '"value": null}\n'
        '{"index": 1, "time": 2, "process": {"a": 1}, "type": "ok", "f": "read", '
        '"value": 1}\n')

    non_utf8 = b"bad-\xff-name/20260201T124000.00Z"
    raw = os.fsencode(store) + b"/" + non_utf8
    os.makedirs(raw)
    with open(raw + b"/test.json", "w") as fh:
        fh.write(json.dumps({"name": "non-utf8", "options": {"workload": "set"}}))
    return HostileStore(store, good, html, dict_process, broken, non_utf8)
