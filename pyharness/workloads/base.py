"""A workload is a plain value: a client, the ops to run while faults come
and go, the ops to run after healing, and the checkers that judge them."""

from __future__ import annotations

from dataclasses import dataclass, field

from checkers.core import Checker
from pyharness.client import Client
from pyharness.generator import Generator


@dataclass
class Workload:
    name: str
    client: Client
    generator: Generator
    final_generator: Generator | None = None
    checkers: list[Checker] = field(default_factory=list)
