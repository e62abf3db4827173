"""The commands that run tests: ``test``, ``test-all`` and ``bugs``."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pyharness.cli.common import (
    DEFAULTS,
    InventoryOpt,
    app,
    console,
    fail,
    out,
)
from pyharness.history import HistoryError
from pyharness.run.options import TestOptions


def execute_test(opts: TestOptions, console: Console, where: Any) -> Any:
    from pyharness.run.testrun import execute
    return execute(opts, console, where)


def _nemesis_help() -> str:
    from pyharness.nemesis import registry

    kinds = registry.all_kinds()
    variants = [v for k in kinds for v in k.variants]
    return (f"Faults: none, or a comma-separated list of {', '.join(k.name for k in kinds)}"
            + (f", or one of {', '.join(variants)}" if variants else "") + ".")


_NEMESIS_HELP = _nemesis_help()
_KIND_TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool,
                                "path": Path}


def _with_declared_options(command: Any) -> Any:
    """Give ``command`` a --flag for every option a workload or a fault
    declares: the workloads' after --workload, the faults' after
    --nemesis-targets. Each is declared once, with its workload (see
    pyharness.workloads) or its fault (pyharness.nemesis.registry), and typer
    reads them from the signature."""
    from pyharness import workloads
    from pyharness.nemesis import registry

    sig = inspect.signature(command, eval_str=True)
    params = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    for after, options in (("nemesis_targets", registry.options()),
                           ("workload", workloads.options())):
        at = next(i for i, p in enumerate(params) if p.name == after) + 1
        added = []
        taken = {p.name for p in params}
        for o in options:
            if o.field in taken:  # a contributor's slip: say which, not "duplicate parameter"
                raise TypeError(f"option {o.flag} ({o.group}) clashes with one of the "
                                f"run's own options")
            kind: Any = _KIND_TYPES[o.kind]
            annotation = Annotated[kind | None if o.nullable else kind,  # type: ignore[operator]
                                   typer.Option(o.flag, help=o.help)]
            added.append(inspect.Parameter(o.field, inspect.Parameter.KEYWORD_ONLY,
                                           default=o.default, annotation=annotation))
        params[at:at] = added
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
    command.__signature__ = sig.replace(parameters=params)
    return command


def _workload_help() -> str:
    from pyharness import workloads

    return f"What to run: {', '.join(workloads.names())} (README, Workloads)."


@app.command()
@_with_declared_options
def test(
    ctx: typer.Context,
    scenario: Annotated[Path | None, typer.Option(
        help="A YAML file of options (see README, Scenarios); options given here override "
             "it.")] = None,
    workload: Annotated[str, typer.Option(help=_workload_help())] = DEFAULTS.workload,
    nemesis: Annotated[str, typer.Option(help=_NEMESIS_HELP)] = DEFAULTS.nemesis,
    nemesis_targets: Annotated[str | None, typer.Option(
        help="Which hosts faults hit, chosen per op: one, minority, majority, all, leader "
             "(comma-separated for a random choice among them).")] = None,
    no_nemesis_agent: Annotated[bool, typer.Option(
        "--no-nemesis-agent", help="Run each fault as a plain playbook instead of through a "
                                   "pre-started Ansible run (slower to take effect).")] = False,
    connect_backoff: Annotated[float, typer.Option(
        help="Longest wait, in seconds, before a worker whose member refused the connection "
             "tries again (jittered, doubling from 50 ms); 0 retries at once.")
    ] = DEFAULTS.connect_backoff,
    engine: Annotated[str, typer.Option(
        help="How clients run: async (coroutines on one event loop, for high load), threads "
             "(a thread per worker), or auto: async where the workload has such a client.")
    ] = DEFAULTS.engine,
    time_limit: Annotated[float, typer.Option(
        help="Seconds of load under faults.")] = DEFAULTS.time_limit,
    concurrency: Annotated[int, typer.Option(
        help="Client workers (threads).")] = DEFAULTS.concurrency,
    rate: Annotated[float, typer.Option(
        help="Target ops per second, all workers.")] = DEFAULTS.rate,
    inventory: InventoryOpt = None,
    db: Annotated[str, typer.Option(
        help="managed: install, start and wipe etcd on the inventory's hosts. existing: "
             "validate a running cluster: no install, no wipe, only the faults asked for."
    )] = DEFAULTS.db,
    leave_db_running: Annotated[bool, typer.Option(
        "--leave-db-running", help="Keep etcd running after the test (no teardown).")] = False,
    seed: Annotated[int | None, typer.Option(help="Seed for op and fault choices.")] = None,
    store: Annotated[Path, typer.Option(help="Where runs are stored.")] = DEFAULTS.store,
    op_timeout: Annotated[float, typer.Option(
        help="Client request timeout, seconds.")] = DEFAULTS.op_timeout,
    recovery_time: Annotated[float, typer.Option(
        help="Seconds to wait after healing before the final reads.")] = DEFAULTS.recovery_time,
    nemesis_interval: Annotated[float, typer.Option(
        help="Seconds between fault starts and stops.")] = DEFAULTS.nemesis_interval,
    nodes: Annotated[int, typer.Option(
        help="Hosts for the local lab, if it must be brought up.")] = DEFAULTS.lab_nodes,
    junit: Annotated[Path | None, typer.Option(
        help="Also write the results as JUnit XML here, one testcase per checker.")] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print the results as JSON on stdout.")] = False,
    api: Annotated[str, typer.Option(
        help="etcd API the clients speak: v2 (python-etcd) or v3 (JSON gateway).")] = DEFAULTS.api,
    serializable: Annotated[bool, typer.Option(
        "--serializable", help="v3: serializable reads (may be stale) instead of linearizable."
    )] = False,
    snapshot_count: Annotated[int | None, typer.Option(
        help="Members' --snapshot-count: applied entries between snapshots (managed "
             "clusters; default: etcd's own). Low values make members catch up by snapshot.")
    ] = None,
    snapshot_catchup_entries: Annotated[int | None, typer.Option(
        help="Members' raft entries kept after a snapshot for slow followers (etcd 3.5.14 "
             "or later; default: etcd's 5000). Low values make partition-snapshot quick.")
    ] = None,
    compaction_batch_limit: Annotated[int | None, typer.Option(
        help="Members' revisions deleted per compaction batch, each batch committed at once "
             "(managed clusters; default: etcd's 1000). Low values make a compaction many "
             "backend commits beside the apply loop.")
    ] = None,
    disk_write_iops: Annotated[int | None, typer.Option(
        help="A slow disk: each member's write I/O operations per second on its data dir's "
             "disk, limited through a blkio cgroup of its own (cgroup v1; managed clusters). "
             "300 makes fsyncs take about 15 ms on average under load.")
    ] = None,
    etcd_version: Annotated[str | None, typer.Option(
        help="The etcd release to install (managed clusters), from the role's catalogue: "
             "3.4.23, 3.5.1, 3.5.16, 3.5.30 (README, Releases). Default: the inventory's.")
    ] = None,
    **declared: Any,  # every workload's and fault's own: see _with_declared_options
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
        raise fail(str(e)) from None
    except PlaybookFailed as e:
        raise fail(str(e)) from None
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
    store: Annotated[Path, typer.Option(help="Where runs are stored.")] = DEFAULTS.store,
    nodes: Annotated[int, typer.Option(
        help="Hosts for the local lab, if it must be brought up.")] = DEFAULTS.lab_nodes,
    db: Annotated[str, typer.Option(help="managed or existing, as for test.")] = DEFAULTS.db,
    api: Annotated[str, typer.Option(help="v2 or v3, as for test.")] = DEFAULTS.api,
    time_limit: Annotated[float, typer.Option(
        help="Seconds of load under faults, for every scenario.")] = DEFAULTS.time_limit,
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
        raise fail(str(e)) from None

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
    store: Annotated[Path, typer.Option(help="Where runs are stored.")] = DEFAULTS.store,
    nodes: Annotated[int, typer.Option(
        help="Hosts for the local lab, if it must be brought up.")] = DEFAULTS.lab_nodes,
    time_limit: Annotated[float, typer.Option(
        help="Seconds of load, for every bug (default: each file's own).")] = DEFAULTS.time_limit,
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
        raise fail(str(e)) from None
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
