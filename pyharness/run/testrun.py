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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape

from checkers.consistency import ConsistencyChecker
from checkers.core import UNKNOWN, compose
from checkers.log_patterns import LogPatternChecker
from pyharness import nemesis, workloads
from pyharness.control import inventory, lab, paths
from pyharness.control.ansible import Ansible, PlaybookFailed
from pyharness.gen import generator as g
from pyharness.gen import interpreter
from pyharness.gen.client import AsyncClient, Client
from pyharness.gen.driver_load import DriverLoad
from pyharness.gen.driver_load import describe as describe_load
from pyharness.history import INVOKE, HistoryWriter, Op, store
from pyharness.nemesis import partition, registry, targets
from pyharness.options import (
    Option,
    distinct,
    interval,
    one_of,
    parsed_by,
)
from pyharness.report.export import export_edn
from pyharness.report.junit import write_junit
from pyharness.report.page import write_report
from pyharness.report.progress import LiveStatus, failure_notes, results_table
from pyharness.run.analysis import standard_checkers
from pyharness.run.options import (
    EXIT_INVALID,
    EXIT_UNKNOWN,
    EXIT_VALID,
    VERDICTS,
    TestOptions,
    UsageError,
)
from pyharness.workloads.base import Workload

log = logging.getLogger("pyharness")

# --- Every option's type and range, checked before anything touches a host.

ENGINES = ("auto", "async", "threads")
MAX_LAB_NODES = 250  # as `pyharness lab up --nodes`: the lab's /24 and its bridge


def etcd_releases() -> dict[str, Any]:
    """The etcd role's release catalogue (roles/etcd_member), version -> entry."""
    d = yaml.safe_load((paths.ROOT / "roles" / "etcd_member" / "defaults" / "main.yml")
                       .read_text())
    return dict(d.get("etcd_releases") or {})


def _store_dir(p: Path) -> str | None:
    return "a directory (or a path to make one at)" if p.exists() and not p.is_dir() else None


def _not_dir(p: Path) -> str | None:
    return "a file, not a directory" if p.is_dir() else None


OPTIONS: tuple[Option, ...] = distinct((
    Option("workload", "--workload", "str", one_of(workloads.names)),
    Option("nemesis", "--nemesis", "str", parsed_by(nemesis.parse_spec)),
    Option("nemesis_targets", "--nemesis-targets", "str", parsed_by(targets.parse),
           nullable=True),
    Option("nemesis_agent", "--no-nemesis-agent", "bool", invert=True),
    Option("connect_backoff", "--connect-backoff", "float",
           interval(0, 60, what="seconds")),
    Option("engine", "--engine", "str", one_of(lambda: ENGINES)),
    Option("time_limit", "--time-limit", "float",
           interval(0, 86400, lo_open=True, what="seconds")),
    Option("concurrency", "--concurrency", "int", interval(1, 1000, integer=True)),
    Option("rate", "--rate", "float", interval(0, 100_000, lo_open=True, what="ops per second")),
    Option("inventory", "--inventory", "path", nullable=True),  # read by inventory.load
    Option("db", "--db", "str", one_of(lambda: ("managed", "existing"))),
    Option("leave_db_running", "--leave-db-running", "bool"),
    Option("seed", "--seed", "int", interval(0, 2**63 - 1, integer=True, hi_text="2**63-1"),
           nullable=True),
    Option("store", "--store", "path", _store_dir),
    Option("op_timeout", "--op-timeout", "float", interval(0, 600, lo_open=True, what="seconds")),
    Option("recovery_time", "--recovery-time", "float", interval(0, 3600, what="seconds")),
    Option("nemesis_interval", "--nemesis-interval", "float",
           interval(0, 3600, lo_open=True, what="seconds")),
    Option("lab_nodes", "--nodes", "int", interval(1, MAX_LAB_NODES, integer=True)),
    Option("junit", "--junit", "path", _not_dir, nullable=True),
    Option("json_out", "--json", "bool"),
    Option("api", "--api", "str", one_of(lambda: ("v2", "v3"))),
    Option("serializable", "--serializable", "bool"),
    Option("snapshot_count", "--snapshot-count", "int",
           interval(1, 10_000_000, integer=True), nullable=True),
    Option("snapshot_catchup_entries", "--snapshot-catchup-entries", "int",
           interval(1, 10_000_000, integer=True), nullable=True),
    Option("compaction_batch_limit", "--compaction-batch-limit", "int",
           interval(1, 10_000_000, integer=True), nullable=True),
    Option("disk_write_iops", "--disk-write-iops", "int",
           interval(1, 10_000_000, integer=True), nullable=True),
    Option("etcd_version", "--etcd-version", "str", one_of(lambda: sorted(etcd_releases())),
           nullable=True),
    *workloads.options(),  # every workload's own, from its module
    *registry.options(),  # every fault's own, from its registration
))
BY_FIELD = {o.field: o for o in OPTIONS}
BY_KEY = {o.key: o for o in OPTIONS}


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"  # -1, not -1.0: as it was typed
    return str(v) if isinstance(v, Path) else repr(v) if isinstance(v, str) else f"{v}"


