"""Fixtures for driving the CLI in-process with every host out of reach, and
a private network namespace for tests that run real iptables."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pyharness.control import ansible, inventory, lab
from pyharness.history import store


class Touched(AssertionError):
    """Something reached for a host, the lab or the store."""


@pytest.fixture
def untouchable(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every call that could touch a host, the lab or the store raise,
    and record which was called."""
    calls: list[str] = []

    def guard(name: str) -> Callable[..., object]:
        def touched(*args: object, **kwargs: object) -> object:
            calls.append(name)
            raise Touched(f"{name} was called: validation let the run go on")
        return touched

    monkeypatch.setattr(lab, "is_up", guard("lab.is_up"))
    monkeypatch.setattr(lab, "up", guard("lab.up"))
    monkeypatch.setattr(inventory, "load", guard("inventory.load"))
    monkeypatch.setattr(store, "new_run_dir", guard("store.new_run_dir"))
    monkeypatch.setattr(ansible.Ansible, "run", guard("Ansible.run"))
    return calls


def invoke(*args: str | Path) -> Result:
    """``pyharness ARGS`` in-process."""
    from pyharness.cli import app
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh network namespace, deleted afterwards: real iptables and tc
    in it touch nothing of the machine's."""
    name = f"pyh-test-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)
