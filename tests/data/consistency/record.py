"""Record the fixtures of tests/unit/test_consistency.py from a real cluster.

Starts a 3-member etcd (``--etcd``, default /usr/bin/etcd, Debian 12's
3.4.23) on 127.0.0.1, client ports 23790, 23792, 23794 and peer ports one
above each, data under a temporary directory, with the flags the etcd role
gives that release; writes a few keys under /pyharness/fixture/, compacts
once, collects every member's answers with :func:`pyharness.etcd.cluster_state.collect`
and writes them to ``OUT`` (default: cluster-VERSION.json beside this file).
The members are stopped by their own pids, whatever happens; the whole run
is bounded (60 s to start).

    .venv/bin/python tests/data/consistency/record.py [--etcd PATH] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyharness.etcd import cluster_state
from pyharness.etcd import v3 as etcd_v3

HERE = Path(__file__).resolve().parent
NAMES = ("m1", "m2", "m3")
BASE = 23790


def ports(i: int) -> tuple[int, int]:
    return BASE + 2 * i, BASE + 2 * i + 1


def version_of(etcd: str) -> str:
    out = subprocess.run([etcd, "--version"], capture_output=True, text=True, timeout=10).stdout
    return out.splitlines()[0].split()[-1]


def version_args(version: str) -> list[str]:
    """As roles/etcd/vars/main.yml gives them, with both corruption checks on."""
    major_minor = tuple(int(x) for x in version.split(".")[:2])
    args = ["--snapshot-count=100"]
    if major_minor < (3, 5):
        args.append("--logger=zap")
    if major_minor < (3, 6):
        args += ["--enable-v2=true", "--experimental-initial-corrupt-check=true",
                 "--experimental-corrupt-check-time=10s"]
    else:
        args += ["--feature-gates=InitialCorruptCheck=true", "--corrupt-check-time=10s"]
    return args


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
            return b"true" in r.read()
    except OSError:
        return False


def start_member(etcd: str, tmp: Path, i: int, version: str,
                 initial_check: bool = True) -> subprocess.Popen[bytes]:
    """Member ``NAMES[i]`` with data in ``tmp/NAME``, logging (appending) to ``tmp/NAME.log``."""
    name = NAMES[i]
    client, peer = ports(i)
    initial = ",".join(f"{n}=http://127.0.0.1:{ports(j)[1]}" for j, n in enumerate(NAMES))
    args = version_args(version)
    if not initial_check:
        args = [a for a in args if "initial-corrupt-check" not in a
                and "InitialCorruptCheck" not in a]
    with (tmp / f"{name}.log").open("a") as log:
        return subprocess.Popen(
            [etcd, f"--name={name}", f"--data-dir={tmp / name}",
             f"--listen-client-urls=http://127.0.0.1:{client}",
             f"--advertise-client-urls=http://127.0.0.1:{client}",
             f"--listen-peer-urls=http://127.0.0.1:{peer}",
             f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
             f"--initial-cluster={initial}", "--initial-cluster-token=fixture",
             "--initial-cluster-state=new", *args],
            stdout=log, stderr=subprocess.STDOUT)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """By their own pids: SIGTERM, then SIGKILL after 10 s."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


@contextmanager
def cluster(etcd: str, tmp: Path, version: str | None = None,
            initial_check: bool = True) -> Iterator[list[int]]:
    """A 3-member cluster of ``etcd`` with data under ``tmp``, yielded (as its
    client ports) once every member is healthy; stopped by pid afterwards."""
    version = version or version_of(etcd)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(len(NAMES)):
            procs.append(start_member(etcd, tmp, i, version, initial_check))
        deadline = time.monotonic() + 60
        while not all(healthy(ports(i)[0]) for i in range(len(NAMES))):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"the cluster did not start; see the logs in {tmp}")
            time.sleep(0.3)
        yield [ports(i)[0] for i in range(len(NAMES))]
    finally:
        stop(procs)


