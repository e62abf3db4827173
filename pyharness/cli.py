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

import errno
import json
import math
import socket
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pyharness.control import paths
from pyharness.history import HistoryError
from pyharness.run.options import TestOptions

# Each command imports what it needs when it runs: ``--help`` and ``analyze``
# must not pay for Ansible, the workloads or matplotlib (tests/unit/test_startup.py).

# What the command is doing, for the one line a crash prints.
_state: dict[str, Any] = {"debug": False, "doing": "starting"}


class _App(typer.Typer):
    """The app, with the top-level handler every command shares."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as e:  # an exception no command expected: a bug, exit 2
            _crashed(e)
            sys.exit(2)


def _crashed(e: BaseException) -> None:
    if _state["debug"]:
        traceback.print_exception(e, file=sys.stderr)
    _error(f"crashed while {_state['doing']}: {type(e).__name__}: {e}"
           + ("" if _state["debug"] else " (pyharness --debug ... shows the traceback)"))


@contextmanager
def _doing(what: str) -> Iterator[None]:
    """Name what is being read or run, for a crash's error line."""
    before = _state["doing"]
    _state["doing"] = what
    yield  # on an exception the name stays, for the handler to print
    _state["doing"] = before


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
    _state["debug"] = debug


def _say(label: str, style: str, message: str) -> None:
    # A Text is printed as is: no markup, no emoji codes.
    console.print(Text.assemble((label, style), " ", message), soft_wrap=True)


def _error(message: str) -> None:
    _say("error:", "red", message)


def _warn(message: str) -> None:
    _say("warning:", "yellow", message)
_D = TestOptions()  # the test command's defaults are the options' own


def execute_test(opts: TestOptions, console: Console, where: Any) -> Any:
    from pyharness.run.testrun import execute
    return execute(opts, console, where)


def _fail(message: str) -> typer.Exit:
    _error(message)
    return typer.Exit(2)


def _os_text(e: OSError, default: Path | str = "") -> str:
    """An OSError as ``file: reason``, without Python's ``[Errno N]``."""
    if e.strerror is None:
        return str(e)
    return f"{e.filename or default}: {e.strerror}"


InventoryOpt = Annotated[Path | None, typer.Option(
    "--inventory", "-i", help="Ansible inventory with an 'etcd' group. Default: the local lab.")]