def engine_client(opts: TestOptions, wl: Workload) -> Client | AsyncClient:
    """The client the interpreter runs: the workload's event-loop client
    unless ``--engine threads`` (or it has none), else its threaded one."""
    if opts.engine != "threads" and wl.async_client is not None:
        return wl.async_client
    return wl.client


def validate(opts: TestOptions, where: Mapping[str, str] | None = None) -> None:
    """Check every option, the grudge file's syntax included, touching no
    host and making nothing. ``where`` names where a field's value came from
    (a scenario file's ``FILE:LINE: key``); the default is its flag. Raises
    UsageError with one line naming the option, the value and what is allowed."""
    where = where or {}

    def label(f: str) -> str:
        return where.get(f, BY_FIELD[f].flag)

    def usage(f: str, message: str) -> UsageError:
        # The nemesis' parsers name their flag; a scenario names its key instead.
        flag = BY_FIELD[f].flag
        if message.startswith(flag + " "):
            message = message[len(flag) + 1:]
        return UsageError(f"{label(f)} {message}")

    for o in OPTIONS:
        v = o.get(opts)
        shown = (not v) if o.invert and isinstance(v, bool) else v
        expected = o.expected(v)
        if expected is None:
            continue
        if o.field in ("nemesis", "nemesis_targets") and isinstance(v, str):
            raise usage(o.field, expected)  # the parser's own words
        raise usage(o.field, f"must be {expected}, got {_show(shown)}")
    faults = nemesis.parse_spec(opts.nemesis)
    grudge_file = opts.faults.get("grudge_file")
    if "partition-grudge" in faults and grudge_file is None:
        raise usage("nemesis", "partition-grudge needs --grudge-file FILE")
    if grudge_file is not None:
        problem = grudge_syntax(grudge_file)
        if problem is not None:
            raise usage("grudge_file", problem)
    if opts.db == "existing" and opts.inventory is None:
        raise usage("db", "existing needs --inventory: the cluster to validate")
    if opts.serializable and opts.api != "v3":
        raise usage("serializable", "needs --api v3 (for v2 use --no-quorum)")
    # A workload's own rules first (--no-quorum needs --api v2), then: a
    # workload's option given for another workload would do nothing.
    for name in dict.fromkeys([opts.workload, *map(workloads.owner, opts.workload_options)]):
        problem = workloads.check(name, opts) if name is not None else None
        if problem is not None:
            raise usage(*problem)
    for f in opts.workload_options:
        belongs = workloads.owner(f)
        if belongs != opts.workload:
            raise usage(f, f"needs --workload {belongs}")
    if opts.engine == "async" and not workloads.has_async(opts.workload, opts.api):
        raise usage("engine", f"async has no client for --workload {opts.workload} "
                              f"--api {opts.api} (it has: {workloads.async_names()})")
    wanted = workloads.apis(opts.workload)
    if opts.api not in wanted:
        why = workloads.api_why(opts.workload)
        raise usage("workload", f"{opts.workload} needs --api {' or '.join(wanted)}"
                                + (f" ({why})" if why else ""))
    for name in ("snapshot_count", "compaction_batch_limit", "disk_write_iops"):
        if getattr(opts, name) is not None and opts.db == "existing":
            raise usage(name, "configures the members, which --db existing never does")
    if opts.snapshot_catchup_entries is not None:
        if opts.db == "existing":
            raise usage("snapshot_catchup_entries",
                        "configures the members, which --db existing never does")
        v = opts.etcd_version
        if v is not None and tuple(int(x) for x in v.split(".")[:3]) < (3, 5, 14):
            raise usage("snapshot_catchup_entries",
                        f"needs etcd 3.5.14 or later (the flag came to 3.5 in 3.5.14), "
                        f"not --etcd-version {v}")
    if opts.etcd_version is not None and opts.db == "existing":
        raise usage("etcd_version", "installs a release, which --db existing never does")


