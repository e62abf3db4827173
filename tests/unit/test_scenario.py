"""Scenario files (load, validate, merge with the command line) and test-all's
aggregation: which rows, which exit code. The per-scenario run is injected:
these test the bookkeeping around runs, not a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyharness.run import scenario, testrun
from pyharness.run.testrun import EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID, Outcome, UsageError
from tests.conftest import ROOT
from tests.unit.conftest import invoke


def _file(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_a_scenario_sets_options_and_the_command_line_overrides_it(tmp_path: Path) -> None:
    (tmp_path / "g.yaml").write_text("n1: [n2]\nn2: [n1]\n")
    sc = scenario.load(_file(tmp_path, "workload: register\nnemesis: [kill, partition]\n"
                                       "time-limit: 12\nno-nemesis-agent: true\n"
                                       "grudge-file: g.yaml\nseed: 7\n"))
    opts, where = scenario.options(sc, {"time_limit": 3.0})
    assert (opts.workload, opts.nemesis, opts.time_limit, opts.seed) == (
        "register", "kill,partition", 3.0, 7)
    assert opts.nemesis_agent is False
    assert opts.faults["grudge_file"] == tmp_path / "g.yaml"  # relative to the file
    assert where["workload"] == f"{sc.path}:1: workload"
    assert "time_limit" not in where  # the command line's value: named by its flag
    assert opts.concurrency == testrun.TestOptions().concurrency


@pytest.mark.parametrize(("text", "words"), [
    ("time_limit: 5\n", [":1:", "unknown key 'time_limit'", "time-limit"]),
    ("workload: set\nbogus: 1\n", [":2:", "unknown key 'bogus'"]),
    ("netem-dely: 5ms\n", [":1:", "unknown key 'netem-dely' (did you mean netem-delay?)"]),
    ("time-limit: soon\n", [":1: time-limit must be a number, got 'soon'"]),
    ("nodes: 0\n", [":1: nodes must be an integer from 1 to 250, got 0"]),
    ("nemesis: [kill, flood]\n", [":1: nemesis must be none or", "'flood'"]),
    ("nemesis-targets: sideways\n", [":1: nemesis-targets must be", "sideways"]),
    ("serializable: yes please\n", [":1: serializable must be true or false"]),
    ("rate: 5\nrate: 6\n", [":2: rate is given twice"]),
    ("- workload\n", [":1: a scenario must map option names"]),
    ("workload: [set\n", ["not YAML"]),
    ("nemesis: partition-grudge\n", [":1: nemesis partition-grudge needs --grudge-file"]),
    ("grudge-file: nowhere.yaml\n", [":1: grudge-file", "no such file"]),
])
def test_a_bad_scenario_is_one_line_naming_file_line_and_key(
        tmp_path: Path, text: str, words: list[str]) -> None:
    p = _file(tmp_path, text)
    with pytest.raises(UsageError) as e:
        scenario.options(scenario.load(p), {})
    message = str(e.value)
    assert "\n" not in message and message.startswith(str(p))
    for w in words:
        assert w in message, (w, message)


def test_test_with_a_bad_scenario_exits_2_before_any_host(
        untouchable: list[str], tmp_path: Path) -> None:
    p = _file(tmp_path, "workload: set\nnemesis: flood\n")
    r = invoke("test", "--scenario", p, "--store", tmp_path / "store")
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().startswith(f"error: {p}:2: nemesis")
    # An explicit option wins over the file's, and is checked as itself.
    r = invoke("test", "--scenario", p, "--nemesis", "none", "--nodes", "0")
    assert r.exit_code == 2 and "--nodes must be" in r.stderr
    assert untouchable == [] and not (tmp_path / "store").exists()


def test_shipped_scenarios_are_valid_on_the_default_lab() -> None:
    files = scenario.files_in(ROOT / "scenarios")
    assert len(files) >= 3
    for p in files:
        opts, _ = scenario.options(scenario.load(p), {})
        assert opts.time_limit <= 20, p
        testrun.check_grudge_hosts(opts, testrun.lab_host_names(opts.lab_nodes))


def _outcome(code: int, tmp_path: Path) -> Outcome:
    return Outcome(code, tmp_path / f"run{code}", testrun.VERDICTS[code], 10 + code)


def test_run_all_runs_past_failures_and_bad_files(tmp_path: Path) -> None:
    files = [_file(tmp_path, "workload: set\n", "a.yaml"),
             _file(tmp_path, "workload: nope\n", "b.yaml"),
             _file(tmp_path, "workload: register\n", "c.yaml"),
             _file(tmp_path, "workload: varstore\n", "d.yaml")]
    ran: list[str] = []
    errors: list[str] = []

    def runner(opts: testrun.TestOptions, where: dict[str, str]) -> Outcome:
        ran.append(opts.workload)
        if opts.workload == "register":
            raise RuntimeError("setup.yml failed on n2")
        return _outcome(EXIT_INVALID if opts.workload == "varstore" else EXIT_VALID, tmp_path)

    rows = scenario.run_all(files, {"time_limit": 1.0}, runner, errors.append)
    assert ran == ["set", "register", "varstore"]  # b is refused before anything runs
    assert [(r.scenario, r.verdict) for r in rows] == [
        ("a", "valid"), ("b", "error"), ("c", "error"), ("d", "invalid")]
    assert rows[0].ops == 10 and rows[0].run_dir == tmp_path / "run0"
    assert rows[2].error == "setup.yml failed on n2"
    assert len(errors) == 2 and "b.yaml:1: workload" in errors[0]
    assert scenario.exit_code(rows) == EXIT_INVALID


def test_an_interrupted_scenario_ends_the_series(tmp_path: Path) -> None:
    files = [_file(tmp_path, "seed: 1\n", "a.yaml"), _file(tmp_path, "seed: 2\n", "b.yaml")]

    def runner(opts: testrun.TestOptions, where: dict[str, str]) -> Outcome:
        out = _outcome(EXIT_UNKNOWN, tmp_path)
        out.verdict, out.interrupted = "error", True
        return out

    rows = scenario.run_all(files, {}, runner)
    assert [r.verdict for r in rows] == ["error", "not run"]


@pytest.mark.parametrize(("codes", "expected"), [
    ([0, 0], 0),
    ([0, 2], 2),
    ([0, 1], 1),
    ([2, 1, 0], 1),  # a definite bug is the headline, even beside an unknown
    ([], 2),
])
def test_exit_code_is_the_worst_verdict(codes: list[int], expected: int) -> None:
    rows = [scenario.Row(f"s{i}", testrun.VERDICTS[c], c) for i, c in enumerate(codes)]
    assert scenario.exit_code(rows) == expected


def test_test_all_prints_one_table(monkeypatch: pytest.MonkeyPatch, untouchable: list[str],
                                   tmp_path: Path) -> None:
    import pyharness.cli.runs as cli
    _file(tmp_path, "workload: set\n", "one.yaml")
    _file(tmp_path, "workload: register\n", "two.yml")
    _file(tmp_path, "not a scenario\n", "notes.txt")
    seen: list[tuple[str, float]] = []

    def fake(opts: testrun.TestOptions, console: object, where: dict[str, str]) -> Outcome:
        seen.append((opts.workload, opts.time_limit))
        return _outcome(EXIT_UNKNOWN if opts.workload == "register" else EXIT_VALID, tmp_path)

    monkeypatch.setattr(cli, "execute_test", fake)
    r = invoke("test-all", tmp_path, "--time-limit", "2")
    assert r.exit_code == 2, r.output
    assert seen == [("set", 2.0), ("register", 2.0)]
    for word in ("scenario", "verdict", "ops", "duration", "run directory", "one", "two",
                 "valid", "unknown"):
        assert word in r.stdout, (word, r.stdout)
    r = invoke("test-all", tmp_path, "--nodes", "0")
    assert r.exit_code == 2 and "--nodes must be" in r.stderr and len(seen) == 2
    r = invoke("test-all", tmp_path / "absent")
    assert r.exit_code == 2 and "no such directory" in r.stderr
    assert untouchable == []