@app.command()
def test(
    ctx: typer.Context,
    scenario: Annotated[Path | None, typer.Option(
        help="A YAML file of options (see README, Scenarios); options given here override "
             "it.")] = None,
    workload: Annotated[str, typer.Option(
        help="What to run: register, set, varstore.")] = _D.workload,
    nemesis: Annotated[str, typer.Option(
        help="Faults: none, or a comma-separated list of partition, kill, pause, loss, slow, "
             "netem, or a partition of a fixed shape: partition-halves, "
             "partition-random-halves, partition-isolate-one, partition-isolate-leader, "
             "partition-majorities-ring, partition-bridge, partition-grudge."
    )] = _D.nemesis,
    nemesis_targets: Annotated[str | None, typer.Option(
        help="Which hosts faults hit, chosen per op: one, minority, majority, all, leader "
             "(comma-separated for a random choice among them).")] = None,
    grudge_file: Annotated[Path | None, typer.Option(
        help="partition-grudge: JSON or YAML mapping host -> peers it drops.")] = None,
    loss_probability: Annotated[float, typer.Option(
        help="loss: probability that a packet is dropped.")] = _D.loss_probability,
    slow_rate: Annotated[str, typer.Option(
        help="slow: tbf rate limit, e.g. 1mbit.")] = _D.slow_rate,
    netem_delay: Annotated[str, typer.Option(help="netem: delay.")] = _D.netem_delay,
    netem_jitter: Annotated[str, typer.Option(help="netem: jitter.")] = _D.netem_jitter,
    netem_loss: Annotated[float | None, typer.Option(help="netem: loss, percent.")] = None,
    netem_duplicate: Annotated[float | None, typer.Option(
        help="netem: duplicate, percent.")] = None,
    netem_reorder: Annotated[float | None, typer.Option(help="netem: reorder, percent.")] = None,
    kill_start_timeout: Annotated[int, typer.Option(
        help="kill: seconds a restarted member has to listen on its client port.")
    ] = _D.kill_start_timeout,
    no_nemesis_agent: Annotated[bool, typer.Option(
        "--no-nemesis-agent", help="Run each fault as a plain playbook instead of through a "
                                   "pre-started Ansible run (slower to take effect).")] = False,
    connect_backoff: Annotated[float, typer.Option(
        help="Longest wait, in seconds, before a worker whose member refused the connection "
             "tries again (jittered, doubling from 50 ms); 0 retries at once.")
    ] = _D.connect_backoff,
    engine: Annotated[str, typer.Option(
        help="How clients run: async (coroutines on one event loop, for high load), threads "
             "(a thread per worker), or auto: async where the workload has such a client.")
    ] = _D.engine,
    time_limit: Annotated[float, typer.Option(
        help="Seconds of load under faults.")] = _D.time_limit,
    concurrency: Annotated[int, typer.Option(help="Client workers (threads).")] = _D.concurrency,
    rate: Annotated[float, typer.Option(help="Target ops per second, all workers.")] = _D.rate,
    inventory: InventoryOpt = None,
    db: Annotated[str, typer.Option(
        help="managed: install, start and wipe etcd on the inventory's hosts. existing: "
             "validate a running cluster: no install, no wipe, only the faults asked for."
    )] = _D.db,
    leave_db_running: Annotated[bool, typer.Option(
        "--leave-db-running", help="Keep etcd running after the test (no teardown).")] = False,
    seed: Annotated[int | None, typer.Option(help="Seed for op and fault choices.")] = None,
    store: Annotated[Path, typer.Option(help="Where runs are stored.")] = _D.store,
    op_timeout: Annotated[float, typer.Option(
        help="Client request timeout, seconds.")] = _D.op_timeout,
    recovery_time: Annotated[float, typer.Option(
        help="Seconds to wait after healing before the final reads.")] = _D.recovery_time,
    nemesis_interval: Annotated[float, typer.Option(
        help="Seconds between fault starts and stops.")] = _D.nemesis_interval,
    nodes: Annotated[int, typer.Option(
        help="Hosts for the local lab, if it must be brought up.")] = _D.lab_nodes,
    junit: Annotated[Path | None, typer.Option(
        help="Also write the results as JUnit XML here, one testcase per checker.")] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print the results as JSON on stdout.")] = False,
    store_bug: Annotated[str | None, typer.Option(
        help="varstore: switch on a known store bug, to see the checker catch it.")] = None,
    api: Annotated[str, typer.Option(
        help="etcd API the clients speak: v2 (python-etcd) or v3 (JSON gateway).")] = _D.api,
    serializable: Annotated[bool, typer.Option(
        "--serializable", help="v3: serializable reads (may be stale) instead of linearizable."
    )] = False,
    ops_per_key: Annotated[int, typer.Option(
        help="register: ops on each key before its group moves on.")] = _D.ops_per_key,
    no_quorum: Annotated[bool, typer.Option(
        "--no-quorum",
        help="register: plain reads, which may be stale, instead of quorum reads.")] = False,
    lock_fencing: Annotated[bool, typer.Option(
        "--lock-fencing", help="lock: guard each write by the lock key's revision (safe under "
                               "pauses), instead of trusting the lock alone.")] = False,
    lock_ttl: Annotated[int, typer.Option(
        help="lock: seconds of the lease that holds the lock.")] = _D.lock_ttl,
    consistency_model: Annotated[str, typer.Option(
        help="append: the model the list-append checker holds etcd to.")
    ] = _D.consistency_model,
    watch_window: Annotated[float, typer.Option(
        help="watch: seconds each watch op stays open, collecting events.")
    ] = _D.watch_window,
    compact_interval: Annotated[float, typer.Option(
        help="watch: seconds between compactions (at the latest acknowledged delete).")
    ] = _D.compact_interval,
    snapshot_count: Annotated[int | None, typer.Option(
        help="Members' --snapshot-count: applied entries between snapshots (managed "
             "clusters; default: etcd's own). Low values make members catch up by snapshot.")
    ] = None,
    etcd_version: Annotated[str | None, typer.Option(
        help="The etcd release to install (managed clusters), from the role's catalogue: "
             "3.4.23, 3.5.1, 3.5.16, 3.5.30 (README, Releases). Default: the inventory's.")
    ] = None,
) -> None:
    """Set up etcd, run load under faults, heal, check, collect logs, tear down.

    Every option is checked before any host is touched; a bad one is one line
    naming it and what it allows, exit 2."""
    from pyharness.control.ansible import PlaybookFailed
    from pyharness.control.inventory import InventoryError
    from pyharness.run.scenario import explicit_fields
    from pyharness.run.scenario import load as load_scenario
    from pyharness.run.scenario import options as scenario_options
    from pyharness.run.testrun import UsageError
    from pyharness.run.testrun import run as run_test

    try:
        sc = load_scenario(scenario) if scenario is not None else None
        opts, where = scenario_options(sc, explicit_fields(_given(ctx)))
        code = run_test(opts, console, where)
    except (UsageError, InventoryError, HistoryError) as e:
        raise _fail(str(e)) from None
    except PlaybookFailed as e:
        raise _fail(str(e)) from None
    raise typer.Exit(code)


