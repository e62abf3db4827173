"""analyze under attack (issue 17): exit codes that mean what they say,
failures that say where, and reads that stay inside the run.

Every test runs the real command and fails before the fix: a crash exited
1 ("invalid") with a traceback, an empty history was valid, a failed drawing
write turned an invalid history unknown, and so on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checkers.linear_report import safe_name
from checkers.linearizable import Linearizable
from pyharness.history import Op
from tests.conftest import CORPUS

EXE = Path(sys.executable).parent / "pyharness"
IMMEDIATE = CORPUS / "knossos-cas/bad/immediate-failure.edn"
needs_corpus = pytest.mark.skipif(not IMMEDIATE.exists(), reason="../shared/corpus is absent")


def analyze(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([str(EXE), "analyze", *args], capture_output=True, text=True,
                       timeout=timeout)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def jsonl(path: Path, *ops: dict) -> Path:
    path.write_text("".join(json.dumps(o) + "\n" for o in ops))
    return path


def pair(f: str, value: object, process: object = 0, i: int = 0) -> tuple[dict, dict]:
    return ({"index": 2 * i, "time": 2 * i, "process": process, "type": "invoke", "f": f,
             "value": value},
            {"index": 2 * i + 1, "time": 2 * i + 1, "process": process, "type": "ok", "f": f,
             "value": value})


# --- a crash is 2, never 1


def test_crash_exits_2_with_one_line_naming_what_ran(tmp_path: Path) -> None:
    h = jsonl(tmp_path / "h.jsonl", *pair("read", None))
    code = ("import sys, pyharness.run.analysis as a\n"
            "def boom(*_a, **_k): raise RuntimeError('boom')\n"
            "a.run_checkers = boom\n"
            "from pyharness.cli import app\n"
            f"app(['analyze', {str(h)!r}])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"checking {h}" in lines[0] and "RuntimeError: boom" in lines[0]
    r = subprocess.run([sys.executable, "-c", code.replace("['analyze'", "['--debug', 'analyze'")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" in r.stderr


# --- nothing judged is unknown, never valid


def test_empty_history_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    r = analyze(str(tmp_path / "empty.jsonl"))
    assert r.returncode == 2 and "unknown" in r.stdout and "empty" in r.stdout


def test_edn_holding_only_a_string_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "hello.edn").write_text('"hello"\n')
    r = analyze(str(tmp_path / "hello.edn"))
    assert r.returncode == 2 and "verdict: unknown" in r.stdout


def test_only_unknown_fs_is_unknown(tmp_path: Path) -> None:
    r = analyze(str(jsonl(tmp_path / "h.jsonl", *pair("zap", 1))), "--json")
    assert r.returncode == 2
    linear = json.loads(r.stdout)["linear"]
    assert linear["valid?"] == "unknown" and "does not fit" in linear["reason"]


@needs_corpus
def test_kv_model_on_a_register_history_is_unknown() -> None:
    r = analyze(str(IMMEDIATE), "--model", "kv")
    assert r.returncode == 2 and "model kv does not fit the ops" in r.stdout


@needs_corpus
def test_register_model_on_a_kv_history_is_unknown() -> None:
    r = analyze(str(CORPUS / "porcupine-kv/c01-ok.txt"), "--model", "cas-register")
    assert r.returncode == 2 and "model cas-register does not fit the ops" in r.stdout


# --- a failed write never changes the verdict


@needs_corpus
@pytest.mark.parametrize("out", ["/dev/null", "file"])
def test_failed_drawing_write_keeps_invalid(tmp_path: Path, out: str) -> None:
    target = Path(out) if out.startswith("/") else tmp_path / out
    if not target.exists():
        target.write_text("not a directory")
    r = analyze(str(IMMEDIATE), "--out", str(target))
    assert r.returncode == 1, r.stderr
    assert "verdict: INVALID" in r.stdout
    errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "cannot write the drawing" in errors[0]


@needs_corpus
def test_junit_and_edn_to_a_directory_are_errors_not_tracebacks(tmp_path: Path) -> None:
    d = tmp_path / "dir"
    d.mkdir()
    r = analyze(str(IMMEDIATE), "--out", str(tmp_path), "--junit", str(d), "--edn", str(d))
    assert r.returncode == 1 and "verdict: INVALID" in r.stdout
    assert f"cannot write --junit: {d}: is a directory" in r.stderr
    assert f"cannot write --edn: {d}: is a directory" in r.stderr
    assert not list(tmp_path.glob("*.tmp"))


def test_failed_junit_write_of_a_valid_history_is_not_0(tmp_path: Path) -> None:
    h = jsonl(tmp_path / "h.jsonl", *pair("write", 1), *pair("read", 1, i=1))
    assert analyze(str(h)).returncode == 0
    r = analyze(str(h), "--junit", str(tmp_path))
    assert r.returncode == 2 and "verdict: valid" in r.stdout and "--junit" in r.stderr


# --- ops the checker cannot take are errors naming file:line (they used to
# reach the checker, crash it, and come out as its failure naming the op)


@pytest.mark.parametrize(("ops", "expected"), [
    (pair("cas", 3), ":1: expected :cas's value to be [old new], got 3"),
    (pair("write", 3, {"a": 1}), ":1: expected the process to be an integer or a name"),
])
def test_ops_the_checker_cannot_take_name_file_and_line(tmp_path: Path, ops: tuple,
                                                         expected: str) -> None:
    h = jsonl(tmp_path / "h.jsonl", *ops)
    r = analyze(str(h))
    assert r.returncode == 2
    lines = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and f"{h}{expected}" in lines[0], r.stderr


def test_negative_time_limit_is_an_option_error(tmp_path: Path) -> None:
    r = analyze(str(jsonl(tmp_path / "h.jsonl", *pair("read", None))), "--time-limit", "-1")
    assert r.returncode == 2 and "--time-limit must be a positive number" in r.stderr


# --- FIFOs and devices are errors, not hangs


def test_fifo_is_an_error_not_a_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "h.jsonl")
    started = time.monotonic()
    r = analyze(str(tmp_path / "h.jsonl"), timeout=20)
    assert r.returncode == 2 and "not a regular file" in r.stderr
    assert time.monotonic() - started < 15


def test_dev_zero_is_an_error_not_a_hang() -> None:
    r = analyze("/dev/zero", timeout=20)
    assert r.returncode == 2 and "/dev/zero: not a regular file" in r.stderr


# --- plain error text


def test_errors_print_without_emoji_codes(tmp_path: Path) -> None:
    bad = tmp_path / "a:smile:b.jsonl"
    lines = [json.dumps(o) for i in range(50) for o in pair("read", None, i=i)]
    bad.write_text("\n".join([*lines[:99], "not json"]) + "\n")
    r = analyze(str(bad))
    assert r.returncode == 2
    assert f"{bad}:100:" in r.stderr and "😄" not in r.stderr and "💯" not in r.stderr


# --- drawings per key


def test_drawing_names_are_unique_per_key(tmp_path: Path) -> None:
    assert safe_name("all") == "all" and safe_name("n1.x-2") == "n1.x-2"
    names = {safe_name(k) for k in ("a/b", "a?b", "a_b", "a b", "a_b-" + "0" * 10)}
    assert len(names) == 5
    ops: list[Op] = []
    for i, key in enumerate(("a/b", "a?b")):  # both: a read of a value never written
        ops += [Op("invoke", "read", [key, None], process=i, time=2 * i, index=2 * i),
                Op("ok", "read", [key, 7], process=i, time=2 * i + 1, index=2 * i + 1)]
    r = Linearizable(independent="tuple", out_dir=tmp_path).check({}, ops)
    assert r["valid?"] is False
    files = {f["file"] for f in r["failures"]}
    assert len(files) == 2 and all(Path(f).exists() for f in files)


# --- reads stay inside the run


def test_outward_nodes_symlink_is_ignored_with_a_warning(tmp_path: Path) -> None:
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "etcd.log").write_text("panic: TOP-SECRET-line\n")
    run = tmp_path / "run"
    (run / "nodes" / "n2").mkdir(parents=True)
    (run / "test.json").write_text(json.dumps(
        {"name": "etcd-register-none", "options": {"workload": "register", "nemesis": "none"}}))
    jsonl(run / "history.jsonl", *pair("write", [0, 1]), *pair("read", [0, 1], i=1))
    (run / "nodes" / "n1").symlink_to(secret)  # a host directory that leads out
    (run / "nodes" / "n2" / "etcd.log").symlink_to(secret / "etcd.log")  # a file that does
    r = analyze(str(run))
    assert "warning: log-file-pattern: skipped 2" in r.stderr, r.stderr
    text = (run / "results.json").read_text()
    assert "TOP-SECRET" not in text and "TOP-SECRET" not in (run / "report.html").read_text()
    logs = json.loads(text)["log-file-pattern"]
    # nothing left to scan is unknown, not clean
    assert logs["valid?"] == "unknown" and logs["files-scanned"] == 0 and len(logs["skipped"]) == 2


def test_history_symlink_out_of_the_run_is_refused(tmp_path: Path) -> None:
    outside = jsonl(tmp_path / "elsewhere.jsonl", *pair("read", None))
    run = tmp_path / "run"
    run.mkdir()
    (run / "test.json").write_text(json.dumps({"options": {"workload": "register"}}))
    (run / "history.jsonl").symlink_to(outside)
    r = analyze(str(run))
    assert r.returncode == 2 and "resolves outside" in r.stderr


@pytest.mark.parametrize("test_json", ['[1, 2]', '"hello"', '{"options": ["set"]}',
                                       '{"options": {"workload": "nope"}}'])
def test_broken_test_json_is_an_error_naming_it(tmp_path: Path, test_json: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "test.json").write_text(test_json)
    jsonl(run / "history.jsonl", *pair("read", None))
    r = analyze(str(run))
    assert r.returncode == 2 and f"{run / 'test.json'}:" in r.stderr


def test_completions_without_invocations_are_errors_naming_the_line(tmp_path: Path) -> None:
    _, ok = pair("read", 1)
    r = analyze(str(jsonl(tmp_path / "h.jsonl", ok)))
    assert r.returncode == 2 and f"{tmp_path / 'h.jsonl'}:1: expected an invoke" in r.stderr


def test_options_that_make_no_workload_name_test_json(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "test.json").write_text(json.dumps(
        {"options": {"workload": "register", "ops_per_key": "x"}}))
    jsonl(run / "history.jsonl", *pair("read", None))
    r = analyze(str(run))
    assert r.returncode == 2 and f"{run / 'test.json'}: options" in r.stderr
    assert "crashed" not in r.stderr


def test_history_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "h.jsonl").write_bytes(b"\xff\xfe{}\n")
    r = analyze(str(tmp_path / "h.jsonl"))
    assert r.returncode == 2 and f"{tmp_path / 'h.jsonl'}:1: not UTF-8" in r.stderr
    assert "byte 0" in r.stderr  # file, line and byte offset


def test_plots_that_cannot_be_written_leave_the_verdict_alone(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "test.json").write_text(json.dumps(
        {"name": "etcd-register-none", "options": {"workload": "register", "nemesis": "none"}}))
    jsonl(run / "history.jsonl", *pair("write", [0, 1]), *pair("read", [0, 1], i=1))
    (run / "nodes" / "n1").mkdir(parents=True)
    (run / "nodes" / "n1" / "etcd.log").write_text("I | etcdserver: ready\n")  # clean
    r = analyze(str(run), "--out", "/dev/null")
    assert "verdict: valid" in r.stdout, r.stdout
    errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert any("checker perf: cannot write" in x for x in errors)
    assert any("checker timeline: cannot write" in x for x in errors)
    assert r.returncode == 2  # valid, but what was asked for was not all written
