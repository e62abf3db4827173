"""A pre-started Ansible run that applies the next fault the moment it is asked.

A partition through a plain playbook takes effect about 0.9 s after it is
asked for on the lab (5 hosts, 2 CPUs), and almost none of that is the
fault: ``ansible-playbook`` starts, reads the inventory and the playbook,
and opens an SSH connection per host before the first rule goes in. The agent
pays all that *ahead* of the request. It is one ``ansible-playbook`` run of
``playbooks/nemesis-agent.yml`` that

1. opens a persistent SSH connection (ControlPersist) to every host;
2. waits, on the controller, for one request in a FIFO;
3. runs the requested role tasks (``partition/apply.yml``, ...) on the
   requested hosts, over the open connections, and ends.

``POOL_SIZE`` agents are kept warm: a request goes to the oldest one already
waiting, and a replacement starts as soon as it has served. Under load an
agent takes seconds to warm up, longer than the schedule leaves between two
faults; with a second one waiting, a request never waits for a start-up.
Each agent is a process of its own, with a larger share of the CPU than
the driver and the cluster (a cgroup of its own: :func:`_raise_priority`);
on the lab, where they share two CPUs, that makes faults under load three
times faster. Every request is an ordinary role task list, the
same ones the stand-alone playbooks run, and yields the same events; the
result is an ordinary :class:`PlaybookResult`.

Only the fault registry's steps go through the agent (each is one role
task file, :func:`pyharness.nemesis.registry.routes`); any other playbook
(heal.yml, setup.yml...) runs plainly. An agent watches the driver's pid and
gives up when it dies, and ``close`` ends the waiting agents and the SSH
masters.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyharness.control import paths
from pyharness.control.ansible import Ansible, PlaybookResult, host_failures
from pyharness.nemesis import registry

log = logging.getLogger(__name__)

_WAIT_SCRIPT = Path(__file__).with_name("agent_wait.py")
_READY_TIMEOUT_S = 60.0  # an agent not waiting by then is broken: run plainly
# Agents kept warm. One serves a request while the next is already waiting:
# under load an agent takes longer to warm up (about 3 s on the lab) than the
# schedule leaves between two faults, and a request would wait for it.
POOL_SIZE = 2
_RUN_TIMEOUT_S = 300.0


# The nemesis is the test's control plane: a fault that lands seconds late
# under load is a weaker test (and a slower schedule). On a busy host, and on
# the lab where driver, Ansible and every member share the CPUs, the agent's
# process, its ansible-playbook, workers and SSH masters get a higher CPU
# priority (needs root or CAP_SYS_NICE; else they keep the driver's).
AGENT_NICE = -10
# The cgroup (v1 cpu controller) the agents run in, and its weight against
# the default 1024 of every other session on the machine.
_CGROUP = Path("/sys/fs/cgroup/cpu/pyharness-nemesis")
_CGROUP_SHARES = 10240

# The agent runs ansible-runner in a process of its own, not in a thread of
# the driver: there it would share the driver's interpreter lock with every
# client thread, drain ansible-playbook's output late under load, and each
# task would wait on that.
_RUN_CODE = "import json, sys\nimport ansible_runner\nansible_runner.run(**json.load(sys.stdin))\n"


@dataclass
class _Finished:
    """What an agent's run left in its artifacts: its events and outcome."""

    events: list[dict[str, Any]]
    status: str
    rc: int | None
    stats: dict[str, Any]