def _given(ctx: typer.Context) -> dict[str, Any]:
    """The test options given on the command line, by option key (the flag
    without its dashes): only these override a scenario."""
    from pyharness.run.testrun import BY_KEY

    out: dict[str, Any] = {}
    for param in ctx.command.params:
        # By name: typer carries its own copy of click, and its own enum.
        source = ctx.get_parameter_source(param.name) if param.name else None
        if source is None or source.name not in ("COMMANDLINE", "ENVIRONMENT"):
            continue
        key = next((o[2:] for o in param.opts if o.startswith("--") and o[2:] in BY_KEY), None)
        if key is not None:
            out[key] = ctx.params[param.name]
    return out


@app.command("test-all")
def test_all(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(
        help="A folder of scenario files (*.yaml, *.yml), run in name order.")],
    inventory: InventoryOpt = None,
    store: Annotated[Path, typer.Option(help="Where runs are stored.")] = _D.store,
    nodes: Annotated[int, typer.Option(
        help="Hosts for the local lab, if it must be brought up.")] = _D.lab_nodes,
    db: Annotated[str, typer.Option(help="managed or existing, as for test.")] = _D.db,
    api: Annotated[str, typer.Option(help="v2 or v3, as for test.")] = _D.api,
    time_limit: Annotated[float, typer.Option(
        help="Seconds of load under faults, for every scenario.")] = _D.time_limit,
    seed: Annotated[int | None, typer.Option(help="Seed, for every scenario.")] = None,
) -> None:
    """Run every scenario in DIRECTORY, past failures; print one table.

    Options given here override every scenario's. Exit 1 if any scenario was
    invalid, else 2 if any was unknown or failed to run, else 0."""
    from pyharness.run.scenario import exit_code, explicit_fields, files_in, run_all
    from pyharness.run.scenario import options as scenario_options
    from pyharness.run.testrun import UsageError

    try:
        files = files_in(directory)
        explicit = explicit_fields(_given(ctx))
        # The overrides alone must be good, or every scenario would fail alike.
        scenario_options(None, explicit)
    except UsageError as e:
        raise _fail(str(e)) from None

    def report_error(message: str) -> None:
        console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)

    rows = run_all(files, explicit, lambda opts, where: execute_test(opts, console, where),
                   on_error=report_error)
    out.print(scenario_table(rows))
    raise typer.Exit(exit_code(rows))


