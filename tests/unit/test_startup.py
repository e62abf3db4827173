"""Start-up stays cheap: ``--help`` and ``analyze`` import only what they use.

Every command once imported matplotlib, numpy and Ansible before parsing its
arguments (seconds on a busy machine). The test asserts which modules a
command imports, not how long it takes, so it holds on any machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Workload modules are read by ``test --help`` (they declare its workload
# flags), so they must stay light: what their clients and checkers need
# (python-etcd, urllib3, httptools, the etcd connections, the varstore, the
# search) is imported when a run uses it.
HEAVY = ("matplotlib", "numpy", "ansible_runner", "ansible", "edn_format", "hypothesis",
         "pyharness.run.testrun", "pyharness.control.lab", "etcd", "urllib3", "httptools",
         "pyharness.etcd.v2", "pyharness.etcd.v3", "pyharness.etcd.endpoints",
         "pyharness.varstore", "checkers.list_append", "checkers.varstore")

PROBE = """
import atexit, json, sys
def report():
    heavy = sorted({m.split('.')[0] if not m.startswith('pyharness') else m
                    for m in sys.modules if m.startswith(HEAVY)})
    sys.stderr.write('\\nLOADED ' + json.dumps(heavy) + '\\n')
HEAVY = tuple(json.loads(sys.argv[1]))
atexit.register(report)
from pyharness.cli import app
app(sys.argv[2:])
"""


def loaded(*args: str) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HEAVY), *args],
                       capture_output=True, text=True, timeout=120)
    line = next(x for x in r.stderr.splitlines() if x.startswith("LOADED "))
    return json.loads(line[len("LOADED "):]), r


def test_importing_the_cli_is_light() -> None:
    code = ("import json, sys; import pyharness.cli; "
            f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({HEAVY!r}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert json.loads(out) == []


@pytest.mark.parametrize("args", [["--help"], ["analyze", "--help"], ["test", "--help"]])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    heavy, r = loaded(*args)
    assert r.returncode == 0, r.stderr
    assert heavy == []


def _ops(n: int) -> list[dict]:
    out = []
    for i in range(n // 2):
        out.append({"index": 2 * i, "time": 2 * i, "process": i % 3, "type": "invoke",
                    "f": "write", "value": i})
        out.append({"index": 2 * i + 1, "time": 2 * i + 1, "process": i % 3, "type": "ok",
                    "f": "write", "value": i})
    return out


@pytest.mark.parametrize("name", ["h.jsonl", "h.edn", "etcd.log"])
def test_analyze_of_a_small_history_imports_nothing_heavy(tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    ops = _ops(10)
    if name.endswith(".jsonl"):
        p.write_text("".join(json.dumps(o) + "\n" for o in ops))
    elif name.endswith(".edn"):
        p.write_text("".join(f"{{:process {o['process']}, :type :{o['type']}, :f :write, "
                             f":value {o['value']}}}\n" for o in ops))
    else:
        p.write_text("".join(f"INFO  jepsen.util - {o['process']}\t:{o['type']}\t:write\t"
                             f"{o['value']}\n" for o in ops))
    heavy, r = loaded("analyze", str(p), "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verdict: valid" in r.stdout
    assert heavy == []


def test_every_command_is_found_in_the_module_it_is_named_under() -> None:
    # The console command imports only MODULE_OF[command]: a command missing
    # from the table, or under the wrong module, would be "No such command".
    import typer

    from pyharness import cli

    app = cli.load()
    found = {}
    for info in app.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")
        found[name] = info.callback.__module__.rsplit(".", 1)[-1]
    for group in app.registered_groups:
        sub = group.typer_instance
        assert isinstance(sub, typer.Typer)
        modules = {i.callback.__module__.rsplit(".", 1)[-1] for i in sub.registered_commands}
        assert len(modules) == 1, (group.name, modules)
        found[group.name] = modules.pop()
    assert found == cli.MODULE_OF


CONSOLE = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write(
    '\\nLOADED ' + json.dumps(sorted(m for m in sys.modules if m.startswith('pyharness.cli.')))
    + '\\n'))
sys.argv = ['pyharness', *sys.argv[1:]]
from pyharness.cli import main
main()
"""


@pytest.mark.parametrize(("args", "modules"), [
    (["analyze", "--help"], ["analyze", "common"]),
    (["--debug", "lab", "--help"], ["common", "lab"]),
    (["--help"], ["analyze", "cluster", "common", "lab", "quickcheck", "runs", "serve"]),
    (["--help", "analyze"], ["analyze", "cluster", "common", "lab", "quickcheck", "runs",
                             "serve"]),
    (["no-such-command"], ["analyze", "cluster", "common", "lab", "quickcheck", "runs",
                           "serve"]),
])
def test_the_console_command_imports_only_its_command(args: list[str],
                                                      modules: list[str]) -> None:
    r = subprocess.run([sys.executable, "-c", CONSOLE, *args], capture_output=True, text=True,
                       timeout=120)
    line = next(x for x in r.stderr.splitlines() if x.startswith("LOADED "))
    assert json.loads(line[len("LOADED "):]) == [f"pyharness.cli.{m}" for m in modules]
    if args == ["no-such-command"]:
        assert r.returncode == 2 and "No such command" in r.stderr
    else:
        assert r.returncode == 0, r.stderr
