"""Faults as start/stop pairs, and the nemesis that runs any mix of them.

Each fault kind ``X`` (registered in :mod:`pyharness.nemesis.kinds`, see
:mod:`pyharness.nemesis.registry`) is a start and a stop step: ``start-X``
puts the fault in place on some target hosts, ``stop-X`` undoes it on the
same hosts. That is Jepsen's combined nemesis: the schedule (see
:mod:`pyharness.nemesis.schedule`) decides when each start and stop happens,
and different faults may overlap (a partition while a member is paused).

Every nemesis op completes as ``info`` (Jepsen's convention) and records, in
``Op.extra``: ``hosts`` (the targets), ``effective_ns`` (when the last target
had the change in place: the latest per-host end of the playbook's effect
task, minus ``test["start_wall_ns"]``, on the same clock as op times),
``effect_latency_s`` (from the invocation to that moment) and
``playbook_s``; ``verified`` (host -> the evidence that the fault is in
effect there: a probe, the process state, the rule) and ``unverified`` (host
-> why it could not be shown). A playbook that fails (an unreachable host, a task error)
makes the op carry ``error``: one line naming the host and the task. The
test goes on; the fault may be in place on some hosts, so it still counts as
active and its stop still runs. A fault whose effect shows only later (the
snapshot a healed member receives) checks it after its playbook, and records
``effect-not-reached`` when it does not show.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pyharness.control.ansible import Ansible, PlaybookResult
from pyharness.history import INFO, Op
from pyharness.nemesis import targets
from pyharness.nemesis.registry import Action, Fault

log = logging.getLogger(__name__)


def _hosts_var(hosts: Sequence[str]) -> str:
    return ",".join(hosts)


class PlaybookRunner(Protocol):
    def run(self, playbook: str, extravars: Mapping[str, Any] | None = None,
            limit: str | None = None) -> PlaybookResult: ...


class FaultNemesis:
    """Runs ``start-X`` / ``stop-X`` for each fault it was given, remembering
    which faults are in place and on which hosts."""

    def __init__(self, ansible: PlaybookRunner | Ansible, nodes: Sequence[str],
                 faults: Sequence[Fault], rng: random.Random,
                 target_kinds: Sequence[str] = targets.DEFAULT) -> None:
        self.ansible = ansible
        self.nodes = list(nodes)
        self.faults = {f.name: f for f in faults}
        self.rng = rng
        self.target_kinds = list(target_kinds)
        self.active: dict[str, list[str]] = {}
        self.fs = frozenset(f"{verb}-{name}" for name in self.faults
                            for verb in ("start", "stop"))

    def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        verb, _, name = op.f.partition("-")
        fault = self.faults.get(name)
        if fault is None or verb not in ("start", "stop"):
            raise ValueError(f"nemesis: unknown f {op.f!r} (knows {', '.join(sorted(self.fs))})")
        wall_invoke = time.time_ns()
        try:
            if verb == "start":
                action = fault.start(self, test, op)
            else:
                if name not in self.active:
                    done = op.completion(INFO, value="not active")
                    done.extra["hosts"] = []
                    return done
                action = fault.stop(self, test, op, self.active[name])
        except Exception as e:  # choosing targets failed: nothing was changed
            log.error("nemesis %s: %s", op.f, e)
            done = op.completion(INFO)
            done.error = f"{op.f}: {e}"
            return done
        if verb == "start":
            # Counted as active even if the playbook fails: it may have
            # changed some hosts, and the stop must then run.
            self.active[name] = list(action.hosts)
        else:
            self.active.pop(name, None)
        return self._run(test, op, action, wall_invoke)

    def _run(self, test: Mapping[str, Any], op: Op, action: Action, wall_invoke: int) -> Op:
        done = op.completion(INFO, value=action.value)
        done.extra.update(action.extra)
        done.extra["hosts"] = list(action.hosts)
        try:
            r = self.ansible.run(action.playbook, action.extravars)
        except Exception as e:  # the runner itself broke: outcome unknown
            log.exception("nemesis %s: running %s failed", op.f, action.playbook)
            done.error = f"{op.f}: running {action.playbook} failed: {type(e).__name__}: {e}"
            return done
        done.extra["playbook_s"] = round(r.elapsed_s, 3)
        ends = {h: t for h, t in r.task_end_ns(action.task).items() if h in action.hosts}
        if ends:
            last = max(ends.values())
            done.extra["effective_ns"] = last - int(test["start_wall_ns"])
            done.extra["effect_latency_s"] = round((last - wall_invoke) / 1e9, 3)
        self._record_verification(done, r, action)
        if r.ok and action.after is not None:
            try:
                done.extra.update(action.after())
            except Exception as e:  # no proof of the later effect: say so
                log.exception("nemesis %s: checking its effect failed", op.f)
                done.extra["effect-not-reached"] = f"checking the effect failed: {e}"
        if not r.ok:
            done.error = r.error_line()
        elif done.extra["unverified"]:
            done.error = "not in effect on " + "; ".join(
                f"{h}: {why}" for h, why in sorted(done.extra["unverified"].items()))
        elif set(ends) != set(action.hosts):
            # A playbook that matched no host "succeeds": that must not pass
            # for a fault in place.
            missing = sorted(set(action.hosts) - set(ends))
            done.error = (f"task '{action.task}' did not run on {', '.join(missing)} "
                          f"(see {r.artifact_dir / 'stdout'})")
        if done.error is not None:
            log.error("nemesis %s on %s: %s", op.f, _hosts_var(action.hosts), done.error)
        return done

    @staticmethod
    def _record_verification(done: Op, r: PlaybookResult, action: Action) -> None:
        """``verified``: host -> what showed the fault in effect there;
        ``unverified``: host -> why it could not be shown. A host is verified
        only by positive evidence, never by the absence of an error."""
        task = action.verify_task or action.task
        outputs = r.task_output(task)
        ok_hosts = set(r.task_end_ns(task))
        verified: dict[str, str] = {}
        unverified: dict[str, str] = {}
        for h in action.hosts:
            text = outputs.get(h)
            line = next((ln for ln in (text or "").splitlines()
                         if ln.startswith("pyharness: verified")), None)
            if action.verify_by_ok and h in ok_hosts:
                verified[h] = f"task '{task}' succeeded"
            elif line is not None and h in ok_hosts:
                verified[h] = line[len("pyharness: verified"):].strip(" ()")
            elif text is None:
                unverified[h] = f"task '{task}' did not run"
            else:
                bad = next((ln for ln in text.splitlines()
                            if ln.startswith("pyharness: unverified")), None)
                unverified[h] = (bad[len("pyharness: unverified"):].strip(" ()") if bad
                                 else f"task '{task}' printed no verification")
        done.extra["verified"] = verified
        done.extra["unverified"] = unverified

    def heal(self, test: Mapping[str, Any]) -> None:
        r = self.ansible.run("heal.yml")
        self.active.clear()
        if not r.ok:
            raise RuntimeError(f"heal failed: {r.error_line()}")

    def close(self) -> None:
        """Release the runner's resources (the agent's waiting run and SSH
        masters). Safe to call more than once."""
        close = getattr(self.ansible, "close", None)
        if close is not None:
            close()
