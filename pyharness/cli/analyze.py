"""``pyharness analyze``: check a saved history or a run directory."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from pyharness.cli.common import (
    app,
    console,
    doing,
    fail,
    os_text,
    out,
    print_error,
    print_warning,
)
from pyharness.history import HistoryError


@app.command()
def analyze(
    path: Annotated[Path, typer.Argument(
        help="A history file (JSONL, Jepsen history.edn or log, Knossos EDN, Porcupine kv) "
             "or a run directory in the store.")],
    model: Annotated[str | None, typer.Option(
        help="Linearizability model: cas-register, register or kv. "
             "Default: the one the history's format implies. For list-append (txn) "
             "histories, the consistency model (default strict-serializable).")] = None,
    checker: Annotated[list[str] | None, typer.Option(
        help="Checker to run (repeatable): linear, list-append, set, stats, "
             "unhandled-exceptions, perf, timeline, log-file-pattern. Default: list-append "
             "for a txn history file, else linear; the run's own for a run directory.")] = None,
    time_limit: Annotated[float | None, typer.Option(
        help="Seconds the linearizability search may take before answering unknown.")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Where to write plots and failure drawings. Default: beside the history.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
    junit: Annotated[Path | None, typer.Option(
        help="Also write the results as JUnit XML here, one testcase per checker.")] = None,
    edn: Annotated[Path | None, typer.Option(
        help="Also write the history as Jepsen EDN here, for Jepsen, Knossos or Elle.")] = None,
) -> None:
    """Check a saved history. Exit 0 valid, 1 invalid, 2 unknown or error.

    For a run directory, results.json and report.html are written anew."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from checkers.core import failures
    from pyharness.run.analysis import run_checkers

    if not path.exists():
        raise fail(f"{path}: no such file or directory")
    if not path.is_dir() and not path.is_file():
        # a FIFO would block forever and /dev/zero never ends
        raise fail(f"{path}: not a regular file or a run directory")
    if model is not None:
        from checkers.list_append import MODELS as TXN_MODELS
    if model is not None and model not in ("cas-register", "register", "kv", *TXN_MODELS):
        raise fail("--model must be one of cas-register, kv, register, or for list-append "
                    f"histories {', '.join(TXN_MODELS)}")
    if time_limit is not None and not (math.isfinite(time_limit) and time_limit > 0):
        raise fail(f"--time-limit must be a positive number of seconds, got {time_limit}")
    bar = Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, transient=True)
    task = bar.add_task("check", total=None)
    try:
        with bar, doing(f"checking {path}"):
            results, written = run_checkers(
                path, checker or [], model, time_limit, out_dir,
                progress=lambda done, total: bar.update(task, completed=done, total=total))
    except UnicodeDecodeError as e:
        raise fail(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    except (HistoryError, ValueError) as e:
        raise fail(str(e)) from None
    # The verdict is decided; what follows only writes it down, and a write
    # that fails is its own error line, never a change of verdict.
    write_errors = [e for e in results.get("write-errors", []) if isinstance(e, str)]

    def write(what: str, target: Path, fn: Any) -> None:
        try:
            with doing(f"writing {what} {target}"):
                fn()
        except OSError as e:
            write_errors.append(f"cannot write {what}: {os_text(e, target)}")

    if path.is_dir():
        from pyharness.history.store import write_json
        from pyharness.report.page import write_report

        write("results", written / "results.json",
              lambda: write_json(written / "results.json", results))
        write("the report", written / "report.html", lambda: write_report(written))
    if junit is not None:
        from pyharness.report.junit import write_junit
        write("--junit", junit, lambda: write_junit(results, junit, path.name))
    if edn is not None:
        from pyharness.history.formats import read_history
        from pyharness.report.export import export_edn
        write("--edn", edn, lambda: export_edn(
            read_history(path / "history.jsonl" if path.is_dir() else path).ops, edn))
    if json_out:
        print(json.dumps(results, default=str, indent=2))
    else:
        _print_analysis(results)
    for line in failures(results):
        print_error(line)
    for name, r in results.items():
        if isinstance(r, dict) and isinstance(r.get("warning"), str) and r.get("skipped"):
            print_warning(f"{name}: {r['warning']}")
    for line in write_errors:
        print_error(line)
    valid = results["valid?"]
    code = 0 if valid is True else 1 if valid is False else 2
    raise typer.Exit(2 if write_errors and code == 0 else code)


def _print_analysis(results: dict) -> None:
    from pyharness.report.progress import results_table

    out.print(results_table({k: v for k, v in results.items() if isinstance(v, dict)}))
    linear = results.get("linear")
    if isinstance(linear, dict):
        for f in linear.get("failures", []):
            key = linear["keys"][f["key"]]
            out.print(f"[red]not linearizable[/red] on key {escape(str(f['key']))}: "
                      f"{escape(str(key['op'].get('description', f)))} "
                      f"(op {key['op']['index']}, process {escape(repr(key['op']['process']))})"
                      " cannot be placed")
            if key["op"].get("explanation"):
                out.print(f"  what happened: {key['op']['explanation']}", markup=False)
            out.print("  states just before it: "
                      + escape(", ".join(key.get("previous-states", []))))
            out.print(f"  longest linearizable prefix: {len(key.get('linearized-prefix', []))} ops")
            if "file" in key:
                out.print(f"  drawing: {escape(key['file'])}")
        for k in linear.get("unknown", []):
            out.print(f"[yellow]unknown[/yellow] on key {escape(str(k))}: "
                      f"{escape(str(linear['keys'][k].get('reason')))}")
    for name, r in results.items():
        if isinstance(r, dict) and r.get("valid?") not in (True, False) and r.get("reason"):
            out.print(f"[yellow]unknown[/yellow] ({escape(name)}): {escape(str(r['reason']))}")
    if isinstance(results.get("reason"), str):
        out.print(f"[yellow]unknown[/yellow]: {escape(results['reason'])}")
    valid = results["valid?"]
    word = {True: "[green]valid[/green]", False: "[red]INVALID[/red]"}.get(
        valid, "[yellow]unknown[/yellow]")  # type: ignore[call-overload]
    out.print(f"verdict: {word}")