def corrupt(tmp: Path, etcd: str, version: str, out: Path) -> None:
    """A real divergence, as etcd's own e2e tests make one: with the cluster
    stopped (after a restart whose initial check passes), one value in m3's
    bbolt file is changed in place (same length; bbolt checksums only its
    meta pages). The cluster restarts without the
    initial check, the leader's periodic check (every 10 s) raises CORRUPT, and
    the answers and the members' logs are recorded."""
    with cluster(etcd, tmp, version):  # once more, whole: the initial check runs, and passes
        time.sleep(1)
    db = tmp / "m3" / "member" / "snap" / "db"
    data = db.read_bytes()
    assert b"[0, 1, 2]" in data, db
    db.write_bytes(data.replace(b"[0, 1, 2]", b"[0, 1, 9]"))
    with cluster(etcd, tmp, version, initial_check=False) as client_ports:
        deadline = time.monotonic() + 40  # the leader checks every 10 s
        conn = etcd_v3.connect("127.0.0.1", client_ports[0], timeout=5)
        while not conn.call("/maintenance/alarm", {"action": "GET"}).get("alarms"):
            if time.monotonic() > deadline:
                raise RuntimeError("no CORRUPT alarm was raised")
            time.sleep(1)
        conn.close()
        members = [cluster_state.Member(n, "127.0.0.1", p)
                   for n, p in zip(NAMES, client_ports, strict=True)]
        data_out = cluster_state.collect(members, "/pyharness/fixture/", extras=True)
        data_out["recorded_from"] = (f"etcd {version}, 3 members on 127.0.0.1, m3's value of "
                                     "/pyharness/fixture/set changed in its db (record.py "
                                     "--corrupt)")
        out.write_text(json.dumps(data_out, indent=1, sort_keys=True) + "\n")
    logs = out.with_suffix("")
    logs.mkdir(exist_ok=True)
    for name in NAMES:
        # the record's own /health polls log a line each while the alarm is
        # raised: the first few are kept
        kept, polls = [], 0
        for line in (tmp / f"{name}.log").read_text().splitlines(keepends=True):
            if "/health error" in line:
                polls += 1
                if polls > 3:
                    continue
            kept.append(line)
        (logs / f"{name}.log").write_text("".join(kept))


def write_keys(port: int) -> None:
    """The fixture's keys under /pyharness/fixture/, one compaction, one key outside."""
    conn = etcd_v3.connect("127.0.0.1", port, timeout=5)
    for k in range(5):
        conn.put(f"/pyharness/fixture/register/{k}", str(k))
    first = conn.put("/pyharness/fixture/set", "[0]")
    conn.put("/pyharness/fixture/set", "[0, 1, 2]")
    conn.put("/pyharness/fixture/register/3", "4")
    conn.call("/kv/compaction", {"revision": str(first), "physical": True})
    conn.put("/outside/prefix", "not compared")
    conn.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--etcd", default="/usr/bin/etcd")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--corrupt", action="store_true",
                    help="then corrupt m3 and record cluster-VERSION-corrupt.json and its logs")
    a = ap.parse_args()
    version = version_of(a.etcd)
    out = a.out or HERE / f"cluster-{version}.json"
    tmp = Path(tempfile.mkdtemp(prefix="pyh-consistency-"))
    try:
        with cluster(a.etcd, tmp, version) as client_ports:
            write_keys(client_ports[0])
            time.sleep(1)  # every member applies the last write
            members = [cluster_state.Member(n, "127.0.0.1", p)
                       for n, p in zip(NAMES, client_ports, strict=True)]
            data = cluster_state.collect(members, "/pyharness/fixture/", extras=True)
        data["recorded_from"] = f"etcd {version}, 3 members on 127.0.0.1 (record.py)"
        out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print(f"wrote {out}")
        if a.corrupt:
            bad = out.with_name(out.stem + "-corrupt.json")
            corrupt(tmp, a.etcd, version, bad)
            print(f"wrote {bad} and the members' logs in {bad.with_suffix('')}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
