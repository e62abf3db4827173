"""A slow disk (etcd_disk_write_iops) is in place, on the lab, and proves it.

Every member runs in a blkio cgroup of its own with its writes limited, a
member restarted after a kill is limited again, and what the member's
writes meet is slow: 150 back-to-back fsyncs from its cgroup on its data
dir's disk take more than a second at 100 writes a second, where this
machine's disk does them in a few milliseconds. (An IOPS limit only shows
when writes come faster than it allows, so a light load on etcd itself
could pass unlimited: the probe writes back to back.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pyharness.control.inventory import load
from tests.integration.conftest import fresh_cluster

IOPS = 100
FSYNC_COUNT = 150


def hostvars(inventory: Path, host: str) -> dict[str, str]:
    exe = Path(sys.executable).parent / "ansible-inventory"
    out = subprocess.run([str(exe), "-i", str(inventory), "--host", host], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return json.loads(out)


def limited(pid_file: str, name: str) -> bool:
    pid = Path(pid_file).read_text().strip()
    cgroups = Path(f"/proc/{pid}/cgroup").read_text()
    throttle = Path(f"/sys/fs/cgroup/blkio/pyharness-etcd-{name}/"
                    "blkio.throttle.write_iops_device").read_text().split()
    return f":blkio:/pyharness-etcd-{name}\n" in cgroups and throttle[-1] == str(IOPS)


FSYNCS = f"""
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
t = time.perf_counter()
for _ in range({FSYNC_COUNT}):
    os.write(fd, b"x" * 4096)
    os.fdatasync(fd)
print(time.perf_counter() - t)
"""


def fsyncs_s_in(cgroup: str, directory: str) -> float:
    """Seconds that FSYNC_COUNT back-to-back fdatasyncs of 4 KiB take, from a
    process in ``cgroup``, on a file in ``directory``."""
    probe = Path(directory) / "pyharness-fsync-probe"
    try:
        out = subprocess.run(
            ["sh", "-c", 'echo $$ > "$1/cgroup.procs" && exec "$2" -c "$3" "$4"', "sh",
             cgroup, sys.executable, FSYNCS, str(probe)],
            capture_output=True, text=True, timeout=120, check=True).stdout
    finally:
        probe.unlink(missing_ok=True)
    return float(out)


def test_members_write_slowly_and_a_restarted_one_too(lab_inventory: Path,
                                                       tmp_path: Path) -> None:
    nodes = load(lab_inventory)
    pid_files = {n.name: hostvars(lab_inventory, n.name)["etcd_pid_file"] for n in nodes}
    with fresh_cluster(lab_inventory, tmp_path, etcd_disk_write_iops=IOPS) as ansible:
        for n in nodes:
            assert limited(pid_files[n.name], n.name), n.name
        # What the member's writes meet: its cgroup, on its data dir's disk.
        # blk-throttle lets a burst through, then makes writes wait out the
        # rest of each 100 ms slice; each fdatasync is one write or more, so
        # FSYNC_COUNT of them need (FSYNC_COUNT - burst) / IOPS s at least.
        # Unlimited, they take a few ms here (well under a second loaded).
        first = nodes[0]
        beside = Path(hostvars(lab_inventory, first.name)["etcd_data_dir"]).parent
        took = fsyncs_s_in(f"/sys/fs/cgroup/blkio/pyharness-etcd-{first.name}", str(beside))
        assert took >= 1.0, took
        victim = nodes[-1]
        before = Path(pid_files[victim.name]).read_text().strip()
        assert ansible.run("kill.yml", {"fault_hosts": victim.name}).ok
        assert ansible.run("start.yml", {"fault_hosts": victim.name}).ok
        assert Path(pid_files[victim.name]).read_text().strip() != before
        assert limited(pid_files[victim.name], victim.name)
