"""A workload is one file: dropped into the workloads package, it gets its
``--workload`` name, its flags and their ``--help``, scenario keys with
one-line errors, its rules, its ``analyze --checker`` name and its report
summary, with no other edit. The example, a counter, lives only here: it is
written into a folder added to the package's path, never into the product.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, LocalEtcd

COUNTER = '''"""The counter workload: adds of a step to one key, then a final read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from pyharness.gen.generator import Iterate, limit, repeat
from pyharness.history import FAIL, OK, Op
from pyharness.options import Option, interval
from pyharness.workloads import GROUP
from pyharness.workloads.base import CheckerContext, KVClient, Workload

CHECKERS = ("counter",)
OPTIONS = (Option("counter_step", "--counter-step", "int", interval(1, 9, integer=True),
                  group=GROUP, default=1, help="counter: what each add adds."),)


def check(opts: Any) -> tuple[str, str] | None:
    if opts.workload_options.get("counter_step", 1) > 1 and opts.concurrency > 1:
        return "counter_step", "above 1 needs --concurrency 1"
    return None


def steps(s: Any, op: Op) -> Any:
    """One add or read over the KV interface: the same on v2 and v3."""
    from pyharness.etcd import kv
    from pyharness.etcd.triage import failed

    key = f"{s.key_prefix}/counter"
    try:
        entry = yield kv.Get(key)
    except Exception as e:
        return failed(op, s.classify(e), no_effect=True)
    now = 0 if entry is None else int(entry.value)
    if op.f == "read":
        return op.completion(OK, value=now)
    new = str(now + op.value)
    try:
        w = yield (kv.Create(key, new) if entry is None else kv.Swap(key, new, entry.revision))
    except Exception as e:
        return failed(op, s.classify(e))
    return op.completion(OK if w.succeeded else FAIL)


@dataclass
class CounterChecker:
    name: str = "counter"

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        added = sum(o.value for o in history if o.f == "add" and o.type == OK)
        reads = [o.value for o in history if o.f == "read" and o.type == OK]
        if not reads:
            return {"valid?": "unknown", "error": "never-read"}
        return {"valid?": reads[-1] == added, "added": added, "read": reads[-1]}


def workload(opts: Mapping[str, Any]) -> Workload:
    step = int(opts["counter_step"])
    return Workload(name="counter", client=KVClient(steps, opts.get("api") or "v2"),
                    generator=Iterate(lambda n: {"f": "add", "value": step}),
                    final_generator=limit(1, repeat({"f": "read"})),
                    checkers=[CounterChecker()])


def checker(name: str, ctx: CheckerContext) -> CounterChecker:
    return CounterChecker()


def _summary(r: Mapping[str, Any], run_dir: Path) -> str:
    return f"added <b>{escape(str(r['added']))}</b>, read {escape(str(r['read']))}"


