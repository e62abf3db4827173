"""A workload is a plain value: a client, the ops to run while faults come
and go, the ops to run after healing, and the checkers that judge them.

``async_client``, where a workload has one, does what ``client`` does as a
coroutine, for the event-loop engine (``--engine``): the same ops and the
same history, at more ops in flight per CPU."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checkers.core import Checker
    from pyharness.gen.client import AsyncClient, Client
    from pyharness.gen.generator import Generator


@dataclass
class Workload:
    name: str
    client: Client
    generator: Generator
    final_generator: Generator | None = None
    checkers: list[Checker] = field(default_factory=list)
    async_client: AsyncClient | None = None


@dataclass(frozen=True)
class CheckerContext:
    """What ``analyze --checker NAME`` knows when it builds a workload's
    checker: where to write, the model asked for, the history's own hint and
    options (as its format gives them) and the time budget."""

    out_dir: Path | None
    model: str | None = None
    hint: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    time_limit: float | None = None
