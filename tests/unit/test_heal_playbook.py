"""``heal.yml`` runs every step on every host even where an earlier step
failed, and then fails on that host, naming the step. A host whose link
faults cannot be removed must still get its paused member resumed: a heal
that stops at its first error leaves the cluster broken for the next run.

The playbook runs for real, with the local connection, inside a private
network namespace (its iptables steps touch only that namespace). The
failure is real too: a ``tc`` that lists the suite's qdisc and refuses to
delete it. The paused member is a real process named ``etcd`` (a copy of
``sleep``), stopped with SIGSTOP.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("iptables")
                                or not shutil.which("ip"),
                                reason="needs root, ip and iptables")

FAILING_TC = """#!/bin/sh
# Lists the suite's root qdisc on every device and refuses to delete it.
if [ "$2" = show ]; then echo "qdisc tbf 7e57: root refcnt 2 rate 1Mbit"; exit 0; fi
echo "RTNETLINK answers: Operation not permitted" >&2
exit 2
"""




def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_a_failed_heal_step_does_not_stop_the_others(tmp_path: Path, netns: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tc").write_text(FAILING_TC)
    (bin_dir / "tc").chmod(0o755)
    fake_etcd = bin_dir / "etcd"  # /proc/PID/comm reads "etcd", as the role checks
    shutil.copy(shutil.which("sleep") or "/bin/sleep", fake_etcd)
    member = subprocess.Popen([str(fake_etcd), "120"])
    try:
        os.kill(member.pid, signal.SIGSTOP)
        for _ in range(100):
            if _state(member.pid) == "T":
                break
            time.sleep(0.01)
        assert _state(member.pid) == "T"
        pid_file = tmp_path / "etcd.pid"
        pid_file.write_text(f"{member.pid}\n")
        inventory = tmp_path / "inventory.json"
        inventory.write_text(json.dumps({"etcd": {"hosts": {"n1": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "etcd_pid_file": str(pid_file), "etcd_data_dir": str(tmp_path / "data"),
            "etcd_client_port": 1}}}}))
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
               "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")}
        # Through the driver's own runner, as `pyharness heal` and the
        # nemesis run it: what it reports is what the user reads.
        code = ("import sys\nfrom pathlib import Path\n"
                "from pyharness.control.ansible import Ansible\n"
                "r = Ansible(sys.argv[1], Path(sys.argv[2])).run('heal.yml')\n"
                "print('OK' if r.ok else 'FAILED', r.error_line())\n")
        r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code,
                            str(inventory), str(tmp_path / "ansible")],
                           capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        # The step after the failure still ran: the member is running again.
        assert _state(member.pid) in ("S", "R"), out
        # The one line names the host and the step, not the rescued task.
        assert r.stdout.startswith("FAILED "), out
        line = r.stdout.strip()
        assert line.endswith("host n1: task 'Fail where a heal step failed' failed: "
                             "removing the link faults: RTNETLINK answers: Operation not "
                             "permitted"), out
        assert "(and" not in line, out
        # Only that step is named: removing the partition and resuming worked.
        assert "removing the partition" not in line and "resuming the member" not in line, out
    finally:
        member.kill()
        member.wait()
