"""A test run, phase by phase, as in Jepsen's etcd tutorial.

1. set up the cluster (setup.yml);
2. run the workload's ops while the nemesis injects and heals faults;
3. heal; 4. wait for recovery; 5. the final reads;
6. check the history; 7. collect node logs; 8. tear down.

Whatever happens (an error, Ctrl-C, SIGTERM) the network is healed before
the driver exits, and the nodes are torn down unless asked to stay up.
Every op is on disk the moment it completes.
"""

from __future__ import annotations

import json
import logging
import random
import signal
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.markup import escape

from checkers.core import UNKNOWN, compose
from checkers.log_patterns import LogPatternChecker
from pyharness import generator as g
from pyharness import interpreter, inventory, lab, nemesis, paths, store, workloads
from pyharness.analysis import standard_checkers
from pyharness.ansible import Ansible, PlaybookFailed
from pyharness.export import export_edn
from pyharness.history import HistoryWriter, Op
from pyharness.junit import write_junit
from pyharness.progress import LiveStatus, results_table
from pyharness.report import write_report

log = logging.getLogger("pyharness")

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN = 0, 1, 2


@dataclass
class TestOptions:
    workload: str = "set"
    nemesis: str = "partition-random-halves"
    time_limit: float = 30.0
    concurrency: int = 10
    rate: float = 10.0
    inventory: Path | None = None
    leave_db_running: bool = False
    db: str = "managed"
    seed: int | None = None
    store: Path = field(default_factory=lambda: Path("store"))
    op_timeout: float = 1.5
    recovery_time: float = 10.0
    nemesis_interval: float = 5.0
    lab_nodes: int = 5
    ops_per_key: int = 100
    no_quorum: bool = False
    api: str = "v2"
    serializable: bool = False
    junit: Path | None = None
    store_bug: str | None = None
    nemesis_targets: str | None = None
    grudge_file: Path | None = None
    loss_probability: float = 0.3
    slow_rate: str = "1mbit"
    netem_delay: str = "100ms"
    netem_jitter: str = "20ms"
    netem_loss: float | None = None
    netem_duplicate: float | None = None
    netem_reorder: float | None = None
    kill_start_timeout: int = 30
    nemesis_agent: bool = True
    json_out: bool = False

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("inventory", "store", "junit", "grudge_file"):
            d[k] = str(d[k]) if d[k] is not None else None
        return d


class UsageError(ValueError):
    """Bad input: a one-line message naming the option."""


