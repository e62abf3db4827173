"""Workloads by name: every module of this package that defines
``workload(opts) -> Workload`` is one, named by its ``NAME`` (default: the
module's name). Adding a workload is adding its module; nothing lists them.

A module may also declare ``APIS``, the etcd APIs it can run on (default
both, v2 and v3), with ``API_WHY``, why (for the error when another is
asked for); and ``ASYNC_APIS``, the APIs for which it has an event-loop
client."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from pyharness.workloads.base import Workload

ALL_APIS = ("v2", "v3")


def _discover() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(module, "workload", None)):
            found[str(getattr(module, "NAME", info.name))] = module
    return found


MODULES: dict[str, ModuleType] = _discover()
WORKLOADS: dict[str, Callable[[Mapping[str, Any]], Workload]] = {
    name: m.workload for name, m in MODULES.items()}


def names() -> list[str]:
    return sorted(WORKLOADS)


def apis(name: str) -> tuple[str, ...]:
    """The etcd APIs workload ``name`` runs on."""
    return tuple(getattr(MODULES.get(name), "APIS", ALL_APIS))


def api_why(name: str) -> str:
    """Why workload ``name`` needs its APIs, for an error message."""
    return str(getattr(MODULES.get(name), "API_WHY", ""))


def has_async(name: str, api: str) -> bool:
    """Whether workload ``name`` has an event-loop client for ``api``."""
    return api in getattr(MODULES.get(name), "ASYNC_APIS", ())


def async_names() -> str:
    """The workloads with event-loop clients, and their APIs, for errors."""
    return ", ".join(f"{n} --api {'/'.join(m.ASYNC_APIS)}" for n, m in sorted(MODULES.items())
                     if getattr(m, "ASYNC_APIS", ())) or "none"