class _Agent:
    """One ansible-runner run of the agent playbook, in a process of its own
    (its own session: Ctrl-C at the terminal is the driver's to handle). It
    never outlives the driver: its waiting step notices the driver is gone
    and ends the run."""

    def __init__(self, owner: AgentRunner, ident: str) -> None:
        self.ident = ident
        self.error: str | None = None
        self.artifacts = owner.data_dir / "artifacts" / ident
        # Each agent has its own FIFO, so that a request goes to the agent
        # chosen for it, and its own vars file, which its last play loads
        # (vars_files): the request's variables cost no task.
        self.fifo = owner.data_dir / f"{ident}.fifo"
        self.vars_file = owner.data_dir / f"{ident}.vars.json"
        with contextlib.suppress(FileNotFoundError):
            self.fifo.unlink()
        os.mkfifo(self.fifo, 0o600)
        self.vars_file.write_text("{}\n")
        kwargs = dict(
            private_data_dir=str(owner.data_dir),
            project_dir=str(paths.ROOT),
            playbook=str(paths.PLAYBOOKS / "nemesis-agent.yml"),
            inventory=str(owner.inventory),
            extravars={**owner.extravars, "agent_fifo": str(self.fifo),
                       "agent_vars_file": str(self.vars_file),
                       "agent_driver_pid": os.getpid(),
                       "agent_wait_script": str(_WAIT_SCRIPT),
                       "agent_max_wait": owner.max_wait_s},
            envvars=owner.env,
            artifact_dir=str(owner.data_dir / "artifacts"),
            ident=ident,
            quiet=True,
            rotate_artifacts=0,
            suppress_env_files=True,  # see pyharness.control.ansible
        )
        self.stderr = owner.data_dir / f"{ident}.stderr"
        with self.stderr.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", _RUN_CODE],
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=err, start_new_session=True,
                                         env={**os.environ, **owner.env})
        _raise_priority(self.proc.pid)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(kwargs, default=str).encode())
        self.proc.stdin.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 9)
        self.wait(10)

    def finished(self) -> _Finished | None:
        """The run's events and outcome, once its process has ended."""
        if self.alive():
            return None
        events = []
        for f in (self.artifacts / "job_events").glob("*.json"):
            with contextlib.suppress(OSError, ValueError):
                events.append(json.loads(f.read_text()))
        events.sort(key=lambda e: int(e.get("counter", 0)))
        status = _read(self.artifacts / "status")
        rc = _read(self.artifacts / "rc")
        if not status:
            tail = _read(self.stderr).strip().splitlines()[-1:]
            self.error = tail[0][:300] if tail else f"exited with {self.proc.returncode}"
            return None
        stats = next((e.get("event_data", {}) for e in reversed(events)
                      if e.get("event") == "playbook_on_stats"), {})
        return _Finished(events, status, int(rc) if rc.strip().lstrip("-").isdigit() else None,
                         dict(stats))

    def writer(self) -> int | None:
        """A write end of this agent's FIFO if the agent is waiting on it
        (it holds the read end), else None: still warming up."""
        try:
            return os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            return None

    def send(self, fd: int, request: Mapping[str, Any]) -> None:
        """Hand ``request`` to this agent: its variables to the vars file
        first, then the line its waiting step reads."""
        tmp = self.vars_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(request.get("vars") or {}))
        tmp.replace(self.vars_file)
        line = {k: v for k, v in request.items() if k != "vars"}
        try:
            os.write(fd, (json.dumps(line) + "\n").encode())
        finally:
            os.close(fd)

    def remove_files(self) -> None:
        for f in (self.fifo, self.vars_file):
            with contextlib.suppress(OSError):
                f.unlink()


def _raise_priority(pid: int) -> None:
    """Give the agent's process, and so everything it starts, a larger share
    of the CPU than the driver and the members.

    A nice value alone is not enough. With the kernel's autogroup scheduling
    (on by default) nice only weighs within a session, and ansible-runner's
    ``ansible-playbook``, each of its workers and each SSH master start a
    session of their own: each would get one share among the members',
    whatever its nice value. So the agent goes into a cgroup of its own with
    a larger CPU weight, which all its descendants inherit (autogroups apply
    only outside cgroups). Done before it has imported ansible_runner.
    Best effort: without root or the v1 cpu controller, only nice applies.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, pid, AGENT_NICE)
    except OSError as e:
        log.debug("nemesis agent keeps the driver's CPU priority: %s", e)
    try:
        _CGROUP.mkdir(exist_ok=True)
        (_CGROUP / "cpu.shares").write_text(f"{_CGROUP_SHARES}\n")
        (_CGROUP / "cgroup.procs").write_text(f"{pid}\n")
    except OSError as e:
        log.debug("nemesis agent runs without its CPU cgroup: %s", e)


def _remove_cgroup(wait_s: float = 2.0) -> None:
    """Remove the agents' cgroup once it is empty: the SSH masters just told
    to exit take a moment. It stays while another driver's agents run."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            _CGROUP.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.05)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


