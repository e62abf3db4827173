"""Workloads by name. Each module exposes ``workload(opts) -> Workload``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pyharness.workloads import append, lock, register, varstore
from pyharness.workloads import set as set_workload
from pyharness.workloads.base import Workload

WORKLOADS: dict[str, Callable[[Mapping[str, Any]], Workload]] = {
    "append": append.workload,
    "lock": lock.workload,
    "register": register.workload,
    "set": set_workload.workload,
    "varstore": varstore.workload,
}


def names() -> list[str]:
    return sorted(WORKLOADS)
