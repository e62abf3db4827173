"""The known-bug matrix: bug files are checked up front, and each cell is
judged from the named checker's verdict in the run's results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyharness.run.bugs import judge, load_bug, run_matrix
from pyharness.run.testrun import Outcome, UsageError
from pyharness.run.testrun import TestOptions as Opts  # not a name pytest collects

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_bug_files_load() -> None:
    files = sorted((REPO / "scenarios" / "bugs").glob("*.yaml"))
    assert files
    for f in files:
        b = load_bug(f)
        assert b.id.startswith("etcd-io/etcd#") and b.caught_on and b.passes_on


@pytest.mark.parametrize(("text", "words"), [
    ("workload: watch\n", ["no 'bug:' section"]),
    ("bug: 3\nworkload: watch\n", [":1:", "must map"]),
    ("bug:\n  id: x\n  checker: watch\n  caught-on: 3.5.1\n", [":1:", "caught-on", "list"]),
    ("bug:\n  id: x\n  checker: watch\n  caught-on: ['3.5.1']\n  passes-on: ['3.5.1']\n",
     ["3.5.1 is in both"]),
    ("bug:\n  id: x\n  checker: watch\n  fixed-in: ['3.5.16']\n", ["unknown key 'fixed-in'"]),
    ("bug:\n  id: x\n  checker: watch\n  caught-on: ['3.5.1']\nworkload: queue\n",
     ["workload"]),
])
def test_a_bad_bug_file_is_one_line_naming_it(tmp_path: Path, text: str,
                                              words: list[str]) -> None:
    f = tmp_path / "b.yaml"
    f.write_text(text)
    with pytest.raises(UsageError) as e:
        b = load_bug(f)
        from pyharness.run.scenario import options
        options(b.scenario, {})
    msg = str(e.value)
    assert "\n" not in msg and str(f) in msg
    for w in words:
        assert w in msg


def _bug(tmp_path: Path) -> Path:
    d = tmp_path / "bugs"
    d.mkdir(parents=True)
    (d / "b.yaml").write_text("bug:\n  id: etcd-io/etcd#1\n  checker: watch\n"
                              "  caught-on: ['3.4.23']\n  passes-on: ['3.5.16']\n"
                              "workload: watch\napi: v3\nnemesis: none\n")
    return d


def _runner(tmp_path: Path, verdicts: dict[str, Any]) -> Any:
    """Writes the results a run on each release would have: the matrix reads
    only the named checker's verdict and violations from results.json."""
    def run(opts: Opts, where: Any) -> Outcome:
        d = tmp_path / f"run-{opts.etcd_version}"
        d.mkdir()
        v = verdicts[opts.etcd_version]
        (d / "results.json").write_text(json.dumps(
            {"watch": {"valid?": v, "violations": [{"time-s": 4.5}] if v is False else []}}))
        return Outcome(1 if v is False else 0, d, "x", 10)
    return run


def test_cells_as_expected_exit_0_and_say_how_fast(tmp_path: Path) -> None:
    m = run_matrix(_bug(tmp_path), {}, _runner(tmp_path, {"3.4.23": False, "3.5.16": True}))
    assert [(c.release, c.text()) for c in m.cells] == [("3.4.23", "caught in 4 s"),
                                                        ("3.5.16", "passed")]
    assert m.exit_code() == 0


def test_a_bug_seen_where_fixed_or_missed_where_present_exits_1(tmp_path: Path) -> None:
    m = run_matrix(_bug(tmp_path), {}, _runner(tmp_path, {"3.4.23": True, "3.5.16": False}))
    assert [c.text() for c in m.cells] == ["UNEXPECTED: passed", "UNEXPECTED: caught in 4 s"]
    assert m.exit_code() == 1


def test_a_run_that_cannot_decide_exits_2(tmp_path: Path) -> None:
    m = run_matrix(_bug(tmp_path), {}, _runner(tmp_path, {"3.4.23": "unknown"}),
                   releases=["3.4.23"])
    assert [c.seen for c in m.cells] == ["unknown"] and m.exit_code() == 2
    out = Outcome(2, tmp_path, "error", 0, error="setup failed")
    assert judge(load_bug(_bug(tmp_path / "x") / "b.yaml"), "3.4.23", out, 1.0).note == \
        "setup failed"


def test_a_catch_with_no_violation_time_says_it_was_at_the_final_check(tmp_path: Path) -> None:
    """consistency judges once, after the final reads: no first violation."""
    d = tmp_path / "run"
    d.mkdir()
    (d / "results.json").write_text(json.dumps({"watch": {"valid?": False}}))
    cell = judge(load_bug(_bug(tmp_path) / "b.yaml"), "3.4.23", Outcome(1, d, "x", 10), 303.4)
    assert cell.text() == "caught at the final check (303 s run)"
    assert cell.at_end and cell.time_s == 303.4
