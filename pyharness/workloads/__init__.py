"""Workloads by name. Each module exposes ``workload(opts) -> Workload``, and
``ASYNC_APIS``, the APIs for which it has an event-loop client, if any."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from pyharness.workloads import append, lock, register, varstore, watch
from pyharness.workloads import set as set_workload
from pyharness.workloads.base import Workload

MODULES: dict[str, ModuleType] = {
    "append": append, "lock": lock, "register": register, "set": set_workload,
    "varstore": varstore, "watch": watch,
}
WORKLOADS: dict[str, Callable[[Mapping[str, Any]], Workload]] = {
    "append": append.workload,
    "lock": lock.workload,
    "register": register.workload,
    "set": set_workload.workload,
    "varstore": varstore.workload,
    "watch": watch.workload,
}


def names() -> list[str]:
    return sorted(WORKLOADS)


def has_async(name: str, api: str) -> bool:
    """Whether workload ``name`` has an event-loop client for ``api``."""
    return api in getattr(MODULES.get(name), "ASYNC_APIS", ())


def async_names() -> str:
    """The workloads with event-loop clients, and their APIs, for errors."""
    return ", ".join(f"{n} --api {'/'.join(m.ASYNC_APIS)}" for n, m in sorted(MODULES.items())
                     if getattr(m, "ASYNC_APIS", ())) or "none"
