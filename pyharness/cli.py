"""The ``pyharness`` command line.

Exit codes, for every command: 0 valid (or success), 1 invalid, 2 unknown,
bad input, or a run that failed. Errors are one line on stderr naming the
option, file, line or host at fault.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pyharness import lab as lab_mod
from pyharness import paths
from pyharness.ansible import Ansible, PlaybookFailed
from pyharness.history import HistoryError
from pyharness.inventory import InventoryError
from pyharness.inventory import load as load_inventory
from pyharness.testrun import TestOptions, UsageError
from pyharness.testrun import run as run_test

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Jepsen-style consistency tests of etcd under faults.")
lab_app = typer.Typer(no_args_is_help=True, help="The local lab: hosts in network namespaces.")
app.add_typer(lab_app, name="lab")

console = Console(stderr=True)
out = Console()


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


InventoryOpt = Annotated[Path | None, typer.Option(
    "--inventory", "-i", help="Ansible inventory with an 'etcd' group. Default: the local lab.")]


@app.command()
def test(
    workload: Annotated[str, typer.Option(
        help="What to run: register, set, varstore.")] = "set",
    nemesis: Annotated[str, typer.Option(
        help="Faults: none, or a comma-separated list of partition, kill, pause, loss, slow, "
             "netem, or a partition of a fixed shape: partition-halves, "
             "partition-random-halves, partition-isolate-one, partition-isolate-leader, "
             "partition-majorities-ring, partition-bridge, partition-grudge."
    )] = "partition-random-halves",
    nemesis_targets: Annotated[str | None, typer.Option(
        help="Which hosts faults hit, chosen per op: one, minority, majority, all, leader "
             "(comma-separated for a random choice among them).")] = None,
    grudge_file: Annotated[Path | None, typer.Option(
        help="partition-grudge: JSON or YAML mapping host -> peers it drops.")] = None,
    loss_probability: Annotated[float, typer.Option(
        help="loss: probability that a packet is dropped.")] = 0.3,
    slow_rate: Annotated[str, typer.Option(help="slow: tbf rate limit, e.g. 1mbit.")] = "1mbit",
    netem_delay: Annotated[str, typer.Option(help="netem: delay.")] = "100ms",
    netem_jitter: Annotated[str, typer.Option(help="netem: jitter.")] = "20ms",
    netem_loss: Annotated[float | None, typer.Option(help="netem: loss, percent.")] = None,
    netem_duplicate: Annotated[float | None, typer.Option(
        help="netem: duplicate, percent.")] = None,
    netem_reorder: Annotated[float | None, typer.Option(help="netem: reorder, percent.")] = None,
    kill_start_timeout: Annotated[int, typer.Option(
        help="kill: seconds a restarted member has to listen on its client port.")] = 30,
    no_nemesis_agent: Annotated[bool, typer.Option(
        "--no-nemesis-agent", help="Run each fault as a plain playbook instead of through a "
                                   "pre-started Ansible run (slower to take effect).")] = False,
    time_limit: Annotated[float, typer.Option(help="Seconds of load under faults.")] = 30.0,
    concurrency: Annotated[int, typer.Option(help="Client workers (threads).")] = 10,
    rate: Annotated[float, typer.Option(help="Target ops per second, all workers.")] = 10.0,
    inventory: InventoryOpt = None,
    db: Annotated[str, typer.Option(
        help="managed: install, start and wipe etcd on the inventory's hosts. existing: "
             "validate a running cluster: no install, no wipe, only the faults asked for."
    )] = "managed",
    leave_db_running: Annotated[bool, typer.Option(
        "--leave-db-running", help="Keep etcd running after the test (no teardown).")] = False,
    seed: Annotated[int | None, typer.Option(help="Seed for op and fault choices.")] = None,
    store: Annotated[Path, typer.Option(help="Where runs are stored.")] = Path("store"),
    op_timeout: Annotated[float, typer.Option(help="Client request timeout, seconds.")] = 1.5,
    recovery_time: Annotated[float, typer.Option(
        help="Seconds to wait after healing before the final reads.")] = 10.0,
    nemesis_interval: Annotated[float, typer.Option(
        help="Seconds between fault starts and stops.")] = 5.0,
    nodes: Annotated[int, typer.Option(
        help="Hosts for the local lab, if it must be brought up.")] = 5,
    junit: Annotated[Path | None, typer.Option(
        help="Also write the results as JUnit XML here, one testcase per checker.")] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print the results as JSON on stdout.")] = False,
    store_bug: Annotated[str | None, typer.Option(
        help="varstore: switch on a known store bug, to see the checker catch it.")] = None,
    api: Annotated[str, typer.Option(
        help="etcd API the clients speak: v2 (python-etcd) or v3 (JSON gateway).")] = "v2",
    serializable: Annotated[bool, typer.Option(
        "--serializable", help="v3: serializable reads (may be stale) instead of linearizable."
    )] = False,
    ops_per_key: Annotated[int, typer.Option(
        help="register: ops on each key before its group moves on.")] = 100,
    no_quorum: Annotated[bool, typer.Option(
        "--no-quorum",
        help="register: plain reads, which may be stale, instead of quorum reads.")] = False,
) -> None:
    """Set up etcd, run load under faults, heal, check, collect logs, tear down."""
    opts = TestOptions(workload=workload, nemesis=nemesis, time_limit=time_limit,
                       concurrency=concurrency, rate=rate, inventory=inventory,
                       leave_db_running=leave_db_running, seed=seed, store=store, db=db,
                       op_timeout=op_timeout, recovery_time=recovery_time,
                       nemesis_interval=nemesis_interval, lab_nodes=nodes,
                       ops_per_key=ops_per_key, no_quorum=no_quorum, api=api,
                       serializable=serializable, junit=junit, json_out=json_out,
                       store_bug=store_bug, nemesis_targets=nemesis_targets,
                       grudge_file=grudge_file, loss_probability=loss_probability,
                       slow_rate=slow_rate, netem_delay=netem_delay, netem_jitter=netem_jitter,
                       netem_loss=netem_loss, netem_duplicate=netem_duplicate,
                       netem_reorder=netem_reorder, kill_start_timeout=kill_start_timeout,
                       nemesis_agent=not no_nemesis_agent)
    try:
        code = run_test(opts, console)
    except (UsageError, InventoryError, HistoryError) as e:
        raise _fail(str(e)) from None
    except PlaybookFailed as e:
        raise _fail(str(e)) from None
    raise typer.Exit(code)


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
    from pyharness.analysis import run_checkers

    if not path.exists():
        raise _fail(f"{path}: no such file or directory")
    from checkers.list_append import MODELS as TXN_MODELS
    if model is not None and model not in ("cas-register", "register", "kv", *TXN_MODELS):
        raise _fail("--model must be one of cas-register, kv, register, or for list-append "
                    f"histories {', '.join(TXN_MODELS)}")
    bar = Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, transient=True)
    task = bar.add_task("check", total=None)
    try:
        with bar:
            results, written = run_checkers(
                path, checker or [], model, time_limit, out_dir,
                progress=lambda done, total: bar.update(task, completed=done, total=total))
    except (HistoryError, ValueError) as e:
        raise _fail(str(e)) from None
    if path.is_dir():
        from pyharness.report import write_report
        from pyharness.store import write_json

        write_json(written / "results.json", results)
        write_report(written)
    if junit is not None:
        from pyharness.junit import write_junit
        write_junit(results, junit, path.name)
    if edn is not None:
        from pyharness.export import export_edn
        from pyharness.formats import read_history
        export_edn(read_history(path / "history.jsonl" if path.is_dir() else path).ops, edn)
    if json_out:
        print(json.dumps(results, default=str, indent=2))
    else:
        _print_analysis(results)
    valid = results["valid?"]
    raise typer.Exit(0 if valid is True else 1 if valid is False else 2)


def _print_analysis(results: dict) -> None:
    from pyharness.progress import results_table

    out.print(results_table({k: v for k, v in results.items() if isinstance(v, dict)}))
    linear = results.get("linear")
    if isinstance(linear, dict):
        for f in linear.get("failures", []):
            key = linear["keys"][f["key"]]
            out.print(f"[red]not linearizable[/red] on key {f['key']}: "
                      f"{key['op'].get('description', f)} (op {key['op']['index']}, "
                      f"process {key['op']['process']}) cannot be placed")
            out.print(f"  states just before it: {', '.join(key.get('previous-states', []))}")
            out.print(f"  longest linearizable prefix: {len(key.get('linearized-prefix', []))} ops")
            if "file" in key:
                out.print(f"  drawing: {key['file']}")
        for k in linear.get("unknown", []):
            out.print(f"[yellow]unknown[/yellow] on key {k}: {linear['keys'][k].get('reason')}")
    valid = results["valid?"]
    word = {True: "[green]valid[/green]", False: "[red]INVALID[/red]"}.get(
        valid, "[yellow]unknown[/yellow]")  # type: ignore[call-overload]
    out.print(f"verdict: {word}")


@app.command()
def serve(
    store: Annotated[Path, typer.Option(help="The store to show.")] = Path("store"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Browse the store's runs in a web browser (read-only)."""
    from pyharness.serve import serve as serve_store

    if not store.is_dir():
        raise _fail(f"--store: no such directory: {store}")
    console.print(f"serving {store} at http://{host}:{port}/ (Ctrl-C to stop)")
    try:
        serve_store(store, host, port)
    except OSError as e:
        raise _fail(f"--port {port}: {e.strerror or e}") from None


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
    from pyharness.quickcheck import run_quickcheck
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
    inv = inventory or paths.LAB_INVENTORY
    try:
        load_inventory(inv)
    except InventoryError as e:
        raise _fail(str(e)) from None
    r = Ansible(inv, lab_mod.STATE_DIR / "heal-ansible", keep=20).run("heal.yml")
    if not r.ok:
        raise _fail(r.error_line())
    console.print("healed")


@lab_app.command("up")
def lab_up(nodes: Annotated[int, typer.Option(help="Number of hosts.", min=1, max=250)] = 5,
           ) -> None:
    """Create (or repair) the lab and write its inventory. Safe to run twice."""
    try:
        inv = lab_mod.up(nodes)
    except PlaybookFailed as e:
        raise _fail(str(e)) from None
    console.print(f"lab is up; inventory: {inv}")


@lab_app.command("down")
def lab_down() -> None:
    """Remove everything the lab made, and nothing else."""
    try:
        lab_mod.down()
    except PlaybookFailed as e:
        raise _fail(str(e)) from None
    console.print("lab is down")


@lab_app.command("status")
def lab_status() -> None:
    """Show each lab host: namespace, sshd, SSH port, etcd member."""
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
