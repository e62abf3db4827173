"""The history writer batches its flushes but loses nothing older than its
window, even when the driver is killed with SIGKILL."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pyharness.history import OK, HistoryWriter, Op, read_jsonl


def test_kill_9_keeps_every_op_older_than_the_flush_window(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    script = textwrap.dedent(f"""
        import os, signal, time
        from pathlib import Path
        from pyharness.history import HistoryWriter, Op
        w = HistoryWriter(Path({str(path)!r}), flush_s=0.05)
        for i in range(5000):
            w.append(Op(type="invoke", f="write", value=i, process=i % 7, time=i))
        time.sleep(0.3)  # well past the window: all 5000 must be on disk
        for i in range(5000, 5003):
            w.append(Op(type="invoke", f="write", value=i, process=0, time=i))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert proc.returncode == -9
    ops = read_jsonl(path)
    assert len(ops) >= 5000
    assert [op.value for op in ops[:5000]] == list(range(5000))
    assert [op.index for op in ops] == list(range(len(ops)))


def test_ops_reach_the_file_within_the_window_without_close(tmp_path: Path) -> None:
    import time

    path = tmp_path / "h.jsonl"
    w = HistoryWriter(path, flush_s=0.05)
    try:
        w.append(Op(type="invoke", f="read", value=None, process=0, time=0))
        time.sleep(0.01)
        w.append(Op(type=OK, f="read", value=1, process=0, time=1))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and len(path.read_text().splitlines()) < 2:
            time.sleep(0.01)
        assert len(path.read_text().splitlines()) == 2
    finally:
        w.close()
    assert [op.type for op in read_jsonl(path)] == ["invoke", OK]


def test_lines_read_back_as_written(tmp_path: Path) -> None:
    """The fast encoder keeps every value a history holds, and falls back
    for the ints it refuses."""
    path = tmp_path / "h.jsonl"
    values = [None, 1, -3, 2**70, "é\"\\\n\t", [1, [2, "x"]], {"k": [1, None]}, 1.5,
              {"nested": {"deep": ["ü", 2**64]}}]
    w = HistoryWriter(path)
    for i, v in enumerate(values):
        w.append(Op(type=OK, f="read", value=v, process=i, time=i, error=["e", 1],
                    node="n1", extra={"x": 1}))
    w.close()
    ops = read_jsonl(path)
    assert [op.value for op in ops] == values
    assert all(op.error == ["e", 1] and op.node == "n1" and op.extra == {"x": 1}
               for op in ops)
