"""Bad hosts and interrupted runs: one-line errors, exit 2, network healed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from pyharness.control import paths
from pyharness.history import INFO, NEMESIS, read_jsonl
from tests.integration.conftest import netns_exec, pyharness

NODES = ("n1", "n2", "n3", "n4", "n5")


def variant(lab_inventory: Path, tmp_path: Path, host: str, **hostvars: object) -> Path:
    inv = yaml.safe_load(lab_inventory.read_text())
    inv["all"]["children"]["etcd"]["hosts"][host].update(hostvars)
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inv))
    return path


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_healed_and_down() -> None:
    for node in NODES:
        assert "PYHARNESS" not in netns_exec(node, "iptables", "-S").stdout, node
        assert ":2379 " not in netns_exec(node, "ss", "-ltn").stdout, node


def test_unreachable_host_is_named(lab_inventory: Path, tmp_path: Path) -> None:
    # Nothing listens on port 2222 of n4: SSH is refused, as for a host that is down.
    inv = variant(lab_inventory, tmp_path, "n4", ansible_port=2222)
    r = pyharness("test", "-i", str(inv), "--time-limit", "5", "--store", str(tmp_path / "s"))
    assert r.returncode == 2
    errors = error_lines(r.stderr)
    assert len(errors) == 1 and "n4" in errors[0] and "unreachable" in errors[0], r.stderr
    assert_healed_and_down()


def test_member_that_wont_start_is_named_with_its_log(lab_inventory: Path,
                                                      tmp_path: Path) -> None:
    inv = variant(lab_inventory, tmp_path, "n3", etcd_extra_args=["--no-such-flag"])
    r = pyharness("test", "-i", str(inv), "--time-limit", "5", "--store", str(tmp_path / "s"))
    assert r.returncode == 2
    errors = error_lines(r.stderr)
    assert len(errors) == 1 and "n3" in errors[0], r.stderr
    assert "no-such-flag" in errors[0]  # the member's own complaint, from its log
    assert_healed_and_down()


def test_ctrl_c_during_a_partition_heals_and_keeps_the_history(lab_inventory: Path,
                                                               tmp_path: Path) -> None:
    store = tmp_path / "store"
    exe = Path(sys.executable).parent / "pyharness"
    proc = subprocess.Popen(
        [str(exe), "test", "--time-limit", "120", "--nemesis-interval", "3", "--rate", "20",
         "--store", str(store)], cwd=paths.ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        history = store / "latest" / "history.jsonl"
        while True:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no partition took effect"
            if history.exists() and any(
                    o.f == "start-partition" and o.type == INFO and "effective_ns" in o.extra
                    and o.extra.get("grudge") for o in read_jsonl(history)
                    if o.process == NEMESIS):
                break
            time.sleep(0.5)
        # The partition is in place right now.
        assert any("PYHARNESS" in netns_exec(n, "iptables", "-S").stdout for n in NODES)
        completed_before = sum(1 for o in read_jsonl(history) if o.type != "invoke")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2
    assert "interrupted" in err
    assert_healed_and_down()
    ops = read_jsonl(history)
    assert sum(1 for o in ops if o.type != "invoke") >= completed_before
    assert json.loads((store / "latest" / "test.json").read_text())["options"]["time_limit"] == 120
