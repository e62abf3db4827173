"""A slow disk (etcd_disk_write_iops) is in place, on the lab, and proves it.

Every member runs in a blkio cgroup of its own with its writes limited, a
member restarted after a kill is limited again, and etcd's own measure of
its WAL fsyncs shows the disk slow: about 15 ms at 300 writes a second,
where this machine's disk takes a tenth of a millisecond.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from pyharness.control.inventory import load
from pyharness.etcd import v3 as etcd_v3
from tests.integration.conftest import fresh_cluster

IOPS = 300


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


def wal_fsync_mean_ms(address: str) -> tuple[float, int]:
    conn = etcd_v3.connect(address, 2379, timeout=10)
    try:
        text = conn.metrics()
    finally:
        conn.close()

    def value(name: str) -> float:
        m = re.search(rf"^etcd_disk_wal_fsync_duration_seconds_{name} (\S+)$", text, re.M)
        assert m, name
        return float(m.group(1))
    count = int(value("count"))
    return 1000 * value("sum") / max(count, 1), count


def test_members_write_slowly_and_a_restarted_one_too(lab_inventory: Path,
                                                       tmp_path: Path) -> None:
    nodes = load(lab_inventory)
    pid_files = {n.name: hostvars(lab_inventory, n.name)["etcd_pid_file"] for n in nodes}
    with fresh_cluster(lab_inventory, tmp_path, etcd_disk_write_iops=IOPS) as ansible:
        for n in nodes:
            assert limited(pid_files[n.name], n.name), n.name
        conn = etcd_v3.connect(nodes[0].address, 2379, timeout=10)
        try:
            for i in range(100):
                conn.put(f"/pyharness/slow-disk/{i}", "x")
        finally:
            conn.close()
        mean, count = wal_fsync_mean_ms(nodes[0].address)
        assert count >= 50 and mean >= 3.0, (mean, count)

        victim = nodes[-1]
        before = Path(pid_files[victim.name]).read_text().strip()
        assert ansible.run("kill.yml", {"fault_hosts": victim.name}).ok
        assert ansible.run("start.yml", {"fault_hosts": victim.name}).ok
        assert Path(pid_files[victim.name]).read_text().strip() != before
        assert limited(pid_files[victim.name], victim.name)