@app.command()
def bugs(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(
        help="A folder of bug files (*.yaml): a scenario plus the releases that have the "
             "bug and those that fixed it.")] = Path("scenarios/bugs"),
    releases: Annotated[str | None, typer.Option(
        help="Only these releases, comma-separated (default: every release a file names).")
    ] = None,
    inventory: InventoryOpt = None,
    store: Annotated[Path, typer.Option(help="Where runs are stored.")] = _D.store,
    nodes: Annotated[int, typer.Option(
        help="Hosts for the local lab, if it must be brought up.")] = _D.lab_nodes,
    time_limit: Annotated[float, typer.Option(
        help="Seconds of load, for every bug (default: each file's own).")] = _D.time_limit,
    seed: Annotated[int | None, typer.Option(help="Seed, for every run.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the matrix as JSON.")] = False,
) -> None:
    """Run every known bug on the releases that have it and those that fixed
    it; print bug x release: caught (and how fast), passed, or UNEXPECTED.

    Exit 0 if every cell is as its file expects, 1 if any is the opposite
    (caught where fixed, or missed where present), else 2 (a run failed or
    could not decide)."""
    from pyharness.run.bugs import run_matrix
    from pyharness.run.scenario import explicit_fields
    from pyharness.run.scenario import options as scenario_options
    from pyharness.run.testrun import UsageError

    given = {k: v for k, v in _given(ctx).items() if k != "json"}
    try:
        explicit = explicit_fields(given)
        scenario_options(None, explicit)
        wanted = [r.strip() for r in releases.split(",") if r.strip()] if releases else None

        def show(cell: Any) -> None:
            console.log(f"{cell.bug} on {cell.release}: {cell.text()}")

        matrix = run_matrix(directory, explicit,
                            lambda opts, where: execute_test(opts, console, where),
                            wanted, on_cell=show)
    except UsageError as e:
        raise _fail(str(e)) from None
    if json_out:
        print(json.dumps(matrix.to_json(), indent=2))
    else:
        out.print(bug_table(matrix))
    raise typer.Exit(matrix.exit_code())


def bug_table(matrix: Any) -> Table:
    table = Table(title="known bugs")
    table.add_column("bug")
    rels = sorted({c.release for c in matrix.cells}, key=lambda v: [int(x) for x in
                                                                       v.split(".") if x.isdigit()])
    for r in rels:
        table.add_column(r)
    for b in matrix.bugs:
        cells = {c.release: c for c in matrix.cells if c.bug == b.id}
        row = [escape(f"{b.id}: {b.title}")]
        for r in rels:
            c = cells.get(r)
            if c is None:
                row.append("")
                continue
            style = "green" if c.ok else "red"
            row.append(f"[{style}]{escape(c.text())}[/]")
        table.add_row(*row)
    return table


