"""Every option of ``pyharness test`` is checked before anything is touched.

Each bad value must exit 2 with one line naming the option, the value and
what is allowed, before the inventory is read, the lab is looked at or
brought up, a playbook runs or a run directory is made (the
``untouchable`` fixture makes each of those raise).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from pyharness.nemesis import registry
from pyharness.run import testrun
from pyharness.run.testrun import (
    BY_FIELD,
    OPTIONS,
    UsageError,
    check_grudge_hosts,
    lab_host_names,
    validate,
)
from tests.unit.conftest import invoke

# (arguments, words the one-line error must hold). One bad value per option.
BAD: list[tuple[list[str], list[str]]] = [
    (["--workload", "queue"], ["--workload", "'queue'", "register, set, varstore"]),
    (["--nemesis", "flood"], ["--nemesis", "'flood'", "partition"]),
    (["--nemesis", "kill,kill"], ["--nemesis", "'kill' twice"]),
    (["--nemesis-targets", "garbage"], ["--nemesis-targets", "garbage", "minority"]),
    (["--loss-probability", "2"], ["--loss-probability", "got 2", "(0, 1]"]),
    (["--loss-probability", "0"], ["--loss-probability", "got 0", "(0, 1]"]),
    (["--slow-rate", "garbage"], ["--slow-rate", "'garbage'", "kbit"]),
    (["--slow-rate", "0mbit"], ["--slow-rate", "'0mbit'", "above 0"]),
    (["--netem-delay", "100"], ["--netem-delay", "'100'", "ms"]),
    (["--netem-jitter", "soon"], ["--netem-jitter", "'soon'", "ms"]),
    (["--netem-loss", "200"], ["--netem-loss", "got 200", "[0, 100]"]),
    (["--netem-duplicate", "-1"], ["--netem-duplicate", "got -1", "[0, 100]"]),
    (["--netem-reorder", "nan"], ["--netem-reorder", "got nan", "[0, 100]"]),
    (["--kill-start-timeout", "-1"], ["--kill-start-timeout", "got -1", "from 1 to 3600"]),
    (["--time-limit", "inf"], ["--time-limit", "got inf", "(0, 86400]"]),
    (["--time-limit", "nan"], ["--time-limit", "got nan", "(0, 86400]"]),
    (["--time-limit", "0"], ["--time-limit", "got 0", "(0, 86400]"]),
    (["--concurrency", "0"], ["--concurrency", "got 0", "from 1 to 1000"]),
    (["--rate", "inf"], ["--rate", "got inf", "(0, 100000]"]),
    (["--rate", "nan"], ["--rate", "got nan"]),
    (["--db", "borrowed"], ["--db", "'borrowed'", "managed, existing"]),
    (["--seed", "-1"], ["--seed", "got -1", "from 0 to 2**63-1"]),
    (["--op-timeout", "0"], ["--op-timeout", "got 0", "(0, 600]"]),
    (["--recovery-time", "-1"], ["--recovery-time", "got -1", "[0, 3600]"]),
    (["--nemesis-interval", "0"], ["--nemesis-interval", "got 0", "(0, 3600]"]),
    (["--nodes", "0"], ["--nodes", "got 0", "from 1 to 250"]),
    (["--nodes", "-1"], ["--nodes", "got -1", "from 1 to 250"]),
    (["--nodes", "100000"], ["--nodes", "got 100000", "from 1 to 250"]),
    (["--store-bug", "typo"], ["--store-bug", "'typo'", "bind-without-cas"]),
    (["--api", "v4"], ["--api", "'v4'", "v2, v3"]),
    (["--ops-per-key", "0"], ["--ops-per-key", "got 0", "from 1 to 1000000"]),
    (["--mix", "1:1"], ["--mix", "'1:1'", "READ:WRITE:CAS"]),
    (["--mix", "0:0:0"], ["--mix", "'0:0:0'", "not all 0"]),
    (["--engine", "fibers"], ["--engine", "'fibers'", "auto, async, threads"]),
    # Options that only make sense together.
    (["--nemesis", "partition-grudge"], ["--nemesis", "--grudge-file"]),
    (["--serializable"], ["--serializable", "--api v3"]),
    (["--no-quorum", "--api", "v3"], ["--no-quorum", "--api v2"]),
    (["--store-bug", "rebind-allowed"], ["--store-bug", "--workload varstore"]),
    (["--engine", "async", "--workload", "set"], ["--engine", "--workload set", "register"]),
    (["--snapshot-catchup-entries", "0"], ["--snapshot-catchup-entries", "got 0"]),
    (["--snapshot-catchup-entries", "100", "--etcd-version", "3.5.1"],
     ["--snapshot-catchup-entries", "3.5.14", "--etcd-version 3.5.1"]),
    (["--disk-write-iops", "0"], ["--disk-write-iops", "got 0", "from 1 to 10000000"]),
    (["--compaction-batch-limit", "-5"], ["--compaction-batch-limit", "got -5"]),
    (["--compact-wait", "later"], ["--compact-wait", "'later'", "physical, applied"]),
]

Opts = testrun.TestOptions  # not a name pytest collects
IDS = [" ".join(args) for args, _ in BAD]


def _one_line_naming(stderr: str, words: list[str]) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.mark.parametrize(("args", "words"), BAD, ids=IDS)
def test_bad_value_with_an_inventory_exits_2_first(untouchable: list[str], tmp_path: Path,
                                                   args: list[str], words: list[str]) -> None:
    r = invoke("test", *args, "-i", tmp_path / "no-such-inventory.yml",
               "--store", tmp_path / "store")
    assert r.exit_code == 2, r.output
    _one_line_naming(r.stderr, words)
    assert untouchable == []
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(("args", "words"), BAD, ids=IDS)
def test_bad_value_without_inventory_never_reaches_the_lab(
        untouchable: list[str], tmp_path: Path, args: list[str], words: list[str]) -> None:
    r = invoke("test", *args, "--store", tmp_path / "store")
    assert r.exit_code == 2, r.output
    _one_line_naming(r.stderr, words)
    assert untouchable == []  # lab.is_up and lab.up included
    assert not (tmp_path / "store").exists()


def _grudge(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "grudge.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(("text", "words"), [
    ("n1: [n2\nn2: [n1]\n", ["not JSON or YAML at line"]),
    ("- n1\n- n2\n", ["must map each host to a list of peers"]),
    ("n1: n2\n", ["the peers of n1 must be a list"]),
    ("", ["must map each host"]),
])
def test_malformed_grudge_exits_2_even_when_its_fault_is_not_chosen(
        untouchable: list[str], tmp_path: Path, text: str, words: list[str]) -> None:
    g = _grudge(tmp_path, text)
    for nemesis in ("partition-grudge", "kill"):
        r = invoke("test", "--nemesis", nemesis, "--grudge-file", g, "--store",
                   tmp_path / "store")
        assert r.exit_code == 2, r.output
        _one_line_naming(r.stderr, ["--grudge-file", str(g), *words])
    assert untouchable == []
    assert not (tmp_path / "store").exists()


def test_grudge_file_that_is_a_directory_says_so(untouchable: list[str], tmp_path: Path) -> None:
    r = invoke("test", "--grudge-file", tmp_path, "--store", tmp_path / "store")
    assert r.exit_code == 2
    _one_line_naming(r.stderr, ["--grudge-file", "is a directory"])
    r = invoke("test", "--grudge-file", tmp_path / "absent.yaml")
    _one_line_naming(r.stderr, ["--grudge-file", "no such file"])


def test_grudge_naming_hosts_the_lab_will_not_have_stops_before_the_lab_is_made(
        monkeypatch: pytest.MonkeyPatch, untouchable: list[str], tmp_path: Path) -> None:
    from pyharness.control import lab
    monkeypatch.setattr(lab, "is_up", lambda: False)  # the lab would have to be brought up
    g = _grudge(tmp_path, "n1: [n4]\nn4: [n1]\n")
    r = invoke("test", "--nemesis", "partition-grudge", "--grudge-file", g, "--nodes", "3",
               "--store", tmp_path / "store")
    assert r.exit_code == 2, r.output
    _one_line_naming(r.stderr, ["--grudge-file", "'n4'", "n1, n2, n3"])
    assert "lab.up" not in untouchable


def test_grudge_hosts_are_checked_against_the_inventory(tmp_path: Path) -> None:
    g = _grudge(tmp_path, "n1: [n2]\n")
    opts = Opts(nemesis="partition-grudge", faults={"grudge_file": g})
    check_grudge_hosts(opts, ["n1", "n2"])
    with pytest.raises(UsageError, match="'n2' of n1 is not in the inventory"):
        check_grudge_hosts(opts, ["n1", "n3"])
    assert lab_host_names(3) == ["n1", "n2", "n3"]


def test_defaults_and_good_values_pass() -> None:
    validate(Opts())
    validate(Opts(nemesis="loss,slow,netem,pause", nemesis_targets="one,leader",
                  faults={"slow_rate": "500KBit", "netem_delay": "0ms", "netem_jitter": "1.5s",
                          "netem_loss": 0, "netem_reorder": 100.0, "loss_probability": 1},
                  recovery_time=0, seed=0, api="v3", serializable=True))


@pytest.mark.parametrize("rate", ["1mbit", "10kbit", "1.5gbit", "100bps", "2kibit", "3MiBps"])
def test_tc_rates(rate: str) -> None:
    validate(Opts(faults={"slow_rate": rate}))


def test_every_option_has_a_spec_and_a_flag_on_the_command() -> None:
    from pyharness import workloads

    own = {f.name for f in dataclasses.fields(Opts)} - {"faults", "workload_options"}
    assert own == {o.field for o in OPTIONS if o.group is None}
    declared = {o.field for o in [*registry.options(), *workloads.options()]}
    assert declared == {o.field for o in OPTIONS if o.group}
    assert {o.field for o in OPTIONS if o.group == "workload_options"} == {
        o.field for o in workloads.options()}
    assert set(BY_FIELD) == own | declared
    import typer.main

    from pyharness.cli import app
    flags = {o for p in typer.main.get_command(app).commands["test"].params for o in p.opts}
    assert {o.flag for o in OPTIONS} <= flags


def test_type_errors_in_a_value_name_the_option() -> None:
    with pytest.raises(UsageError, match=r"^--time-limit must be a number, got 'soon'$"):
        validate(Opts(time_limit="soon"))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"^--concurrency must be an integer, got 2.5$"):
        validate(Opts(concurrency=2.5))  # type: ignore[arg-type]


def test_the_installed_command_exits_2_without_a_run_directory(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "pyharness"
    r = subprocess.run([str(exe), "test", "--loss-probability", "2", "-i",
                        str(tmp_path / "none.yml"), "--store", str(tmp_path / "store")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    _one_line_naming(r.stderr, ["--loss-probability", "got 2", "(0, 1]"])
    assert not (tmp_path / "store").exists()


def test_a_concurrency_beyond_the_file_limit_is_refused_before_the_run(tmp_path: Path) -> None:
    """The soft limit is raised as far as the hard one allows; past that, one
    line names --concurrency and the limit, and nothing is made."""
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (300, 600))\n"
        "from pyharness.run import testrun\n"
        "testrun.ensure_file_limit(100)\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
        "try:\n"
        "    testrun.ensure_file_limit(1000)\n"
        "except testrun.UsageError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True).stdout.splitlines()
    assert out[0] == "456"  # 2 x 100 workers + 256, within the hard limit of 600
    assert out[1].startswith("--concurrency 1000 needs about 2256 open files")
    assert "hard limit 600" in out[1]


def test_the_workload_help_names_every_workload() -> None:
    import typer.main

    from pyharness import workloads
    from pyharness.cli import app

    param = next(p for p in typer.main.get_command(app).commands["test"].params
                 if p.name == "workload")
    listed = param.help.split(":", 1)[1].split("(")[0]  # type: ignore[union-attr]
    assert sorted(w.strip() for w in listed.split(",")) == workloads.names()


@pytest.mark.parametrize(("workload", "why"), [
    ("append", "etcd's v3 transactions"), ("lock", "etcd's v3 leases and transactions"),
    ("watch", "etcd's v3 watch and compaction")])
def test_a_workload_on_an_api_it_cannot_use_is_refused(workload: str, why: str) -> None:
    with pytest.raises(UsageError, match=rf"^--workload {workload} needs --api v3 \({why}\)$"):
        validate(Opts(workload=workload, api="v2"))
    validate(Opts(workload=workload, api="v3"))


def test_workloads_are_the_modules_that_define_one() -> None:
    from pyharness import workloads

    assert workloads.names() == ["append", "lock", "register", "set", "varstore", "watch"]
    assert "base" not in workloads.MODULES and "v3_clients" not in workloads.MODULES
    assert workloads.apis("register") == ("v2", "v3") and workloads.apis("lock") == ("v3",)