def validate(opts: TestOptions) -> None:
    if opts.workload not in workloads.WORKLOADS:
        raise UsageError(f"--workload must be one of {', '.join(workloads.names())}")
    if opts.workload in ("append", "lock") and opts.api != "v3":
        raise UsageError(f"--workload {opts.workload} needs --api v3 (etcd's v3 transactions)")
    try:
        faults = nemesis.parse_spec(opts.nemesis)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if "partition-grudge" in faults:
        if opts.grudge_file is None:
            raise UsageError("--nemesis partition-grudge needs --grudge-file FILE")
        if not opts.grudge_file.is_file():
            raise UsageError(f"--grudge-file: no such file: {opts.grudge_file}")
    for name, v, lo in (("--time-limit", opts.time_limit, 0), ("--rate", opts.rate, 0),
                        ("--op-timeout", opts.op_timeout, 0)):
        if not v > lo:
            raise UsageError(f"{name} must be greater than {lo}, got {v}")
    if opts.db not in ("managed", "existing"):
        raise UsageError(f"--db must be one of managed, existing, got {opts.db}")
    if opts.db == "existing" and opts.inventory is None:
        raise UsageError("--db existing needs --inventory: the cluster to validate")
    if opts.api not in ("v2", "v3"):
        raise UsageError(f"--api must be one of v2, v3, got {opts.api}")
    if opts.serializable and opts.api != "v3":
        raise UsageError("--serializable needs --api v3 (for v2 use --no-quorum)")
    if opts.store_bug is not None:
        from pyharness.varstore.bugs import BUGS
        if opts.store_bug not in BUGS:
            raise UsageError(f"--store-bug must be one of {', '.join(BUGS)}")
        if opts.workload != "varstore":
            raise UsageError("--store-bug needs --workload varstore")
    if opts.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, got {opts.concurrency}")


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: heal, then exit."""


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    def on_term(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"signal {signum}")
    old = signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C must interrupt even when started with SIGINT ignored (as a
    # background job of a shell without job control, or under some CI).
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
        signal.signal(signal.SIGINT, old_int)


@contextmanager
def _shielded(console: Console) -> Iterator[None]:
    """While healing, Ctrl-C and SIGTERM are noted, not obeyed: a heal cut
    short would leave the cluster partitioned."""
    def note(signum: int, frame: FrameType | None) -> None:
        console.log("[yellow]healing the network first; please wait[/yellow]")
    old_int = signal.signal(signal.SIGINT, note)
    old_term = signal.signal(signal.SIGTERM, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def _setup_logging(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "driver.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def build_generator(opts: TestOptions, wl: workloads.Workload,
                    nem: nemesis.NemesisPackage) -> g.Generator:
    main = [g.clients(g.stagger(1.0 / opts.rate, wl.generator))]
    if nem.generator is not None:
        main.append(g.nemesis(nem.generator))
    steps: list[g.GenLike] = [g.time_limit(opts.time_limit, g.any_(*main))]
    if nem.final_generator is not None:
        # Every fault's stop op, so each window closes in the history.
        steps += [g.log("healing"), g.nemesis(nem.final_generator)]
    steps += [g.log("waiting for recovery"), g.sleep(opts.recovery_time)]
    if wl.final_generator is not None:
        steps += [g.log("final reads"), g.clients(wl.final_generator)]
    return g.phases(*steps)


def run(opts: TestOptions, console: Console) -> int:
    validate(opts)
    inv = opts.inventory
    if inv is None:
        if not lab.is_up():
            console.log(f"bringing up the local lab ({opts.lab_nodes} hosts)")
            lab.up(opts.lab_nodes)
        inv = paths.LAB_INVENTORY
    nodes = inventory.load(inv)
    tls = next((n.tls for n in nodes if n.tls is not None), None)
    auth = next((n.auth for n in nodes if n.auth is not None), None)
    if (tls is not None or auth is not None) and opts.api != "v3":
        raise UsageError(f"{inv}: the cluster uses TLS or authentication; run its clients "
                         "with --api v3")
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**31)
    opts.seed = seed
    test_name = f"etcd-{opts.workload}-{opts.nemesis}"
    run_dir = store.new_run_dir(opts.store, test_name)
    handler = _setup_logging(run_dir)
    console.log(f"run directory: {run_dir}")
    test: dict[str, Any] = {
        "name": test_name,
        "run_id": uuid.uuid4().hex[:12],
        "options": opts.to_json(),
        "inventory": str(inv),
        "nodes": {n.name: {"address": n.address, "client_port": n.client_port} for n in nodes},
        "op_timeout": opts.op_timeout,
        "start_wall_ns": time.time_ns(),
    }
    test["key_prefix"] = f"/pyharness/{test['run_id']}"
    if tls is not None:  # the v3 clients read these
        test["options"].update(tls_ca=tls.ca, tls_cert=tls.cert, tls_key=tls.key)
    if auth is not None:
        test["options"].update(auth_user=auth[0], auth_password_file=auth[1])
    store.write_json(run_dir / "test.json", test)
    ansible = Ansible(inv, run_dir / "ansible", {"store_dir": str(run_dir.resolve())})
    try:
        with _signals_interrupt():
            return _run(opts, test, nodes, ansible, run_dir, console)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _run(opts: TestOptions, test: dict[str, Any], nodes: list[inventory.Node],
         ansible: Ansible, run_dir: Path, console: Console) -> int:
    wl = workloads.WORKLOADS[opts.workload]({**vars(opts), "out_dir": run_dir})
    names = [n.name for n in nodes]
    try:
        nem = nemesis.build(opts.nemesis, vars(opts), ansible, names)
    except ValueError as e:
        raise UsageError(str(e)) from None
    history = HistoryWriter(run_dir / "history.jsonl")
    status = LiveStatus(console, opts.time_limit)
    failure: str | None = None
    try:
        if opts.db == "existing":
            # Someone else's cluster: no install, no wipe; only check that
            # every member answers before loading it.
            _check_reachable(nodes)
        else:
            console.log(f"setting up etcd on {len(nodes)} hosts")
            r = ansible.run("setup.yml")
            if not r.ok:
                raise PlaybookFailed(r)
        if opts.api == "v2":
            check_serves_v2(nodes[0])
        gen = build_generator(opts, wl, nem)
        rng = random.Random(opts.seed)
        test["start_wall_ns"] = time.time_ns()
        start = time.monotonic_ns()
        store.write_json(run_dir / "test.json", test)
        console.log(f"running {opts.workload} for {opts.time_limit:g} s with nemesis "
                    f"{opts.nemesis} (seed {opts.seed})")
        with status:
            status.start_load()
            interpreter.run(test, gen, wl.client, nem.nemesis, names, opts.concurrency,
                            history, rng=rng, start_ns=start, on_op=status.on_op,
                            on_log=status.set_phase,
                            stop=threading.Event())
    except (PlaybookFailed, ClusterUnreachable) as e:
        failure = str(e)
    except KeyboardInterrupt as e:
        failure = "terminated" if isinstance(e, Terminated) else "interrupted"
    except Exception as e:
        log.exception("run failed")
        failure = f"{type(e).__name__}: {e}"
    finally:
        history.close()
        # As in Jepsen: logs are collected and the cluster released before
        # the analysis, which may take long and needs the logs.
        _cleanup(opts, ansible, nem, test, console)
    if failure is not None:
        console.print(f"[red]error:[/red] {escape(failure)}", soft_wrap=True, highlight=False)
        console.print(f"history and logs: {run_dir}")
        return EXIT_UNKNOWN
    console.log("checking")
    ops = history.ops
    checkers = [*wl.checkers, *standard_checkers(run_dir), LogPatternChecker(run_dir)]
    results = compose(checkers, test, ops)
    return report(results, test, ops, run_dir, opts, console)


def report(results: dict[str, Any], test: Mapping[str, Any], ops: list[Op], run_dir: Path,
           opts: TestOptions, console: Console) -> int:
    """Write what a run found, in every form users asked for; the exit code."""
    store.write_json(run_dir / "results.json", results)
    export_edn(ops, run_dir / "history.edn")
    if opts.junit is not None:
        write_junit(results, opts.junit, str(test["name"]))
    write_report(run_dir)
    if opts.json_out:
        print(json.dumps(results, indent=2, sort_keys=True, default=str))
    console.print(results_table(results))
    valid = results["valid?"]
    verdict = {True: "[green]valid[/green]", False: "[red]INVALID[/red]"}.get(
        valid, "[yellow]unknown[/yellow]")  # type: ignore[call-overload]
    console.print(f"verdict: {verdict}   ({run_dir / 'report.html'})")
    if valid is True:
        return EXIT_VALID
    return EXIT_INVALID if valid is False else EXIT_UNKNOWN


class ClusterUnreachable(RuntimeError):
    pass


def _check_reachable(nodes: list[inventory.Node]) -> None:
    """Every member must answer /health before an existing cluster is loaded."""
    import ssl
    import urllib.request

    for n in nodes:
        ctx = None
        if n.tls is not None:
            ctx = ssl.create_default_context(cafile=n.tls.ca)  # type: ignore[arg-type]
            if n.tls.cert:
                ctx.load_cert_chain(n.tls.cert, n.tls.key)
        try:
            with urllib.request.urlopen(f"{n.client_url()}/health", timeout=5,
                                        context=ctx) as r:
                body = r.read().decode(errors="replace")
        except OSError as e:
            raise ClusterUnreachable(
                f"host {n.name}: etcd at {n.client_url()} does not answer: "
                f"{getattr(e, 'reason', e)}") from None
        if '"true"' not in body:
            raise ClusterUnreachable(f"host {n.name}: etcd at {n.client_url()} is not "
                                     f"healthy: {body.strip()[:200]}")


def check_serves_v2(node: inventory.Node) -> None:
    """A cluster without the v2 API answers every v2 request 404: say so
    once, rather than record a run of failed ops."""
    import urllib.error
    import urllib.request

    url = f"{node.client_url()}/v2/keys/"
    try:
        with urllib.request.urlopen(url, timeout=5):
            return
    except urllib.error.HTTPError as e:
        if e.code != 404:
            return  # an answer from v2 (e.g. 401): the API is there
    except OSError as e:
        raise ClusterUnreachable(f"host {node.name}: etcd at {node.client_url()} does not "
                                 f"answer: {getattr(e, 'reason', e)}") from None
    raise ClusterUnreachable(
        f"host {node.name}: etcd at {node.client_url()} does not serve the v2 API "
        "(3.4 and 3.5 serve it only with --enable-v2, 3.6 not at all): use --api v3")


def _cleanup(opts: TestOptions, ansible: Ansible, nem: nemesis.NemesisPackage,
             test: Mapping[str, Any], console: Console) -> None:
    with _shielded(console):
        close = getattr(nem.nemesis, "close", None)
        if close is not None:
            close()  # the nemesis' pre-started Ansible run and its SSH connections
        console.log("healing the network")
        heal = ansible.run("heal.yml")
        if not heal.ok:
            console.print(f"[red]heal failed:[/red] {escape(heal.error_line())}", soft_wrap=True)
        console.log("collecting node logs")
        logs = ansible.run("collect-logs.yml")
        if not logs.ok:
            console.print(f"[yellow]log collection:[/yellow] {escape(logs.error_line())}",
                          soft_wrap=True)
        if opts.leave_db_running or opts.db == "existing":
            console.log("leaving etcd running")
            return
        console.log("tearing down")
        down = ansible.run("teardown.yml")
        if not down.ok:
            console.print(f"[red]teardown failed:[/red] {escape(down.error_line())}",
                          soft_wrap=True)


__all__ = ["EXIT_INVALID", "EXIT_UNKNOWN", "EXIT_VALID", "UNKNOWN", "TestOptions", "run"]