def scenario_table(rows: list[Any]) -> Table:
    table = Table(title="scenarios")
    for col in ("scenario", "verdict", "ops", "duration", "run directory"):
        table.add_column(col)
    colour = {"valid": "green", "invalid": "red"}
    for r in rows:
        verdict = f"[{colour.get(r.verdict, 'yellow')}]{r.verdict}[/]"
        table.add_row(escape(r.scenario), verdict, "" if r.ops is None else str(r.ops),
                      "" if r.duration_s is None else f"{r.duration_s:.1f} s",
                      escape(str(r.run_dir)) if r.run_dir else escape(r.error or ""))
    return table


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
        raise _fail(f"{path}: no such file or directory")
    if not path.is_dir() and not path.is_file():
        # a FIFO would block forever and /dev/zero never ends
        raise _fail(f"{path}: not a regular file or a run directory")
    if model is not None:
        from checkers.list_append import MODELS as TXN_MODELS
    if model is not None and model not in ("cas-register", "register", "kv", *TXN_MODELS):
        raise _fail("--model must be one of cas-register, kv, register, or for list-append "
                    f"histories {', '.join(TXN_MODELS)}")
    if time_limit is not None and not (math.isfinite(time_limit) and time_limit > 0):
        raise _fail(f"--time-limit must be a positive number of seconds, got {time_limit}")
    bar = Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, transient=True)
    task = bar.add_task("check", total=None)
    try:
        with bar, _doing(f"checking {path}"):
            results, written = run_checkers(
                path, checker or [], model, time_limit, out_dir,
                progress=lambda done, total: bar.update(task, completed=done, total=total))
    except UnicodeDecodeError as e:
        raise _fail(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    except (HistoryError, ValueError) as e:
        raise _fail(str(e)) from None
    # The verdict is decided; what follows only writes it down, and a write
    # that fails is its own error line, never a change of verdict.
    write_errors = [e for e in results.get("write-errors", []) if isinstance(e, str)]

    def write(what: str, target: Path, fn: Any) -> None:
        try:
            with _doing(f"writing {what} {target}"):
                fn()
        except OSError as e:
            write_errors.append(f"cannot write {what}: {_os_text(e, target)}")

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
        _error(line)
    for name, r in results.items():
        if isinstance(r, dict) and isinstance(r.get("warning"), str) and r.get("skipped"):
            _warn(f"{name}: {r['warning']}")
    for line in write_errors:
        _error(line)
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


@app.command()
def serve(
    store: Annotated[Path, typer.Option(help="The store to show.")] = Path("store"),
    host: Annotated[str, typer.Option(
        help="Address to listen on. Anything but loopback lets others read the store.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8080,
    allow_host: Annotated[list[str] | None, typer.Option(
        help="Also accept requests whose Host header names this (repeatable), e.g. the "
             "machine's name when binding beyond loopback; '*' accepts any.")] = None,
) -> None:
    """Browse the store's runs in a web browser (read-only)."""
    from pyharness.report.serve import is_loopback, make_server

    if not 0 <= port <= 65535:
        raise _fail(f"--port must be between 0 and 65535, got {port}")
    if not store.is_dir():
        raise _fail(f"--store: no such directory: {store}")
    if not is_loopback(host):
        _warn(f"--host {host} is not a loopback address: anyone who can reach it can read "
              "the store")
    try:
        server = make_server(store, host, port, allowed_hosts=allow_host or ())
    except socket.gaierror as e:
        raise _fail(f"--host {host}: {e.strerror or e}") from None
    except OSError as e:
        blame = f"--port {port}" if e.errno in (errno.EADDRINUSE, errno.EACCES) \
            else f"--host {host}"
        raise _fail(f"{blame}: {e.strerror or e}") from None
    h, p = server.server_address[:2]
    shown = f"[{h}]" if ":" in str(h) else h
    _say("serving", "green", f"{store.resolve()} at http://{shown}:{p}/ (Ctrl-C to stop)")
    try:
        with _doing(f"serving {store}"):
            server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@app.command()
def quickcheck(
    examples: Annotated[int, typer.Option(help="Command sequences to try.", min=1)] = 50,
    seed: Annotated[int | None, typer.Option(help="Seed, to replay a run.")] = None,
    inventory: InventoryOpt = None,
    store_bug: Annotated[str | None, typer.Option(
        help="Switch on a known store bug; the test must catch it.")] = None,
    parallel: Annotated[bool, typer.Option(
        "--parallel", help="Run command sequences from several processes at once and check "
                           "the recorded history against the model.")] = False,
    api: Annotated[str, typer.Option(
        help="etcd API the store speaks: v2 or v3.")] = "v2",
) -> None:
    """Model-based test of the variable store on etcd (Hypothesis state machine).

    Exit 0 when no counterexample is found, 1 with the shrunk counterexample."""
    from pyharness.control import lab as lab_mod
    from pyharness.control.ansible import Ansible, PlaybookFailed
    from pyharness.control.inventory import InventoryError
    from pyharness.control.inventory import load as load_inventory
    from pyharness.run.quickcheck import run_quickcheck
    from pyharness.varstore.bugs import BUGS

    if store_bug is not None and store_bug not in BUGS:
        raise _fail(f"--store-bug must be one of {', '.join(BUGS)}")
    if api not in ("v2", "v3"):
        raise _fail(f"--api must be one of v2, v3, got {api}")
    inv = inventory
    try:
        if inv is None:
            if not lab_mod.is_up():
                console.log("bringing up the local lab")
                lab_mod.up()
            inv = paths.LAB_INVENTORY
        nodes = load_inventory(inv)
        ansible = Ansible(inv, lab_mod.STATE_DIR / "quickcheck-ansible", keep=20)
        r = ansible.run("setup.yml")
        if not r.ok:
            raise PlaybookFailed(r)
    except (InventoryError, PlaybookFailed) as e:
        raise _fail(str(e)) from None
    endpoints = [f"{n.address}:{n.client_port}" for n in nodes]
    raise typer.Exit(run_quickcheck(endpoints, examples, seed, store_bug, parallel, console,
                                   api=api))


@app.command()
def heal(inventory: InventoryOpt = None) -> None:
    """Remove every fault the suite may have left on an inventory's hosts."""
    from pyharness.control import lab as lab_mod
    from pyharness.control.ansible import Ansible
    from pyharness.control.inventory import InventoryError
    from pyharness.control.inventory import load as load_inventory

    inv = inventory or paths.LAB_INVENTORY
    try:
        load_inventory(inv)
    except InventoryError as e:
        raise _fail(str(e)) from None
    r = Ansible(inv, lab_mod.STATE_DIR / "heal-ansible", keep=20).run("heal.yml")
    if not r.ok:
        raise _fail(r.error_line())
    console.print("healed")


@app.command("check-cluster")
def check_cluster(
    inventory: Annotated[Path, typer.Option(
        "--inventory", "-i", help="Ansible inventory with an 'etcd' group: the cluster to check.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    timeout: Annotated[float, typer.Option(
        help="Seconds to wait for each member's answer.", min=0.1, max=600)] = 5.0,
) -> None:
    """Read-only check of a running cluster: members, versions, leader, revisions,
    HashKV agreement, alarms. Exit 0 consistent, 1 inconsistent, 2 cannot tell
    (an unreachable member is named). Writes nothing to the cluster."""
    import json

    from pyharness.control.inventory import InventoryError
    from pyharness.run.check_cluster import run as run_check

    try:
        code, report = run_check(inventory, out, json_out=json_out, timeout=timeout)
    except InventoryError as e:
        raise _fail(str(e)) from None
    if json_out:
        print(json.dumps(report, indent=1, sort_keys=True))
    raise typer.Exit(code)


@lab_app.command("up")
def lab_up(nodes: Annotated[int, typer.Option(help="Number of hosts.", min=1, max=250)] = 5,
           ) -> None:
    """Create (or repair) the lab and write its inventory. Safe to run twice."""
    from pyharness.control import lab as lab_mod
    from pyharness.control.ansible import PlaybookFailed

    try:
        inv = lab_mod.up(nodes)
    except PlaybookFailed as e:
        raise _fail(str(e)) from None
    console.print(f"lab is up; inventory: {inv}")


@lab_app.command("down")
def lab_down() -> None:
    """Remove everything the lab made, and nothing else."""
    from pyharness.control import lab as lab_mod
    from pyharness.control.ansible import PlaybookFailed

    try:
        lab_mod.down()
    except PlaybookFailed as e:
        raise _fail(str(e)) from None
    console.print("lab is down")


@lab_app.command("status")
def lab_status() -> None:
    """Show each lab host: namespace, sshd, SSH port, etcd member."""
    from pyharness.control import lab as lab_mod

    hosts = lab_mod.status()
    if hosts is None:
        console.print("no lab on this machine (run: pyharness lab up)")
        raise typer.Exit(1)
    table = Table(title=f"lab ({paths.LAB_DIR})")
    for col in ("host", "address", "netns", "sshd", "ssh port", "etcd"):
        table.add_column(col)

    def mark(b: bool) -> str:
        return "[green]up[/green]" if b else "[red]down[/red]"

    for h in hosts:
        table.add_row(h.name, h.address, mark(h.netns), mark(h.sshd), mark(h.ssh_port),
                      mark(h.etcd))
    out.print(table)
    raise typer.Exit(0 if all(h.up for h in hosts) else 1)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