SUMMARIES = {"counter": _summary}
'''


# The same file, declaring that it runs on v3 only.
COUNTER_V3 = COUNTER + 'APIS = ("v3",)\nAPI_WHY = "its client speaks v3"\n'


def _with_counter(tmp_path: Path, code: str, *args: str,
                  source: str = COUNTER) -> subprocess.CompletedProcess[str]:
    folder = tmp_path / "more_workloads"
    folder.mkdir(exist_ok=True)
    (folder / "counter.py").write_text(source)
    prelude = ("import pyharness.workloads as w\n"
               f"w.__path__.append({str(folder)!r})\n")
    return subprocess.run([sys.executable, "-c", prelude + code, *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


CLI = "from pyharness.cli import app\nimport sys\napp(sys.argv[1:])\n"


def test_a_workload_file_gets_a_name_flags_and_help(tmp_path: Path) -> None:
    r = _with_counter(tmp_path, CLI, "test", "--help")
    assert r.returncode == 0, r.stderr
    assert "--counter-step" in r.stdout and "counter: what each add adds." in r.stdout
    listed = r.stdout.split("What to run:", 1)[1].split("(README", 1)[0]
    assert "counter" in listed.replace("\n", " ").replace("│", " ").split(", ")[1]


def test_a_workload_files_options_are_checked_in_one_line(tmp_path: Path) -> None:
    def refused(*args: str, source: str = COUNTER) -> list[str]:
        r = _with_counter(tmp_path, CLI, "test", *args, "--store", str(tmp_path / "store"),
                          source=source)
        assert r.returncode == 2, r.stdout + r.stderr
        return r.stderr.strip().splitlines()

    assert refused("--workload", "counter", "--api", "v3", "--counter-step", "12") == [
        "error: --counter-step must be an integer from 1 to 9, got 12"]
    assert refused("--workload", "set", "--counter-step", "2", "--concurrency", "1") == [
        "error: --counter-step needs --workload counter"]
    assert refused("--workload", "counter", "--api", "v2", source=COUNTER_V3) == [
        "error: --workload counter needs --api v3 (its client speaks v3)"]
    assert refused("--workload", "counter", "--api", "v3", "--counter-step", "2",
                   "--concurrency", "3") == [
        "error: --counter-step above 1 needs --concurrency 1"]
    scenario = tmp_path / "s.yaml"
    scenario.write_text("workload: counter\ncounter-step: 0\n")
    assert refused("--scenario", str(scenario)) == [
        f"error: {scenario}:2: counter-step must be an integer from 1 to 9, got 0"]
    assert not (tmp_path / "store").exists()


def test_a_workload_files_options_reach_its_workload_and_test_json(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("workload: counter\napi: v3\nconcurrency: 1\ncounter-step: 3\n")
    code = ("from pathlib import Path\nimport json, sys\n"
            "from pyharness import workloads\n"
            "from pyharness.run import scenario\n"
            "opts, _ = scenario.options(scenario.load(Path(sys.argv[1])), {})\n"
            "opts.workload_options = workloads.option_values('counter', opts.workload_options)\n"
            "wl = workloads.make('counter', vars(opts))\n"
            "print(json.dumps([opts.to_json()['workload_options'], wl.generator.make(0)['value'],\n"
            "                  workloads.checker_names()]))\n")
    r = _with_counter(tmp_path, code, str(scenario))
    assert r.returncode == 0, r.stderr
    recorded, step, checkers = json.loads(r.stdout)
    assert recorded == {"counter_step": 3} and step == 3
    assert "counter" in checkers and "set" in checkers


@pytest.mark.parametrize("api", ["v2", "v3"])
def test_a_workload_file_runs_against_etcd_and_is_judged_and_summarised(
        tmp_path: Path, local_etcd: LocalEtcd, api: str) -> None:
    """The example's client, generator and checker run through the
    interpreter against a real etcd, on either API, from one steps function
    over the KV interface; analyze's --checker and the report's summary find
    the workload's own."""
    code = f'''
import json, random
from pathlib import Path
from pyharness import workloads
from pyharness.gen import generator as g, interpreter
from pyharness.history import HistoryWriter
from pyharness.history import read_jsonl
from pyharness.report.page import checker_summary
from pyharness.run.analysis import named_checker

out = Path({str(tmp_path)!r})
test = {{"nodes": {{"n1": {{"address": {local_etcd.address!r},
                             "client_port": {local_etcd.port}}}}},
        "op_timeout": 5.0, "key_prefix": "/counter-{random.randrange(10**9)}", "options": {{}}}}
wl = workloads.make("counter", {{"api": {api!r}, "workload_options": {{"counter_step": 4}}}})
w = HistoryWriter(out / "history.jsonl")
gen = g.phases(g.clients(g.limit(20, wl.generator)), g.clients(wl.final_generator))
interpreter.run(test, gen, wl.client, None, ["n1"], 1, w, rng=random.Random(1))
w.close()
history = read_jsonl(out / "history.jsonl")
result = wl.checkers[0].check(test, history)
by_name = named_checker("counter", out, None, "", {{}}, None).check(test, history)
print(json.dumps([result, by_name, checker_summary("counter", result, out)]))
'''
    r = _with_counter(tmp_path, code)
    assert r.returncode == 0, r.stderr
    result, by_name, summary = json.loads(r.stdout)
    assert result == {"valid?": True, "added": 80, "read": 80}
    assert by_name == result
    assert summary == "added <b>80</b>, read 80"
