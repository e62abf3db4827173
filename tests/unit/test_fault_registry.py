"""A fault lives in one place: its registration.

The playbooks, the nemesis agent's routes, ``heal.yml``, the CLI's flags,
scenario keys and the README all follow the registry; these tests fail when
one of them drifts from it. The last tests add a fault the way a contributor
would, one registration that reuses an existing role, and show that every
part of the suite takes it up.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pyharness import nemesis
from pyharness.nemesis import registry
from pyharness.nemesis.registry import FaultKind, Step
from pyharness.options import Option
from tests.conftest import ROOT

PLAYBOOKS = ROOT / "playbooks"
KINDS = registry.all_kinds()
STEPS = [(k.name, verb, s) for k in KINDS for verb, s in (("start", k.start), ("stop", k.stop))]


def _tasks(path: Path) -> list[dict[str, Any]]:
    """Every task of a playbook or a task file, nested blocks included."""
    data = yaml.safe_load(path.read_text())
    plays = data if isinstance(data, list) else []
    out: list[dict[str, Any]] = []

    def walk(tasks: list[dict[str, Any]]) -> None:
        for t in tasks or []:
            out.append(t)
            for key in ("block", "rescue", "always"):
                walk(t.get(key) or [])

    for p in plays:
        if "tasks" in p or "hosts" in p:
            walk(p.get("tasks") or [])
        else:
            walk([p])
    return out


def _roles_run(path: Path) -> set[tuple[str, str]]:
    found = set()
    for t in _tasks(path):
        for key in ("ansible.builtin.import_role", "ansible.builtin.include_role"):
            if key in t:
                found.add((t[key]["name"], t[key].get("tasks_from", "main.yml")))
    return found


@pytest.mark.parametrize(("name", "verb", "step"), STEPS,
                         ids=[f"{n}-{v}" for n, v, _ in STEPS])
def test_each_step_is_a_playbook_that_runs_its_role_tasks(name: str, verb: str,
                                                          step: Step) -> None:
    playbook = PLAYBOOKS / step.playbook
    assert playbook.is_file(), f"{name}: {verb} names {step.playbook}, which does not exist"
    assert (step.role, step.tasks_from) in _roles_run(playbook)
    role_file = ROOT / "roles" / step.role / "tasks" / step.tasks_from
    assert role_file.is_file()
    names = {t.get("name") for t in _tasks(playbook) + _tasks(role_file)}
    assert step.effect_task in names
    assert step.verify_task is None or step.verify_task in names


def test_the_agent_routes_every_step_and_only_those() -> None:
    from pyharness.nemesis import agent

    routes = registry.routes()
    assert {s.playbook for _, _, s in STEPS} == set(routes)
    assert "heal.yml" not in routes and "setup.yml" not in routes
    # The agent takes its routes from the registry, not from a list of its own.
    assert not any(isinstance(v, dict) and "partition.yml" in v for v in vars(agent).values())


def test_heal_runs_what_undoes_every_fault() -> None:
    heal = _roles_run(PLAYBOOKS / "heal.yml")
    for k in KINDS:
        assert k.heal or k.instant, f"{k.name} names no heal"
        assert not (k.heal and k.instant), f"{k.name} is instant but names a heal"
        missing = set(k.heal) - heal
        assert not missing, f"heal.yml does not run {missing} for {k.name}"


def test_names_options_and_flags_come_from_the_registry() -> None:
    import typer.main

    from pyharness.cli import app
    from pyharness.run.testrun import BY_KEY

    assert nemesis.names() == ["none", *registry.names()]
    for k in KINDS:
        for n in k.names:
            assert nemesis.parse_spec(n) == [n]
    flags = {o for p in typer.main.get_command(app).commands["test"].params for o in p.opts}
    for o in registry.options():
        assert o.flag in flags and o.key in BY_KEY and o.help


def test_the_readme_lists_every_fault_and_its_options() -> None:
    readme = (ROOT / "README.md").read_text()
    nemeses = readme[readme.index("## Nemeses"):readme.index("## Checkers")]
    rows = [line for line in nemeses.splitlines() if line.startswith("| `")]
    for k in KINDS:
        assert any(f"`{k.name}`" in r.split("|")[1] for r in rows), f"README: no row for {k.name}"
        for v in k.variants:
            assert f"`{v}`" in nemeses, f"README: {v} is not listed"
        for s in (k.start, k.stop):
            assert f"playbooks/{s.playbook}" in nemeses, f"README: {s.playbook} by hand"
    options_table = readme[readme.index("### `pyharness test`"):readme.index("### Scenarios")]
    for o in registry.options():
        assert re.search(rf"`{re.escape(o.flag)}`", options_table), f"README: no {o.flag}"


def test_a_name_or_option_cannot_be_registered_twice() -> None:
    pause = registry.kind_of("pause")
    assert pause is not None
    with pytest.raises(ValueError, match="'pause' is registered already"):
        registry.register(pause)
    kill = registry.kind_of("kill")
    assert kill is not None
    twin = FaultKind("kill2", "x", kill.start, kill.stop, kill.heal, kill.make, kill.options)
    with pytest.raises(ValueError, match="--kill-start-timeout is registered already"):
        registry.register(twin)
    assert registry.kind_of("kill2") is None


def test_a_kind_cannot_shadow_a_run_option_or_have_ungrouped_variants() -> None:
    from pyharness.options import distinct
    from pyharness.run.testrun import OPTIONS

    kill = registry.kind_of("kill")
    assert kill is not None
    shadow = Option("time_limit", "--time-limit", "int", group="faults", default=1)
    with pytest.raises(ValueError, match=r"^option --time-limit \(faults\) clashes with "
                                         r"--time-limit \(run\)$"):
        distinct((*OPTIONS, shadow))
    code = ("from pyharness.nemesis import registry\n"
            "k = registry.kind_of('kill')\n"
            "registry.register(registry.FaultKind('kill3', 'x', k.start, k.stop, k.heal,\n"
            "    k.make, (registry.Option('time_limit', '--time-limit', 'int',\n"
            "             group='faults', default=1),)))\n"
            "from pyharness.cli import app\napp(['test', '--help'])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode != 0
    assert "option --time-limit (faults) clashes with one of the run's own options" in r.stderr
    split = FaultKind("kill4", "x", kill.start, kill.stop, kill.heal, kill.make,
                      variants=("kill4-fast",))
    with pytest.raises(ValueError, match="a kind with variants needs a group"):
        registry.register(split)
    assert registry.kind_of("kill3") is None and registry.kind_of("kill4-fast") is None


def test_building_a_fault_checks_its_options_for_every_caller() -> None:
    with pytest.raises(ValueError, match=r"^--loss-probability must be a probability in "
                                         r"\(0, 1\], got 3$"):
        nemesis.fault("loss", {"loss_probability": 3}, ["n1"])
    with pytest.raises(ValueError, match=r"^--kill-start-timeout must be an integer"):
        nemesis.fault("kill", {"kill_start_timeout": "soon"}, ["n1"])
    assert nemesis.fault("loss", {"loss_probability": 0.5}, ["n1"]).name == "loss"


# --- A new fault, added as a contributor would: one registration, reusing a role.

FREEZE = '''
from pyharness.nemesis import registry
from pyharness.nemesis.kinds.process import ProcessFault
from pyharness.options import Option, interval

FREEZE = registry.register(registry.FaultKind(
    name="freeze",
    summary="SIGSTOP the member (the pause role's tasks, under a new name)",
    start=registry.Step("pause.yml", "process_fault", "pause.yml", "Pause the member"),
    stop=registry.Step("resume.yml", "process_fault", "resume.yml", "Resume the member"),
    heal=(("process_fault", "resume.yml"),),
    make=lambda kind, name, opts, nodes: ProcessFault(kind, {}),
    options=(Option("freeze_depth", "--freeze-depth", "int", interval(1, 9, integer=True),
                    group="faults", default=3, help="freeze: how deep."),),
))
'''


def _with_freeze(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", FREEZE + code, *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def test_a_registered_fault_gets_a_flag_a_scenario_key_and_a_check(tmp_path: Path) -> None:
    r = _with_freeze("from pyharness.cli import app\nimport sys\napp(sys.argv[1:])",
                     "test", "--help")
    assert r.returncode == 0, r.stderr
    assert "--freeze-depth" in r.stdout and "freeze: how deep." in r.stdout
    assert "freeze" in r.stdout  # in --nemesis's list

    scenario = tmp_path / "s.yaml"
    scenario.write_text("nemesis: freeze\nfreeze-depth: 5\n")
    code = ("from pathlib import Path\nimport json, sys\n"
            "from pyharness.run import scenario\n"
            "opts, _ = scenario.options(scenario.load(Path(sys.argv[1])), {})\n"
            "print(json.dumps(opts.faults))\n")
    r = _with_freeze(code, str(scenario))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"freeze_depth": 5}

    scenario.write_text("nemesis: freeze\nfreeze-depth: 12\n")
    r = _with_freeze("from pyharness.cli import app\nimport sys\napp(sys.argv[1:])",
                     "test", "--scenario", str(scenario))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"error: {scenario}:2: freeze-depth must be an integer from 1 to 9, got 12"]


def test_a_registered_fault_runs_through_the_nemesis_and_the_agent() -> None:
    code = ("from pyharness import nemesis\n"
            "from pyharness.nemesis import registry\n"
            "f = nemesis.fault('freeze', {}, ['n1'])\n"
            "print(f.name, f.kind.start.playbook, registry.routes()['pause.yml'],\n"
            "      nemesis.parse_spec('freeze,partition'))\n")
    r = _with_freeze(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["freeze", "pause.yml", "('process_fault',", "'pause.yml')",
                                "['freeze',", "'partition']"]

