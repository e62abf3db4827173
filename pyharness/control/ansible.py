"""Running playbooks through ansible-runner, and reading what happened.

Every change on a host is made by a playbook in ``playbooks/``; the driver
only chooses which one to run and with what extra vars. Each run keeps its
ansible-runner artifacts (stdout, events, status) under the run's store, so
a failed setup can be read after the fact.

A failed run is summarized in one line that names the host, the task and
the cause: that is what users see first.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import ansible_runner

from pyharness.control import paths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostFailure:
    host: str
    task: str
    message: str
    unreachable: bool = False

    def line(self) -> str:
        if self.unreachable:
            return f"host {self.host} is unreachable: {self.message}"
        return f"host {self.host}: task '{self.task}' failed: {self.message}"


@dataclass
class PlaybookResult:
    playbook: str
    rc: int
    status: str
    elapsed_s: float
    artifact_dir: Path
    failures: list[HostFailure] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.rc == 0 and self.status == "successful" and not self.failures

    def error_line(self) -> str:
        if self.failures:
            more = f" (and {len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
            return self.failures[0].line() + more
        out = self.artifact_dir / "stdout"
        why = ""
        if out.is_file():  # e.g. ansible-runner's own "command was not found"
            lines = [ln.strip() for ln in out.read_text(errors="replace").splitlines()
                     if ln.strip()]
            why = f": {lines[-1][:300]}" if lines else ""
        return f"playbook {self.playbook} {self.status} (rc {self.rc}){why}; see {out}"

    def changed_hosts(self) -> set[str]:
        return {h for h, n in (self.stats.get("changed") or {}).items() if n}

    def task_output(self, task: str) -> dict[str, str]:
        """What ``task`` printed on each host it ran on, failed or not."""
        out: dict[str, str] = {}
        for ev in self.events:
            data = ev.get("event_data", {})
            if ev.get("event") in ("runner_on_ok", "runner_on_failed") \
                    and data.get("task") == task:
                out[data.get("host", "?")] = str(data.get("res", {}).get("stdout") or "")
        return out

    def task_end_ns(self, task: str) -> dict[str, int]:
        """Wall-clock ns at which ``task`` finished on each host."""
        out: dict[str, int] = {}
        for ev in self.events:
            data = ev.get("event_data", {})
            if ev.get("event") == "runner_on_ok" and data.get("task") == task:
                stamp = data.get("end") or ev.get("created")
                if stamp:
                    out[data.get("host", "?")] = _iso_ns(stamp)
        return out


def _never() -> bool:
    return False


def _iso_ns(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1e9)


def host_failures(events: list[dict[str, Any]]) -> list[HostFailure]:
    """The failures that stopped a host, from a run's events.

    A host stops at a failure unless a rescue caught it: a failure followed
    by more tasks on its host was rescued, and the play went on (heal.yml's
    steps do this, then fail naming each step)."""
    last_task = {ev.get("event_data", {}).get("host"): i for i, ev in enumerate(events)
                 if (ev.get("event") or "").startswith("runner_on_")}
    failures = []
    for i, ev in enumerate(events):
        kind = ev.get("event")
        if kind in ("runner_on_failed", "runner_on_unreachable"):
            data = ev.get("event_data", {})
            if data.get("ignore_errors") or last_task.get(data.get("host")) != i:
                continue
            failures.append(HostFailure(
                host=data.get("host", "?"), task=data.get("task", "?"),
                message=_message(data.get("res", {})),
                unreachable=kind == "runner_on_unreachable"))
    return failures


def _message(res: Mapping[str, Any]) -> str:
    """The first line of what the task said: modules lead with the summary.
    A suite script that could not see its effect says why on one line."""
    for line in str(res.get("stdout") or "").splitlines():
        if line.startswith("pyharness: unverified"):
            return line.strip()[:400]
    for k in ("msg", "stderr", "reason"):
        v = res.get(k)
        if v:
            lines = [line.strip() for line in str(v).strip().splitlines() if line.strip()]
            return lines[0][:400] if lines else "no message"
    return "no message"


class Ansible:
    """Runs the suite's playbooks against one inventory, one at a time."""

    _seq = itertools.count(1)

    def __init__(self, inventory: Path | str, data_dir: Path,
                 extravars: Mapping[str, Any] | None = None, keep: int | None = None) -> None:
        # Absolute, because ansible-runner runs from its own private dir, where
        # a relative path would silently match no hosts.
        self.inventory = (str(Path(inventory).resolve())
                          if isinstance(inventory, Path) or Path(str(inventory)).exists()
                          else inventory)
        self.data_dir = Path(data_dir).resolve()
        self.extravars = dict(extravars or {})
        self.keep = keep  # artifact dirs to keep in a data dir shared across runs
        self._lock = threading.Lock()  # one playbook at a time: runner shares env/ files

    def run(self, playbook: str, extravars: Mapping[str, Any] | None = None,
            limit: str | None = None) -> PlaybookResult:
        with self._lock:
            return self._run(playbook, extravars, limit)

    def _run(self, playbook: str, extravars: Mapping[str, Any] | None,
             limit: str | None) -> PlaybookResult:
        artifacts = self.data_dir / "artifacts"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # A fresh ident every run: ansible-runner adds to an existing one's
        # events, and old events would pass for this run's.
        ident = f"{next(self._seq):03d}-{Path(playbook).stem}"
        while (artifacts / ident).exists():
            ident = f"{next(self._seq):03d}-{Path(playbook).stem}"
        if self.keep is not None and artifacts.is_dir():
            old = sorted(artifacts.iterdir(), key=lambda p: p.stat().st_mtime)
            for stale in old[:max(0, len(old) - self.keep + 1)]:
                shutil.rmtree(stale, ignore_errors=True)
        # Left by runs before suppress_env_files: it would still be loaded.
        shutil.rmtree(self.data_dir / "env", ignore_errors=True)
        venv_bin = str(Path(sys.executable).parent)
        env = {
            "ANSIBLE_CONFIG": str(paths.ROOT / "ansible.cfg"),
            "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
            "ANSIBLE_NOCOLOR": "1",
        }
        vars_ = {**self.extravars, **(extravars or {})}
        t0 = time.monotonic()
        log.info("ansible: %s %s", playbook, ident)
        r = ansible_runner.run(
            private_data_dir=str(self.data_dir),
            project_dir=str(paths.ROOT),
            playbook=str(paths.PLAYBOOKS / playbook),
            inventory=str(self.inventory),
            extravars=vars_,
            envvars=env,
            artifact_dir=str(artifacts),
            ident=ident,
            limit=limit,
            quiet=True,
            rotate_artifacts=0,
            # Otherwise ansible-runner writes the first run's env vars and
            # extra vars to env/ in the data dir and loads them over every
            # later run's own, even from another checkout sharing the dir.
            suppress_env_files=True,
            # Without a callback ansible-runner installs SIGINT and SIGTERM
            # handlers of its own, for good, and Ctrl-C would no longer stop
            # the test. A playbook already running is left to finish: a fault
            # half applied is worse than a late one, and heal runs next.
            cancel_callback=_never,
        )
        elapsed = time.monotonic() - t0
        events = list(r.events)
        failures = host_failures(events)
        result = PlaybookResult(playbook=playbook, rc=r.rc if r.rc is not None else -1,
                                status=r.status, elapsed_s=elapsed,
                                artifact_dir=artifacts / ident, failures=failures,
                                events=events, stats=dict(r.stats or {}))
        log.info("ansible: %s %s in %.2fs", playbook, result.status, elapsed)
        if not result.ok:
            log.error("ansible: %s", result.error_line())
        return result


class PlaybookFailed(RuntimeError):
    def __init__(self, result: PlaybookResult) -> None:
        super().__init__(result.error_line())
        self.result = result
