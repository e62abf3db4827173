"""A killed member is dead as soon as it is a zombie. Its reaper may take
seconds to collect it (on some machines PID 1 reaps every 2 s), and a kill
that waited for that would be slow to verify, or not verified at all; a heal
that took the zombie for a live member would never start it again.

The member here is a real process named ``etcd`` (a copy of ``sleep``)
whose parent never reaps it, so it stays a zombie for the whole test. The
suite's own ``kill.yml`` and heal's check run for real, with the local
connection, inside a private network namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip")
                                or not shutil.which("ss"), reason="needs root, ip and ss")

# A parent that starts the member, prints its pid and never waits for it.
PARENT = """
import os, subprocess, sys, time
p = subprocess.Popen([sys.argv[1], "300"])
print(p.pid, flush=True)
time.sleep(300)
"""


# heal.yml's check alone (heal would go on to start a real etcd).
CHECK = """
- name: Check
  hosts: etcd
  gather_facts: false
  tasks:
    - name: Check whether the member must be started again
      ansible.builtin.import_role:
        name: process_fault
        tasks_from: check.yml
"""


def _play(netns: str, inventory: Path, playbook: Path,
          tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp")}
    return subprocess.run(["ip", "netns", "exec", netns,
                           str(Path(sys.executable).parent / "ansible-playbook"), "-i",
                           str(inventory), str(playbook), "-v"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


def test_a_killed_member_left_a_zombie_is_dead_and_must_be_started(tmp_path: Path,
                                                                    netns: str) -> None:
    fake_etcd = tmp_path / "etcd"  # /proc/PID/comm reads "etcd", as the roles check
    shutil.copy(shutil.which("sleep") or "/bin/sleep", fake_etcd)
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(fake_etcd)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        pid_file = tmp_path / "etcd.pid"
        pid_file.write_text(f"{pid}\n")
        (tmp_path / "data" / "member").mkdir(parents=True)  # it was set up
        inventory = tmp_path / "inventory.json"
        inventory.write_text(json.dumps({"etcd": {"hosts": {"n1": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "etcd_pid_file": str(pid_file), "etcd_data_dir": str(tmp_path / "data"),
            "etcd_client_port": 1}}}}))

        kill = _play(netns, inventory, ROOT / "playbooks" / "kill.yml", tmp_path)
        assert kill.returncode == 0, kill.stdout + kill.stderr
        assert f"pyharness: verified (etcd pid {pid} dead, port 1 closed)" in kill.stdout
        # Still there, unreaped: the kill did not wait for the reaper.
        assert Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"

        # heal's check: a zombie is no live member; this one must start again.
        (tmp_path / "check.yml").write_text(CHECK)
        check = _play(netns, inventory, tmp_path / "check.yml", tmp_path)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "pyharness: start" in check.stdout, check.stdout
    finally:
        parent.kill()
        parent.wait()
