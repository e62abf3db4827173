"""Workloads by name. A workload is one module of this package that defines
``workload(opts) -> Workload``; adding one is adding its file, and nothing
else lists them. The module declares, beside ``workload``:

- ``NAME``: its ``--workload`` name (default: the module's name);
- ``OPTIONS``: its own options (:class:`pyharness.options.Option`, group
  ``workload_options``), with types, defaults and help, from which the
  ``test`` command's flags, the scenario keys and their checks derive;
- ``APIS`` (default both, v2 and v3) with ``API_WHY``, why, for the error
  when another is asked for; ``ASYNC_APIS``, the APIs for which it has an
  event-loop client;
- ``check(opts)``, optional: rules across its options and the run's, as
  ``(field, message)`` or None;
- ``CHECKERS``, optional: names for ``analyze --checker`` with
  ``checker(name, ctx)`` building them;
- ``SUMMARIES``, optional: checker name -> one line of HTML for the report;
- ``NOTES``, optional: checker name -> the plain lines the terminal prints
  under its results when that checker found something.

The modules are imported to read these, by ``test --help`` too, so a
workload module imports its clients' and checkers' libraries inside the
functions that use them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyharness.options import Option
    from pyharness.workloads.base import Workload

ALL_APIS = ("v2", "v3")
GROUP = "workload_options"  # where TestOptions keeps a workload's own options

_modules: dict[str, ModuleType] | None = None


def _discover() -> dict[str, ModuleType]:
    global _modules
    if _modules is None:
        found: dict[str, ModuleType] = {}
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            module = importlib.import_module(f"{__name__}.{info.name}")
            if callable(getattr(module, "workload", None)):
                found[str(getattr(module, "NAME", info.name))] = module
        for name, module in found.items():
            for o in getattr(module, "OPTIONS", ()):
                if o.group != GROUP:
                    raise TypeError(f"workload {name}: option {o.field} must have "
                                    f"group={GROUP!r}")
        _modules = found
    return _modules


def __getattr__(name: str) -> Any:
    # MODULES is found on first use, after a caller (a test adding a
    # workload of its own) may have extended __path__.
    if name == "MODULES":
        return dict(_discover())
    raise AttributeError(name)


def names() -> list[str]:
    return sorted(_discover())


def make(name: str, opts: Mapping[str, Any]) -> Workload:
    """Workload ``name`` built from a run's options (``TestOptions`` fields,
    or a ``test.json``'s ``options``): its own options, from their group,
    over its defaults, over the run's."""
    m = _discover()[name]
    build: Callable[[Mapping[str, Any]], Workload] = m.workload
    return build(values(name, opts))


def values(name: str, opts: Mapping[str, Any]) -> dict[str, Any]:
    """The run's options flattened for workload ``name``: each of its own
    options from the group (a ``test.json`` from before the group had them
    at the top), else its default."""
    group = opts.get(GROUP) or {}
    if not isinstance(group, Mapping):
        raise TypeError(f"{GROUP} must be a mapping, got {type(group).__name__}")
    out = dict(opts)
    for o in options_of(name):
        out[o.field] = group.get(o.field, opts.get(o.field, o.default))
    return out


def options_of(name: str) -> tuple[Option, ...]:
    return tuple(getattr(_discover().get(name), "OPTIONS", ()))


def options() -> list[Option]:
    """Every workload's own options, in workload order."""
    out: list[Option] = []
    for name in names():
        out.extend(options_of(name))
    return out


def owner(field: str) -> str | None:
    """The workload an option of the group belongs to."""
    return next((n for n in names() if any(o.field == field for o in options_of(n))), None)


def option_values(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Workload ``name``'s options with their defaults filled in, to record."""
    return {o.field: given.get(o.field, o.default) for o in options_of(name)}


def check(name: str, opts: Any) -> tuple[str, str] | None:
    fn = getattr(_discover().get(name), "check", None)
    return fn(opts) if callable(fn) else None


def cluster_vars(name: str) -> dict[str, Any]:
    """The etcd role's variables a workload wants on the members a test sets
    up (``CLUSTER_VARS``), e.g. the watch workload's progress interval."""
    return dict(getattr(_discover().get(name), "CLUSTER_VARS", {}))


def apis(name: str) -> tuple[str, ...]:
    """The etcd APIs workload ``name`` runs on."""
    return tuple(getattr(_discover().get(name), "APIS", ALL_APIS))


def api_why(name: str) -> str:
    """Why workload ``name`` needs its APIs, for an error message."""
    return str(getattr(_discover().get(name), "API_WHY", ""))


def has_async(name: str, api: str) -> bool:
    """Whether workload ``name`` has an event-loop client for ``api``."""
    return api in getattr(_discover().get(name), "ASYNC_APIS", ())


def async_names() -> str:
    """The workloads with event-loop clients, and their APIs, for errors."""
    return ", ".join(f"{n} --api {'/'.join(m.ASYNC_APIS)}" for n, m in sorted(_discover().items())
                     if getattr(m, "ASYNC_APIS", ())) or "none"


def checker_names() -> list[str]:
    """The checkers workloads offer to ``analyze --checker``."""
    return sorted({c for m in _discover().values() for c in getattr(m, "CHECKERS", ())})


def named_checker(name: str, ctx: Any) -> Any:
    """The checker ``name`` of the workload that offers it, or None."""
    for m in _discover().values():
        if name in getattr(m, "CHECKERS", ()):
            return m.checker(name, ctx)
    return None


def summaries() -> dict[str, Callable[..., str]]:
    """Checker name -> its report summary, from the workloads that give one."""
    out: dict[str, Callable[..., str]] = {}
    for m in _discover().values():
        out.update(getattr(m, "SUMMARIES", {}))
    return out


def notes() -> dict[str, Callable[[Mapping[str, Any]], list[str]]]:
    """Checker name -> its terminal notes, from the workloads that give them."""
    out: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {}
    for m in _discover().values():
        out.update(getattr(m, "NOTES", {}))
    return out
