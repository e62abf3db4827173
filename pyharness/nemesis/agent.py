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

As soon as one agent has served its request the next one is started, so it is
warm by the time the schedule asks again. Every request is an ordinary role
task list, the same ones the stand-alone playbooks run, and yields the same
events; the result is an ordinary :class:`PlaybookResult`.

Only the fault registry's steps go through the agent (each is one role
task file, :func:`pyharness.nemesis.registry.routes`); any other playbook
(heal.yml, setup.yml...) runs plainly. An agent watches the driver's pid and gives up when it dies,
and ``close`` ends the waiting agent and the SSH masters.
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
from pathlib import Path
from typing import Any

import ansible_runner

from pyharness.control import paths
from pyharness.control.ansible import Ansible, HostFailure, PlaybookResult
from pyharness.nemesis import registry

log = logging.getLogger(__name__)

_WAIT_SCRIPT = Path(__file__).with_name("agent_wait.py")
_READY_TIMEOUT_S = 60.0  # an agent not waiting by then is broken: run plainly
_RUN_TIMEOUT_S = 300.0


def _failure_message(res: Mapping[str, Any]) -> str:
    for line in str(res.get("stdout") or "").splitlines():
        if line.startswith("pyharness: unverified"):
            return line.strip()[:400]
    for k in ("msg", "stderr", "reason"):
        v = res.get(k)
        if v:
            lines = [line.strip() for line in str(v).strip().splitlines() if line.strip()]
            return " / ".join(lines[-3:])[:400]
    return "no message"


class _Agent:
    """One ansible-runner run of the agent playbook, in a daemon thread: an
    idle agent must never keep the driver's interpreter from exiting (its
    waiting step notices the driver is gone and ends the run)."""

    def __init__(self, owner: AgentRunner, ident: str) -> None:
        self.ident = ident
        self.runner: Any = None
        self.error: BaseException | None = None
        kwargs = dict(
            private_data_dir=str(owner.data_dir),
            project_dir=str(paths.ROOT),
            playbook=str(paths.PLAYBOOKS / "nemesis-agent.yml"),
            inventory=str(owner.inventory),
            extravars={**owner.extravars, "agent_fifo": str(owner.fifo),
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

        def run() -> None:
            try:
                self.runner = ansible_runner.run(**kwargs)
            except BaseException as e:  # recorded; the op then reports it
                self.error = e

        self.thread = threading.Thread(target=run, name=f"nemesis-agent-{ident}", daemon=True)
        self.thread.start()

    def alive(self) -> bool:
        return self.thread.is_alive()


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
        self.fifo = data_dir / "agent.fifo"
        with contextlib.suppress(FileNotFoundError):
            self.fifo.unlink()
        os.mkfifo(self.fifo, 0o600)
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
        self._agent: _Agent | None = None
        self._closed = False
        self._spawn()

    def _spawn(self) -> None:
        self._seq += 1
        try:
            self._agent = _Agent(self, f"{self._seq:03d}-agent")
        except Exception:  # no agent: every op runs as a plain playbook
            log.exception("nemesis agent failed to start")
            self._agent = None

    def _send(self, request: Mapping[str, Any], deadline: float) -> bool:
        """Write one request line; False if no agent came to read it."""
        line = (json.dumps(request) + "\n").encode()
        while time.monotonic() < deadline:
            if self._agent is None or not self._agent.alive():
                return False
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:  # ENXIO: no reader yet (still warming up)
                    raise
                time.sleep(0.01)
                continue
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
            return True
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
        agent = self._agent
        t0 = time.monotonic()
        if agent is None or not self._send(request, t0 + _READY_TIMEOUT_S):
            self._fell_back(playbook, agent)
            self._stop_agent()
            self._spawn()
            return self.plain.run(playbook, {**extravars, **({"fault_hosts": hosts_var}
                                                             if hosts_var else {})})
        agent.thread.join(_RUN_TIMEOUT_S)
        self._spawn()  # warm up the next one while the caller records this one
        return self._result(playbook, agent, time.monotonic() - t0)

    def _fell_back(self, playbook: str, agent: _Agent | None) -> None:
        """Say once, where the user sees it, why faults run slower."""
        if agent is None:
            why = "it could not be started"
        elif agent.error is not None:
            why = f"it failed: {type(agent.error).__name__}: {agent.error}"
        elif not agent.alive():
            r = agent.runner
            why = (f"its run ended ({r.status}; see {self.data_dir / 'artifacts' / agent.ident})"
                   if r is not None else "its run ended")
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
        r = agent.runner
        if r is None:  # still running after the timeout, or ansible-runner broke
            why = "timed out" if agent.alive() else f"failed: {agent.error!r}"
            return PlaybookResult(playbook=playbook, rc=-1, status=why, elapsed_s=elapsed,
                                  artifact_dir=self.data_dir / "artifacts" / agent.ident)
        events = list(r.events)
        failures = []
        for ev in events:
            kind = ev.get("event")
            data = ev.get("event_data", {})
            if kind in ("runner_on_failed", "runner_on_unreachable") \
                    and not data.get("ignore_errors"):
                failures.append(HostFailure(
                    host=data.get("host", "?"), task=data.get("task", "?"),
                    message=_failure_message(data.get("res", {})),
                    unreachable=kind == "runner_on_unreachable"))
        status = r.status if not agent.alive() else "timeout"
        result = PlaybookResult(playbook=playbook, rc=r.rc if r.rc is not None else -1,
                                status=status, elapsed_s=elapsed,
                                artifact_dir=self.data_dir / "artifacts" / agent.ident,
                                failures=failures, events=events, stats=dict(r.stats or {}))
        log.info("nemesis agent: %s %s in %.2fs", playbook, result.status, elapsed)
        if not result.ok:
            log.error("nemesis agent: %s", result.error_line())
        return result

    def _stop_agent(self) -> None:
        agent, self._agent = self._agent, None
        if agent is None or not agent.alive():
            return
        self._send_exit(agent)
        agent.thread.join(30)
        if agent.alive():
            log.warning("nemesis agent %s did not stop", agent.ident)

    def _send_exit(self, agent: _Agent) -> None:
        self._agent = agent
        try:
            self._send({"action": "exit"}, time.monotonic() + 30)
        finally:
            self._agent = None

    def close(self) -> None:
        """End the waiting agent and the SSH masters. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop_agent()
            for sock in self.cp_dir.iterdir() if self.cp_dir.exists() else []:
                subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={sock}", "unused"],
                               capture_output=True, timeout=10, check=False)
            shutil.rmtree(self.cp_dir, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                self.fifo.unlink()
