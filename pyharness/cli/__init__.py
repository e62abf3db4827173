"""The ``pyharness`` command line.

Exit codes, for every command: 0 valid (or success), 1 invalid, 2 unknown,
bad input, or a run that failed. Errors are one line on stderr naming the
option, file, line or host at fault.

A crash (any exception no command expected) is caught here too: one line
naming what was being read or run, exit 2, never 1, which means "invalid".
``pyharness --debug ...`` shows the traceback. Error text is printed as is:
no rich markup or ``:emoji:`` codes are read into file names or messages.

The console command (:func:`main`) imports only the module of the command it
runs: ``test``'s module alone builds its flags from every workload and fault,
a fifth of ``analyze``'s start-up. ``from pyharness.cli import app`` gives
the app with every command.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

# One module per command (or family); each adds its commands to the app when
# imported, and --help lists them in this order.
COMMANDS = ("runs", "analyze", "serve", "quickcheck", "cluster", "lab")
# Which module adds each command (tests/unit/test_startup.py holds it to the app).
MODULE_OF = {"test": "runs", "test-all": "runs", "bugs": "runs", "analyze": "analyze",
             "serve": "serve", "quickcheck": "quickcheck", "heal": "cluster",
             "check-cluster": "cluster", "lab": "lab"}


def load(modules: tuple[str, ...] = COMMANDS) -> Any:
    """Import these command modules (all by default); return the app."""
    from pyharness.cli.common import app

    for name in modules:
        importlib.import_module(f"{__name__}.{name}")
    return app


def modules_for(args: list[str]) -> tuple[str, ...]:
    """The command modules a command line needs: its command's alone, or all
    of them when it names none we know or asks for the top-level help
    (``--help``, a typo, ``--help analyze``: these list or suggest every
    command)."""
    for a in args:
        if a == "--help":
            break
        if not a.startswith("-"):
            return (MODULE_OF[a],) if a in MODULE_OF else COMMANDS
    return COMMANDS


def main() -> None:  # pragma: no cover - console entry point
    args = sys.argv[1:]
    sys.exit(load(modules_for(args))(args))


def __getattr__(name: str) -> Any:
    if name == "app":
        return load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "load", "main", "modules_for"]
