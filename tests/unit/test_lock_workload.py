"""The lock workload on a real etcd (loopback): holders that stall past their
lease lose mutual exclusion unless their write is fenced."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

from pyharness.gen import generator as g
from pyharness.gen import interpreter
from pyharness.history import HistoryWriter
from pyharness.workloads import lock
from tests.conftest import LocalEtcd


def run(etcd: LocalEtcd, tmp_path: Path, fencing: bool, stall: bool,
        ops: int = 40) -> dict[str, Any]:
    test = {"nodes": {"n1": {"address": etcd.address, "client_port": etcd.port}},
            "op_timeout": 6.0, "key_prefix": f"/pyharness-test/{uuid.uuid4().hex}",
            "options": {"api": "v3"}}
    opts = {"lock_fencing": fencing, "lock_ttl": 2,
            "lock_stall_every": 10 if stall else 0, "lock_stall_s": 4.0}
    wl = lock.workload(opts)
    assert wl.final_generator is not None
    history = HistoryWriter(tmp_path / f"history-{fencing}-{stall}.jsonl")
    gen = g.phases(g.clients(g.limit(ops, wl.generator)), g.clients(wl.final_generator))
    interpreter.run(test, gen, wl.client, None, ["n1"], 4, history, rng=random.Random(1))
    history.close()
    return {c.name: c.check(test, history.ops) for c in wl.checkers}


def test_lock_without_faults_is_valid(local_etcd: LocalEtcd, tmp_path: Path) -> None:
    r = run(local_etcd, tmp_path, fencing=False, stall=False)
    assert r["set"]["valid?"] is True, r
    assert r["lock"]["valid?"] is True, r
    assert r["lock"]["version-count"] >= 30


def test_stalled_holders_break_the_plain_lock_not_the_fenced_one(local_etcd: LocalEtcd,
                                                                 tmp_path: Path) -> None:
    plain = run(local_etcd, tmp_path, fencing=False, stall=True)
    assert plain["lock"]["valid?"] is False, plain["lock"]
    assert plain["lock"]["overlap-count"] >= 1
    assert plain["set"]["lost-count"] >= 1
    fenced = run(local_etcd, tmp_path, fencing=True, stall=True)
    assert fenced["lock"]["valid?"] is True, fenced["lock"]
    assert fenced["set"]["valid?"] is True, fenced["set"]
