"""A fault in one place: one :class:`FaultKind` registered by one file.

A fault is two :class:`Step` s, a start and a stop. Each step is a
stand-alone playbook (so it can be run by hand with ``ansible-playbook``)
that runs one role task file; the nemesis agent runs that task file directly
(:func:`routes`). A step names its *effect task*, whose per-host end is the
moment the change is in place, and its *verify task*, whose output proves it
(a line ``pyharness: verified (...)``), or says that the task's success is
the proof.

A kind also names the role tasks ``playbooks/heal.yml`` runs to undo it on
every host, its options (typed, with defaults and help: the CLI's flags and
the scenario keys come from them), and ``make``, which builds the
:class:`Fault` the nemesis runs.

To add a fault: one module in :mod:`pyharness.nemesis.kinds` that calls
:func:`register`; a role (or a reuse of one) for its task files; its two
playbooks; and its heal tasks in ``heal.yml``. ``tests/unit/test_fault_registry.py``
checks that the playbooks, the agent routes, ``heal.yml`` and the README's
fault table agree with the registry.

Cheap to import: the CLI builds ``--help`` from the registry.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pyharness.options import Option

if TYPE_CHECKING:
    import random

    from pyharness.history import Op


@dataclass
class Action:
    """One playbook run that changes hosts, and what to record about it."""

    playbook: str
    extravars: dict[str, Any]
    task: str  # the task whose per-host end is the moment of effect
    hosts: list[str]
    value: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The task that proves the effect on each host: a suite script printing
    # "pyharness: verified (...)" (default: ``task`` itself), or, with
    # ``verify_by_ok``, a module whose success is the proof.
    verify_task: str | None = None
    verify_by_ok: bool = False
    # Checked once the playbook succeeded, for an effect that only shows
    # later and elsewhere (a snapshot the healed member receives); its
    # answer goes into the completion's extra. Bounded in time.
    after: Callable[[], Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class Step:
    """One half of a fault: a playbook that runs ``role``'s ``tasks_from``."""

    playbook: str
    role: str
    tasks_from: str
    effect_task: str
    verify_task: str | None = None
    verify_by_ok: bool = False

    def action(self, extravars: Mapping[str, Any], hosts: Sequence[str], value: Any = None,
               extra: Mapping[str, Any] | None = None,
               after: Callable[[], Mapping[str, Any]] | None = None) -> Action:
        return Action(self.playbook, dict(extravars), self.effect_task, list(hosts), value,
                      dict(extra or {}), self.verify_task, self.verify_by_ok, after)


class Chooser(Protocol):
    """What a fault reads of the nemesis running it, to choose its targets."""

    nodes: list[str]
    rng: random.Random
    target_kinds: list[str]


class Fault(Protocol):
    """What the nemesis runs: the start and stop of one fault."""

    name: str

    def start(self, nem: Chooser, test: Mapping[str, Any], op: Op) -> Action: ...

    def stop(self, nem: Chooser, test: Mapping[str, Any], op: Op,
             hosts: list[str]) -> Action: ...


@dataclass(frozen=True)
class FaultKind:
    """Everything the suite knows of one fault, in one value."""

    name: str  # the nemesis op is start-NAME / stop-NAME
    summary: str  # one line, for the README's fault table
    start: Step
    stop: Step
    heal: tuple[tuple[str, str], ...]  # (role, tasks_from) that heal.yml runs
    # kind, the --nemesis name given (NAME or a variant), its options
    # (every option of every kind, defaults filled), the hosts -> the Fault.
    make: Callable[[FaultKind, str, Mapping[str, Any], Sequence[str]], Fault]
    options: tuple[Option, ...] = ()
    variants: tuple[str, ...] = ()  # more --nemesis names (partition-halves, ...)
    group: str = ""  # kinds of one group exclude each other in one --nemesis
    # An operation, not a state (compact, defrag): its stop changes nothing
    # and heal.yml has nothing to undo, so ``heal`` is empty.
    instant: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.variants)


_KINDS: dict[str, FaultKind] = {}
_loaded = False


def register(kind: FaultKind) -> FaultKind:
    """Add ``kind``; ValueError if one of its names or options is taken, or
    if it has variants but no ``group`` (two variants of one kind in one
    ``--nemesis`` would drive the same fault twice)."""
    taken = {n for k in _KINDS.values() for n in k.names}
    clash = sorted(set(kind.names) & taken)
    if clash:
        raise ValueError(f"fault {kind.name}: name {clash[0]!r} is registered already")
    if kind.variants and not kind.group:
        raise ValueError(f"fault {kind.name}: a kind with variants needs a group")
    fields = {o.field for k in _KINDS.values() for o in k.options}
    for o in kind.options:
        if o.group != "faults":
            raise ValueError(f"fault {kind.name}: option {o.flag} must have group 'faults'")
        if o.field in fields:
            raise ValueError(f"fault {kind.name}: option {o.flag} is registered already")
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove a kind (for tests that register one of their own)."""
    _KINDS.pop(name, None)


def _load() -> None:
    global _loaded
    if _loaded:
        return
    from pyharness.nemesis import kinds as package

    found = sorted(m.name for m in pkgutil.iter_modules(package.__path__))
    first = [n for n in package.FIRST if n in found]
    for name in [*first, *(n for n in found if n not in first)]:
        importlib.import_module(f"{package.__name__}.{name}")
    # Only now: a kind module that failed to import leaves the registry
    # unloaded, so the next call raises again instead of serving a partial one.
    _loaded = True


def all_kinds() -> list[FaultKind]:
    """Every registered kind, in registration order."""
    _load()
    return list(_KINDS.values())


def kind_of(name: str) -> FaultKind | None:
    """The kind a ``--nemesis`` name (NAME or a variant) belongs to."""
    return next((k for k in all_kinds() if name in k.names), None)


def names() -> tuple[str, ...]:
    """Every ``--nemesis`` name, kinds first, then their variants."""
    kinds = all_kinds()
    return (*(k.name for k in kinds), *(v for k in kinds for v in k.variants))


def options() -> tuple[Option, ...]:
    """Every kind's options."""
    return tuple(o for k in all_kinds() for o in k.options)


def option_values(given: Mapping[str, Any]) -> dict[str, Any]:
    """Every fault option's value: ``given``'s, else its default."""
    return {o.field: given.get(o.field, o.default) for o in options()}


def routes() -> dict[str, tuple[str, str]]:
    """playbook -> (role, tasks_from), for every step of every kind."""
    return {s.playbook: (s.role, s.tasks_from) for k in all_kinds() for s in (k.start, k.stop)}
