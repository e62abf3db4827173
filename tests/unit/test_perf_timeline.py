"""Fault windows, perf PNGs and the timeline page on generated histories."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest

from checkers.perf import DPI, FIGSIZE, PerfChecker, bucket_width
from checkers.timeline import DATA_ELEMENT_ID, TimelineChecker
from checkers.windows import classify, fault_windows
from pyharness.history import Op

S = 1_000_000_000


def nem(f: str, t: float, **extra: Any) -> Op:
    return Op("info", f, None, "nemesis", int(t * S), extra=extra)


def client(f: str, value: Any, process: int, t0: float, t1: float, outcome: str,
           error: Any = None) -> list[Op]:
    return [Op("invoke", f, value if f == "add" else None, process, int(t0 * S), node="n2"),
            Op(outcome, f, value, process, int(t1 * S), error=error, node="n2")]


def indexed(ops: list[Op]) -> list[Op]:
    ops.sort(key=lambda o: o.time)
    for i, o in enumerate(ops):
        o.index = i
    return ops


def sample_history() -> list[Op]:
    """Two clients, 300 ops over 30 s; a partition 10–20 s, a kill from 25 s on."""
    ops: list[Op] = []
    for k in range(150):
        for p in (0, 1):
            t = k * 0.2 + p * 0.05
            outcome = "info" if (p == 1 and 10 < t < 20 and k % 5 == 0) else "ok"
            err = ["timeout", "deadline"] if outcome == "info" else None
            f = "read" if k % 10 == 9 else "add"
            ops += client(f, [0, 1] if f == "read" else 2 * k + p, p + 2 * (k // 50), t,
                          t + 0.01, outcome, err)
    ops += [nem("start-partition", 10.0), nem("start-partition", 10.1, effective_ns=int(10.05 * S),
                                              grudge={"n1": ["n2", "n3"]}),
            nem("stop-partition", 20.0), nem("stop-partition", 20.2),
            nem("kill", 25.0), nem("kill", 25.3, hosts=["n3"])]
    return indexed(ops)


# --- windows -----------------------------------------------------------------

def test_classify_rule_and_table() -> None:
    assert classify("start-partition") == ("partition", "open")
    assert classify("stop-clock-skew") == ("clock-skew", "close")
    assert classify("kill") == ("kill", "open")
    assert classify("start") == ("kill", "close")
    assert classify("resume") == ("pause", "close")
    assert classify("noop") is None
    assert classify("bump", {"bump": ("clock", "open")}) == ("clock", "open")


def test_windows_effective_time_close_and_open_to_end() -> None:
    ws = fault_windows(sample_history())
    assert [w.kind for w in ws] == ["partition", "kill"]
    part, kill = ws
    assert (part.start, part.end) == (int(10.05 * S), int(20.2 * S))
    assert part.info["grudge"] == {"n1": ["n2", "n3"]}
    assert not part.uncertain and part.close_index is not None
    # No effective_ns: opens at completion; never stopped: runs to the history's end.
    assert kill.start == int(25.3 * S)
    assert kill.end == max(o.time for o in sample_history())
    assert kill.close_index is None and kill.info["hosts"] == ["n3"]


def test_window_with_nemesis_error_is_flagged() -> None:
    h = indexed([nem("start-partition", 1), nem("start-partition", 2, error="ssh failed"),
                 nem("stop-partition", 3), nem("stop-partition", 4)])
    (w,) = fault_windows(h)
    assert w.uncertain and w.error == "ssh failed"
    assert (w.start, w.end) == (2 * S, 4 * S)


def test_double_open_and_stray_close_are_ignored() -> None:
    h = indexed([nem("stop-pause", 0.5), nem("stop-pause", 0.6),
                 nem("pause", 1), nem("pause", 1.1), nem("pause", 2), nem("pause", 2.1),
                 nem("resume", 3), nem("resume", 3.2)])
    (w,) = fault_windows(h)
    assert (w.kind, w.start, w.end) == ("pause", int(1.1 * S), int(3.2 * S))


def test_open_never_completed_starts_at_invocation() -> None:
    h = indexed([*client("add", 1, 0, 0, 9, "ok"), nem("start-partition", 5)])
    (w,) = fault_windows(h)
    assert (w.start, w.end, w.error) == (5 * S, 9 * S, "incomplete")


# --- perf --------------------------------------------------------------------

def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    w, h = struct.unpack(">II", head[16:24])
    return w, h


def test_perf_writes_three_pngs(tmp_path: Path) -> None:
    r = PerfChecker(tmp_path).check({"name": "t"}, sample_history())
    assert r["valid?"] is True
    names = sorted(Path(f).name for f in r["files"])
    assert names == ["latency-quantiles.png", "latency-raw.png", "rate.png"]
    for f in r["files"]:
        assert png_size(Path(f)) == (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))


def test_perf_defaults_to_store_dir_and_handles_empty(tmp_path: Path) -> None:
    r = PerfChecker().check({"store_dir": str(tmp_path / "s")}, [])
    assert all(Path(f).parent == tmp_path / "s" and Path(f).stat().st_size > 0
               for f in r["files"])


@pytest.mark.parametrize(("duration", "width"), [(30, 0.2), (300, 2), (3600, 50), (0, 1)])
def test_bucket_width_is_round(duration: float, width: float) -> None:
    assert bucket_width(duration) == pytest.approx(width)


# --- timeline ----------------------------------------------------------------

def embedded(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    m = re.search(rf'<script type="application/json" id="{DATA_ELEMENT_ID}">(.*?)</script>',
                  text, re.S)
    assert m is not None
    return json.loads(m.group(1))


def test_timeline_embeds_ops_lanes_and_windows(tmp_path: Path) -> None:
    h = sample_history()
    r = TimelineChecker(tmp_path).check({"name": "t"}, h)
    page = Path(r["file"])
    assert r["valid?"] is True and page.name == "timeline.html"
    text = page.read_text(encoding="utf-8")
    assert "<canvas" in text and "http://" not in text and "https://" not in text
    d = embedded(page)
    kinds = [(lane["kind"], lane["name"]) for lane in d["lanes"]]
    assert kinds[:3] == [("fault", "partition"), ("fault", "kill"), ("nemesis", "nemesis")]
    assert [n for k, n in kinds if k == "process"] == ["0", "1", "2", "3", "4", "5"]
    rows = {t: [r for r in d["ops"] if r[4] == t] for t in ("ok", "info", "nemesis", "window")}
    assert len(rows["ok"]) + len(rows["info"]) == 300
    assert len(rows["nemesis"]) == 3 and len(rows["window"]) == 2
    # Every op keeps its indices, times, value, error and node.
    info = rows["info"][0]
    inv = next(o for o in h if o.index == info[5])
    done = next(o for o in h if o.index == info[6])
    assert (info[1], info[2]) == (inv.time, done.time)
    assert d["fs"][info[3]] == inv.f and info[8] == ["timeout", "deadline"]
    assert info[9] == "n2" and info[7] == done.value
    assert [(w["kind"], w["start"]) for w in d["windows"]] == [
        ("partition", int(10.05 * S)), ("kill", int(25.3 * S))]


def test_timeline_escapes_script_breakers_and_cuts_huge_values(tmp_path: Path) -> None:
    h = indexed([*client("read", list(range(10_000)), 0, 0, 1, "ok"),
                 *client("add", 1, 1, 0, 1, "info", error="</script><b>x")])
    page = Path(TimelineChecker(tmp_path).check({"name": "<i>n</i>"}, h)["file"])
    d = embedded(page)
    errors = [r[8] for r in d["ops"] if r[8] is not None]
    assert errors == ["</script><b>x"]
    big = next(r[7] for r in d["ops"] if r[4] == "ok")
    assert isinstance(big, str) and big.endswith("(10000 items)") and len(big) < 400
    assert "<i>n</i>" not in page.read_text(encoding="utf-8")
