"""The ``pyharness`` command line.

Exit codes, for every command: 0 valid (or success), 1 invalid, 2 unknown,
bad input, or a run that failed. Errors are one line on stderr naming the
option, file, line or host at fault.

A crash (any exception no command expected) is caught here too: one line
naming what was being read or run, exit 2, never 1, which means "invalid".
``pyharness --debug ...`` shows the traceback. Error text is printed as is:
no rich markup or ``:emoji:`` codes are read into file names or messages.
"""

from __future__ import annotations

import importlib
import sys

from pyharness.cli.common import app

# One module per command (or family); each adds its commands to the app when
# imported, and --help lists them in this order.
COMMANDS = ("runs", "analyze", "serve", "quickcheck", "cluster", "lab")
for _name in COMMANDS:
    importlib.import_module(f"{__name__}.{_name}")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())


__all__ = ["app", "main"]
