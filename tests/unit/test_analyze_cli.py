"""`pyharness analyze` as a user runs it: files of every format, run dirs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyharness.history import HistoryWriter, Op
from tests.conftest import CORPUS

EXE = Path(sys.executable).parent / "pyharness"


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), "analyze", *args], capture_output=True, text=True,
                          timeout=300)


needs_corpus = pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus is absent")


@needs_corpus
def test_invalid_history_explains_itself(tmp_path: Path) -> None:
    r = analyze(str(CORPUS / "knossos-cas/bad/cas-failure.edn"), "--out", str(tmp_path))
    assert r.returncode == 1, r.stderr
    assert "not linearizable" in r.stdout and "cannot be placed" in r.stdout
    assert "states just before it" in r.stdout
    drawings = list(tmp_path.glob("linear-*.html"))
    assert drawings and "<svg" in drawings[0].read_text()


@needs_corpus
def test_valid_history_and_json_output(tmp_path: Path) -> None:
    r = analyze(str(CORPUS / "porcupine-kv/c01-ok.txt"), "--json")
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)
    assert results["valid?"] is True and results["linear"]["model"] == "kv"


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "history.jsonl"
    bad.write_text('{"type": "invoke", "f": "read", "process": 0}\nnot json\n')
    r = analyze(str(bad))
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error:")
    assert f"{bad}:2" in r.stderr


def test_unknown_checker_and_model_are_named(tmp_path: Path) -> None:
    h = tmp_path / "history.jsonl"
    h.write_text('{"type": "invoke", "f": "read", "process": 0, "value": null}\n')
    r = analyze(str(h), "--checker", "nope")
    assert r.returncode == 2 and "--checker must be one of" in r.stderr
    r = analyze(str(h), "--model", "nope")
    assert r.returncode == 2 and "--model must be one of" in r.stderr


def test_run_directory_reruns_the_runs_checkers(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "test.json").write_text(json.dumps(
        {"name": "etcd-set-none", "options": {"workload": "set", "nemesis": "none"}}))
    w = HistoryWriter(run / "history.jsonl")
    t = 0
    for i in range(3):
        for typ in ("invoke", "ok"):
            t += 1000
            w.append(Op(type=typ, f="add", value=i, process=0, time=t))
    w.append(Op(type="invoke", f="read", process=1, time=t + 1))
    w.append(Op(type="ok", f="read", value=[0, 2], process=1, time=t + 2))
    w.close()
    r = analyze(str(run), "--json")
    assert r.returncode == 1, r.stderr  # add 1 was acknowledged, then lost
    results = json.loads(r.stdout)
    assert results["set"]["lost"] == "#{1}"
    assert {"set", "stats", "perf", "timeline"} <= set(results)
    assert (run / "timeline.html").exists()
