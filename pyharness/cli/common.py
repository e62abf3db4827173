"""What every command shares: the app, its consoles, one-line errors and
the crash handler."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from pyharness.run.options import TestOptions

# Each command imports what it needs when it runs: ``--help`` and ``analyze``
# must not pay for Ansible, the workloads or matplotlib (tests/unit/test_startup.py).

# What the command is doing, for the one line a crash prints.
state: dict[str, Any] = {"debug": False, "doing": "starting"}


class _App(typer.Typer):
    """The app, with the top-level handler every command shares."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as e:  # an exception no command expected: a bug, exit 2
            _crashed(e)
            sys.exit(2)


def _crashed(e: BaseException) -> None:
    if state["debug"]:
        traceback.print_exception(e, file=sys.stderr)
    print_error(f"crashed while {state['doing']}: {type(e).__name__}: {e}"
           + ("" if state["debug"] else " (pyharness --debug ... shows the traceback)"))


@contextmanager
def doing(what: str) -> Iterator[None]:
    """Name what is being read or run, for a crash's error line."""
    before = state["doing"]
    state["doing"] = what
    yield  # on an exception the name stays, for the handler to print
    state["doing"] = before


app = _App(add_completion=False, no_args_is_help=True,
           help="Jepsen-style consistency tests of etcd under faults.")
lab_app = typer.Typer(no_args_is_help=True, help="The local lab: hosts in network namespaces.")
app.add_typer(lab_app, name="lab")

# emoji=False: ":100:" in a file:line or a file name must print as written.
console = Console(stderr=True, emoji=False, highlight=False)
out = Console(emoji=False, highlight=False)


@app.callback()
def _main(debug: Annotated[bool, typer.Option(
        "--debug", help="On a crash, show the Python traceback.")] = False) -> None:
    state["debug"] = debug


def say(label: str, style: str, message: str) -> None:
    # A Text is printed as is: no markup, no emoji codes.
    console.print(Text.assemble((label, style), " ", message), soft_wrap=True)


def print_error(message: str) -> None:
    say("error:", "red", message)


def print_warning(message: str) -> None:
    say("warning:", "yellow", message)
DEFAULTS = TestOptions()  # the test command's defaults are the options' own


def fail(message: str) -> typer.Exit:
    print_error(message)
    return typer.Exit(2)


def os_text(e: OSError, default: Path | str = "") -> str:
    """An OSError as ``file: reason``, without Python's ``[Errno N]``."""
    if e.strerror is None:
        return str(e)
    return f"{e.filename or default}: {e.strerror}"


InventoryOpt = Annotated[Path | None, typer.Option(
    "--inventory", "-i", help="Ansible inventory with an 'etcd' group. Default: the local lab.")]