def grudge_syntax(path: Path) -> str | None:
    """What is wrong with the grudge file itself (None if nothing), before
    the inventory is known; its hosts are checked against the inventory's
    once it is read (:func:`check_grudge_hosts`)."""
    if path.is_dir():
        return f"{path}: is a directory, not a grudge file"
    if not path.exists():
        return f"{path}: no such file"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None  # load_grudge says what is wrong, with the line
    # Every name the file mentions counts as known: only its shape is judged here.
    names: list[str] = []
    if isinstance(data, dict):
        for host, peers in data.items():
            names.append(str(host))
            if isinstance(peers, list):
                names.extend(str(p) for p in peers)
    try:
        partition.load_grudge(path, names)
    except ValueError as e:
        return str(e).removeprefix("--grudge-file ")
    return None


def check_grudge_hosts(opts: TestOptions, nodes: Sequence[str]) -> None:
    """A grudge for partition-grudge must name hosts of the inventory."""
    grudge_file = opts.faults.get("grudge_file")
    if grudge_file is None or "partition-grudge" not in nemesis.parse_spec(opts.nemesis):
        return
    try:
        partition.load_grudge(grudge_file, nodes)
    except ValueError as e:
        raise UsageError(str(e)) from None


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: heal, then exit."""


def _fault_kinds(spec: str) -> list[str]:
    kinds = (registry.kind_of(p) for p in nemesis.parse_spec(spec))
    return list(dict.fromkeys(k.name for k in kinds if k is not None))


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


@dataclass
class Outcome:
    """What one run came to: its exit code, and what ``test-all`` tabulates."""

    code: int
    run_dir: Path
    verdict: str  # valid, invalid, unknown, or error: the run itself failed
    ops: int  # client ops completed (ok, fail or info)
    error: str | None = None
    interrupted: bool = False  # Ctrl-C or SIGTERM: a caller running many should stop


def lab_host_names(n: int) -> list[str]:
    """The hosts a lab of ``n`` will have (the lab role names them n1..nN)."""
    return [f"n{i}" for i in range(1, n + 1)]


# Beside one connection per worker: the history, logs, the nemesis agent's
# pipes and ansible-runner's files, with room to spare.
FDS_BESIDE_WORKERS = 256


def ensure_file_limit(concurrency: int) -> None:
    """Raise the soft limit on open files as far as the hard one allows, and
    refuse, before anything runs, a concurrency it still cannot hold."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = concurrency * 2 + FDS_BESIDE_WORKERS  # a worker may hold two while reopening
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(hard, max(need, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft != resource.RLIM_INFINITY and soft < need:
        raise UsageError(f"--concurrency {concurrency} needs about {need} open files, but the "
                         f"limit is {soft} (hard limit {hard}): raise it with `ulimit -n`")


def run(opts: TestOptions, console: Console, where: Mapping[str, str] | None = None) -> int:
    """One test; the exit code. See :func:`execute`."""
    return execute(opts, console, where).code


def execute(opts: TestOptions, console: Console,
            where: Mapping[str, str] | None = None) -> Outcome:
    """Validate every option, then run the test. Bad input raises UsageError
    before a host is touched, a lab brought up or a run directory made."""
    validate(opts, where)
    ensure_file_limit(opts.concurrency)
    inv = opts.inventory
    if inv is None:
        if not lab.is_up():
            # The grudge's hosts must be the lab's before the lab is made for it.
            check_grudge_hosts(opts, lab_host_names(opts.lab_nodes))
            console.log(f"bringing up the local lab ({opts.lab_nodes} hosts)")
            lab.up(opts.lab_nodes)
        inv = paths.LAB_INVENTORY
    nodes = inventory.load(inv)
    check_grudge_hosts(opts, [n.name for n in nodes])
    tls = next((n.tls for n in nodes if n.tls is not None), None)
    auth = next((n.auth for n in nodes if n.auth is not None), None)
    if (tls is not None or auth is not None) and opts.api != "v3":
        raise UsageError(f"{inv}: the cluster uses TLS or authentication; run its clients "
                         "with --api v3")
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**31)
    opts.seed = seed
    # Recorded as used, defaults too.
    opts.workload_options = workloads.option_values(opts.workload, opts.workload_options)
    opts.faults = registry.option_values(opts.faults)
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
        # What each --nemesis name is a kind of (partition-halves: partition),
        # so the faults checker knows which ops to expect without the registry.
        "fault-kinds": _fault_kinds(opts.nemesis),
    }
    test["key_prefix"] = f"/pyharness/{test['run_id']}"
    if tls is not None:  # the v3 clients read these
        test["options"].update(tls_ca=tls.ca, tls_cert=tls.cert, tls_key=tls.key)
    if auth is not None:
        test["options"].update(auth_user=auth[0], auth_password_file=auth[1])
    store.write_json(run_dir / "test.json", test)
    extravars: dict[str, Any] = {"store_dir": str(run_dir.resolve()),
                                 **workloads.cluster_vars(opts.workload)}
    if opts.etcd_version is not None:  # over the inventory's, for every playbook
        extravars["etcd_version"] = opts.etcd_version
    if opts.snapshot_count is not None:
        extravars["etcd_snapshot_count"] = opts.snapshot_count
    for name in ("snapshot_catchup_entries", "compaction_batch_limit", "disk_write_iops"):
        if getattr(opts, name) is not None:
            extravars[f"etcd_{name}"] = getattr(opts, name)
    ansible = Ansible(inv, run_dir / "ansible", extravars)
    try:
        with _signals_interrupt():
            return _run(opts, test, nodes, ansible, run_dir, console)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _run(opts: TestOptions, test: dict[str, Any], nodes: list[inventory.Node],
         ansible: Ansible, run_dir: Path, console: Console) -> Outcome:
    wl = workloads.make(opts.workload, {**vars(opts), "out_dir": run_dir})
    names = [n.name for n in nodes]
    try:
        nem = nemesis.build(opts.nemesis, {**vars(opts), **registry.option_values(opts.faults),
                                             "warn": _warner(console)}, ansible,
                            names)
    except ValueError as e:
        raise UsageError(str(e)) from None
    history = HistoryWriter(run_dir / "history.jsonl")
    status = LiveStatus(console, opts.time_limit)
    load: DriverLoad | None = None
    state: dict[str, Any] | None = None
    failure: str | None = None
    interrupted = False
    try:
        if opts.db == "existing":
            # Someone else's cluster: no install, no wipe; only check that
            # every member answers before loading it.
            _check_reachable(nodes)
        else:
            console.log(f"setting up etcd on {len(nodes)} hosts")
            r = ansible.run("setup.yml")
            _log_leftovers(r.task_output("Clear what an earlier run left"), console)
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
        with status, DriverLoad() as load:
            status.driver = load
            status.start_load()
            interpreter.run(test, gen, engine_client(opts, wl), nem.nemesis, names,
                            opts.concurrency,
                            history, rng=rng, start_ns=start, on_op=status.on_op,
                            on_log=status.set_phase,
                            stop=threading.Event(),
                            connect_backoff_s=opts.connect_backoff)
        state = _collect_cluster_state(opts, test, run_dir, console)
    except (PlaybookFailed, ClusterUnreachable) as e:
        failure = str(e)
    except KeyboardInterrupt as e:
        failure = "terminated" if isinstance(e, Terminated) else "interrupted"
        interrupted = True
    except Exception as e:
        log.exception("run failed")
        failure = f"{type(e).__name__}: {e}"
    finally:
        history.close()
        if load is not None:
            _record_driver_load(load, test, run_dir, console)
        # As in Jepsen: logs are collected and the cluster released before
        # the analysis, which may take long and needs the logs.
        _cleanup(opts, ansible, nem, test, console)
    done = sum(1 for op in history.ops if op.is_client and op.type != INVOKE)
    if failure is not None:
        console.print(f"[red]error:[/red] {escape(failure)}", soft_wrap=True, highlight=False)
        console.print(f"history and logs: {run_dir}")
        return Outcome(EXIT_UNKNOWN, run_dir, "error", done, failure, interrupted)
    console.log("checking")
    ops = history.ops
    checkers = [*wl.checkers, *standard_checkers(run_dir), LogPatternChecker(run_dir)]
    if opts.api == "v3":  # state None: not collected, which the checker calls unknown
        checkers.append(ConsistencyChecker(state, expected_members=list(test["nodes"])))
    results = compose(checkers, test, ops)
    code = report(results, test, ops, run_dir, opts, console)
    return Outcome(code, run_dir, VERDICTS[code], done)


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
    for note in failure_notes(results):
        console.print(note, markup=False, highlight=False, soft_wrap=True)
    valid = results["valid?"]
    verdict = {True: "[green]valid[/green]", False: "[red]INVALID[/red]"}.get(
        valid, "[yellow]unknown[/yellow]")  # type: ignore[call-overload]
    console.print(f"verdict: {verdict}   ({run_dir / 'report.html'})")
    if valid is True:
        return EXIT_VALID
    return EXIT_INVALID if valid is False else EXIT_UNKNOWN