class AgentRunner:
    """Drop-in for :class:`Ansible` in the nemesis: ``run(playbook, extravars)``."""

    def __init__(self, inventory: Path | str, data_dir: Path,
                 extravars: Mapping[str, Any] | None = None,
                 max_wait_s: float = 900.0, persist_s: int = 120,
                 warn: Callable[[str], None] | None = None) -> None:
        # Absolute: ansible-runner runs the agent from its own directory, where
        # a relative FIFO path (from a relative --store) names nothing.
        data_dir = Path(data_dir).resolve()
        self.warn = warn
        self._warned = False
        self.inventory = str(Path(inventory).resolve()) if not str(inventory).endswith(",") \
            else str(inventory)
        self.data_dir = data_dir
        self.extravars = dict(extravars or {})
        self.max_wait_s = max_wait_s
        data_dir.mkdir(parents=True, exist_ok=True)
        # Resolved: ansible-runner would take a relative path that doesn't
        # exist from its own directory for inventory *content*.
        self.plain = Ansible(self.inventory, data_dir / "plain", extravars)
        # Unix socket paths are short (108 bytes): keep the masters in /tmp.
        self.cp_dir = Path(tempfile.mkdtemp(prefix="pyh-cp-"))
        venv_bin = str(Path(sys.executable).parent)
        self.env = {
            "ANSIBLE_CONFIG": str(paths.ROOT / "ansible.cfg"),
            "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_SSH_ARGS": f"-o ControlMaster=auto -o ControlPersist={persist_s}s",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.cp_dir),
        }
        self._lock = threading.Lock()
        self._seq = 0
        self._pool: list[_Agent] = []  # oldest first
        self._last: _Agent | None = None  # the last agent that ended, for messages
        self._closed = False
        self._fill()

    def _fill(self) -> None:
        """Start agents until ``POOL_SIZE`` are warm or warming."""
        self._prune()
        while len(self._pool) < POOL_SIZE:
            self._seq += 1
            try:
                self._pool.append(_Agent(self, f"{self._seq:03d}-agent"))
            except Exception:  # no agent: every op runs as a plain playbook
                log.exception("nemesis agent failed to start")
                return

    def _prune(self) -> None:
        """Drop agents whose run ended (an error, or no request in time)."""
        alive = []
        for agent in self._pool:
            if agent.alive():
                alive.append(agent)
            else:
                self._last = agent
                agent.remove_files()
        self._pool = alive

    def _ready(self, deadline: float) -> tuple[_Agent, int] | None:
        """The oldest agent waiting for a request, with a write end of its
        FIFO; None if none is waiting by ``deadline`` or every agent ended."""
        while time.monotonic() < deadline:
            self._prune()
            if not self._pool:
                return None
            for agent in self._pool:
                fd = agent.writer()
                if fd is not None:
                    return agent, fd
            time.sleep(0.01)
        return None

    def warm(self, timeout: float = _READY_TIMEOUT_S) -> bool:
        """Wait until every agent of the pool waits for a request; False if
        one is not by ``timeout``. A benchmark calls it so that its first
        fault does not measure the agents' start-up; a test needs not (its
        setup takes longer than that)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while time.monotonic() < deadline:
                self._prune()
                fds = [agent.writer() for agent in self._pool]
                for fd in fds:
                    if fd is not None:
                        os.close(fd)
                if self._pool and None not in fds:
                    return True
                time.sleep(0.05)
        return False

    def run(self, playbook: str, extravars: Mapping[str, Any] | None = None,
            limit: str | None = None) -> PlaybookResult:
        route = registry.routes().get(playbook)
        if route is None or limit is not None or self._closed:
            return self.plain.run(playbook, extravars, limit)
        with self._lock:
            return self._run(playbook, route, dict(extravars or {}))

    def _run(self, playbook: str, route: tuple[str, str],
             extravars: dict[str, Any]) -> PlaybookResult:
        hosts_var = extravars.pop("fault_hosts", None)
        request = {"action": "run", "role": route[0], "tasks_from": route[1],
                   "vars": extravars, "hosts": self._hosts(hosts_var)}
        t0 = time.monotonic()
        ready = self._ready(t0 + _READY_TIMEOUT_S)
        if ready is None:
            self._fell_back(playbook, self._pool[0] if self._pool else self._last)
            self._stop_agents()
            self._fill()
            return self.plain.run(playbook, {**extravars, **({"fault_hosts": hosts_var}
                                                             if hosts_var else {})})
        agent, fd = ready
        self._pool.remove(agent)
        agent.send(fd, request)
        agent.wait(_RUN_TIMEOUT_S)
        agent.remove_files()
        # Replace it while the caller records this op; the other is warm.
        self._fill()
        return self._result(playbook, agent, time.monotonic() - t0)

    def _fell_back(self, playbook: str, agent: _Agent | None) -> None:
        """Say once, where the user sees it, why faults run slower."""
        if agent is None:
            why = "it could not be started"
        elif not agent.alive():
            r = agent.finished()
            why = (f"its run ended ({r.status}; see {agent.artifacts})" if r is not None
                   else f"it failed: {agent.error} (see {agent.stderr})")
        else:
            why = f"it did not take a request within {_READY_TIMEOUT_S:g} s"
        log.warning("nemesis agent not ready (%s); running %s as a playbook", why, playbook)
        if not self._warned:
            self._warned = True
            msg = (f"nemesis agent unavailable: {why}. Faults run as plain playbooks, which "
                   "start Ansible anew each time: about 0.5 s slower per fault on the lab")
            if self.warn is not None:
                self.warn(msg)

    def _hosts(self, hosts_var: str | None) -> list[str]:
        if hosts_var:
            return [h for h in hosts_var.split(",") if h]
        from pyharness.control.inventory import load
        if not hasattr(self, "_all_hosts"):
            self._all_hosts = [n.name for n in load(Path(self.inventory))]
        return list(self._all_hosts)

    def _result(self, playbook: str, agent: _Agent, elapsed: float) -> PlaybookResult:
        r = agent.finished()
        if r is None:  # still running after the timeout, or ansible-runner broke
            if agent.alive():
                agent.kill()
                why = "timed out"
            else:
                why = f"failed: {agent.error} (see {agent.stderr})"
            return PlaybookResult(playbook=playbook, rc=-1, status=why, elapsed_s=elapsed,
                                  artifact_dir=agent.artifacts)
        events = r.events
        failures = host_failures(events)
        result = PlaybookResult(playbook=playbook, rc=r.rc if r.rc is not None else -1,
                                status=r.status, elapsed_s=elapsed,
                                artifact_dir=agent.artifacts,
                                failures=failures, events=events, stats=r.stats)
        log.info("nemesis agent: %s %s in %.2fs", playbook, result.status, elapsed)
        if not result.ok:
            log.error("nemesis agent: %s", result.error_line())
        return result

    def _stop_agents(self) -> None:
        agents, self._pool = self._pool, []
        for agent in agents:
            deadline = time.monotonic() + 30
            while agent.alive() and time.monotonic() < deadline:
                fd = agent.writer()
                if fd is not None:
                    agent.send(fd, {"action": "exit"})
                    break
                time.sleep(0.01)
        for agent in agents:
            agent.wait(30)
            if agent.alive():
                log.warning("nemesis agent %s did not stop; killing it", agent.ident)
                agent.kill()
            agent.remove_files()

    def close(self) -> None:
        """End the waiting agent and the SSH masters. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop_agents()
            for sock in self.cp_dir.iterdir() if self.cp_dir.exists() else []:
                subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={sock}", "unused"],
                               capture_output=True, timeout=10, check=False)
            shutil.rmtree(self.cp_dir, ignore_errors=True)
            _remove_cgroup()
