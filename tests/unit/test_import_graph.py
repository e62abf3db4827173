"""Imports run one way: no cycles, and no module imports a higher layer.

The graph is read from the source (``ast``), not from a live import, so
imports inside functions count too: a cycle hidden in a function body is a
cycle all the same, only a later one. ``from pkg import sub`` is an edge to
``pkg.sub`` (as import-linter's grimp reads it), not to ``pkg/__init__``.

The layers are what is true of the code, high to low. They are not the order
the data flows in: every layer speaks :mod:`pyharness.history`'s ops, so it
is at the bottom, and a workload names its checkers, so workloads sit above
``checkers``. A module no layer claims fails the test: a new module needs a
place in :data:`LAYERS`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("pyharness", "checkers")

# High to low. Each layer is a tuple of groups (module prefixes); groups of
# one layer must not import each other (import-linter's ``a | b``).
LAYERS: list[tuple[str, ...]] = [
    ("pyharness.cli",),
    ("pyharness.run.bugs",),
    ("pyharness.run.scenario",),
    ("pyharness.run.testrun",),
    ("pyharness.run.analysis", "pyharness.report.serve", "pyharness.run.quickcheck",
     "pyharness.report.demo_store", "pyharness.run.check_cluster"),
    ("pyharness.report",),
    ("pyharness.workloads", "pyharness.nemesis", "pyharness.gen.interpreter"),
    ("checkers",),
    ("pyharness.varstore", "pyharness.history.formats", "pyharness.etcd.cluster_state"),
    ("pyharness.control.lab", "pyharness.control.inventory", "pyharness.etcd.endpoints",
     "pyharness.gen.generator", "pyharness.etcd.grpc"),
    # The KV interface's backends, above the interface they implement.
    ("pyharness.etcd.kv_v2", "pyharness.etcd.kv_v3"),
    ("pyharness.etcd.kv",),
    ("pyharness.etcd.v3_async", "pyharness.gen.client"),
    ("pyharness.control.ansible", "pyharness.etcd.v3"),
    ("pyharness.etcd.v2", "pyharness.history.store"),
    ("pyharness.etcd.triage",),
    ("pyharness.history", "pyharness.control.paths", "pyharness.gen.driver_load",
     "pyharness.run.options", "pyharness.options"),
    # The stage packages' own docstrings.
    ("pyharness.control", "pyharness.etcd", "pyharness.gen", "pyharness.run"),
]


def modules(root: Path = ROOT) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for p in sorted((root / pkg).rglob("*.py")):
            parts = list(p.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = p
    return out


def imports_of(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The first-party modules ``name`` imports, anywhere in its body."""
    known = set(known)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            subs = {f"{mod}.{a.name}" for a in node.names} & known
            found.update(subs)
            if len(subs) < len(node.names):  # some names are attributes of mod itself
                found.add(mod)
    # "import a.b.c" of a module that is not one (an attribute) counts as its package.
    resolved = set()
    for m in found:
        while m and m not in known:
            m = m.rpartition(".")[0]
        if m and m != name:
            resolved.add(m)
    return resolved


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    mods = modules(root)
    return {name: imports_of(name, path, mods) for name, path in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def packages(g: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between packages: ``pyharness.varstore.backends`` counts as
    ``pyharness.varstore``, ``checkers.set`` as ``checkers``."""
    def pkg(m: str) -> str:
        parts = m.split(".")
        return ".".join(parts[:2]) if parts[0] == "pyharness" else parts[0]
    out: dict[str, set[str]] = {}
    for m, deps in g.items():
        out.setdefault(pkg(m), set()).update(pkg(d) for d in deps if pkg(d) != pkg(m))
    return out


def place(module: str) -> tuple[int, str] | None:
    """(layer index, group) of the longest group prefix naming ``module``."""
    if module == "pyharness":  # the bare package (a docstring): below everything
        return len(LAYERS), module
    best: tuple[int, str] | None = None
    for i, layer in enumerate(LAYERS):
        for group in layer:
            if (module == group or module.startswith(group + ".")) and (
                    best is None or len(group) > len(best[1])):
                best = (i, group)
    return best


def violations(g: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, deps in sorted(g.items()):
        here = place(mod)
        assert here is not None
        for dep in sorted(deps):
            there = place(dep)
            assert there is not None
            if there[1] == here[1]:
                continue
            if there[0] < here[0]:
                bad.append(f"{mod} (layer {here[0]}) imports the higher {dep} (layer {there[0]})")
            elif there[0] == here[0]:
                bad.append(f"{mod} imports its independent sibling {dep}")
    return bad


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in modules() if place(m) is None)
    assert not unplaced, f"give these a place in LAYERS: {unplaced}"


def test_no_import_cycles() -> None:
    found = cycles(graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_import_cycles_between_packages() -> None:
    found = cycles(packages(graph()))
    assert not found, "package cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_imports_only_go_down_the_layers() -> None:
    bad = violations(graph())
    assert not bad, "\n".join(bad)


def test_checkers_never_import_the_run_or_its_outputs() -> None:
    g = graph()
    upper = ("pyharness.cli", "pyharness.run", "pyharness.report", "pyharness.workloads",
             "pyharness.nemesis")
    bad = {m: sorted(d for d in deps if d.startswith(upper))
           for m, deps in g.items() if m.startswith("checkers")}
    assert not any(bad.values()), bad


# The checks themselves must catch what they are for.

def _tree(tmp: Path, files: dict[str, str]) -> Path:
    """A source tree of both packages with ``files`` in it."""
    for rel, text in {"pyharness/__init__.py": "", "checkers/__init__.py": "", **files}.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp


def test_a_cycle_inside_a_function_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "pyharness/history.py": "def f():\n    from pyharness.run import testrun\n",
        "pyharness/run/testrun.py": "from pyharness.history import f\n",
    })
    assert cycles(graph(root)) == [["pyharness.history", "pyharness.run.testrun"]]


def test_an_upward_import_is_named(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "pyharness/cli.py": "",
        "checkers/set.py": "import pyharness.cli\n",
    })
    assert violations(graph(root)) == [
        "checkers.set (layer 7) imports the higher pyharness.cli (layer 0)"]


def test_a_cycle_between_packages_is_found(tmp_path: Path) -> None:
    # workloads -> varstore and varstore -> workloads, through different modules.
    root = _tree(tmp_path, {
        "pyharness/workloads/__init__.py": "from pyharness.workloads import kv\n",
        "pyharness/workloads/kv.py": "from pyharness.varstore import ops\n",
        "pyharness/workloads/base.py": "",
        "pyharness/varstore/__init__.py": "",
        "pyharness/varstore/ops.py": "",
        "pyharness/varstore/backends.py": "from pyharness.workloads.base import x\n",
    })
    g = graph(root)
    assert cycles(g) == []
    assert cycles(packages(g)) == [["pyharness.varstore", "pyharness.workloads"]]


@pytest.mark.parametrize(("source", "expected"), [
    ("from pyharness.nemesis import partition\n", {"pyharness.nemesis.partition"}),
    ("from pyharness.nemesis import build\n", {"pyharness.nemesis"}),
    ("from . import partition\n", {"pyharness.nemesis.partition"}),
    ("import pyharness.nemesis.partition\n", {"pyharness.nemesis.partition"}),
])
def test_imports_resolve_to_submodules(tmp_path: Path, source: str, expected: set[str]) -> None:
    root = _tree(tmp_path, {
        "pyharness/nemesis/__init__.py": "def build(): ...\n",
        "pyharness/nemesis/partition.py": "",
        "pyharness/nemesis/faults.py": source,
    })
    assert graph(root)["pyharness.nemesis.faults"] == expected