def _collect_cluster_state(opts: TestOptions, test: dict[str, Any], run_dir: Path,
                           console: Console) -> dict[str, Any] | None:
    """After the final reads, before teardown wipes them: every member's
    revisions, HashKV at one revision and the workload's keys, for the
    consistency checker; and what each member says its version is. v2 keys
    live where neither HashKV nor v3 ranges look, so v2 runs skip it."""
    if opts.api != "v3":
        return None
    from pyharness.etcd import cluster_state

    console.log("comparing the members' state")
    try:
        state = cluster_state.collect(cluster_state.members_from_test(test),
                                      prefix=test["key_prefix"] + "/", timeout=30.0,
                                      extras=True)
    except Exception as e:  # the consistency verdict is then unknown, not the whole run's
        log.exception("collecting the members' state failed")
        _warner(console)(f"could not collect the members' state: {e}")
        return None
    store.write_json(run_dir / "cluster-state.json", state)
    versions = {name: (m.get("version") or {}).get("answer", {}).get("etcdserver")
                for name, m in state.get("members", {}).items()}
    test["member-versions"] = versions
    store.write_json(run_dir / "test.json", test)
    return state


def _record_driver_load(load: DriverLoad, test: dict[str, Any], run_dir: Path,
                        console: Console) -> None:
    """Keep how busy the driver was in test.json, and say so; warn when the
    driver, not etcd, was the limit."""
    summary = load.summary()
    test["driver"] = summary
    store.write_json(run_dir / "test.json", test)
    line = describe_load(summary)
    if line is None:
        return
    log.info("%s", line)
    if summary["saturated-share"] >= 0.2:
        console.print(f"[yellow]warning:[/yellow] {escape(line)}: the driver, not etcd, "
                      "limited the load; the report's ok/s is what it reached",
                      soft_wrap=True, highlight=False)
    else:
        console.log(escape(line))


def _warner(console: Console) -> Callable[[str], None]:
    def warn(message: str) -> None:
        log.warning("%s", message)
        console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True,
                      highlight=False)
    return warn


def _log_leftovers(outputs: Mapping[str, str], console: Console) -> None:
    """Say what setup found of an earlier run (and removed): a cluster that
    was silently reused would carry its data, faults and state into this one."""
    for host, out in sorted(outputs.items()):
        line = next((ln for ln in out.splitlines() if ln.startswith("pyharness: found")), "")
        found = line[len("pyharness: found"):].strip()
        if found and found != "nothing":
            log.info("setup: %s: an earlier run left %s; removed", host, found)
            console.log(f"setup: {escape(host)}: an earlier run left {escape(found)}; removed")


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


__all__ = ["EXIT_INVALID", "EXIT_UNKNOWN", "EXIT_VALID", "OPTIONS", "UNKNOWN", "Option", "Outcome",
           "TestOptions", "UsageError", "execute", "run", "validate"]
