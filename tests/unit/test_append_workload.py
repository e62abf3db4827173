"""The append workload end to end on a real etcd (loopback, no faults).

The interpreter runs the workload's transactions with eight clients as fast
as they go; the list-append checker judges the history. The client as
shipped (writes guarded by ``mod_revision`` compares) is valid; a client
that writes without the guard overwrites concurrent appends, and the checker
must name the anomaly. The history also survives a round trip through EDN
and ``pyharness analyze``.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from pyharness.gen import generator as g
from pyharness.gen import interpreter
from pyharness.history import FAIL, OK, HistoryWriter, Op
from pyharness.history.formats import read_history
from pyharness.report.export import export_edn
from pyharness.workloads import append
from tests.conftest import LocalEtcd

EXE = Path(sys.executable).parent / "pyharness"


def run(etcd: LocalEtcd, tmp_path: Path, guarded: bool, ops: int = 600,
        key_count: int = 3) -> tuple[list[Op], dict[str, Any]]:
    test = {"nodes": {"n1": {"address": etcd.address, "client_port": etcd.port}},
            "op_timeout": 2.0, "key_prefix": f"/pyharness-test/{uuid.uuid4().hex}",
            "options": {"api": "v3"}}
    opts = {"api": "v3", "seed": 7, "key_count": key_count, "append_unguarded": not guarded,
            "out_dir": tmp_path}
    wl = append.workload(opts)
    history = HistoryWriter(tmp_path / f"history-{guarded}.jsonl")
    interpreter.run(test, g.clients(g.limit(ops, wl.generator)), wl.client, None, ["n1"], 8,
                    history, rng=random.Random(1))
    history.close()
    return history.ops, wl.checkers[0].check(test, history.ops)


def test_guarded_transactions_are_strict_serializable(local_etcd: LocalEtcd,
                                                      tmp_path: Path) -> None:
    ops, result = run(local_etcd, tmp_path, guarded=True)
    assert result["valid?"] is True, result["anomalies"]
    assert result["ok-count"] > 300
    # Contention is real: some transactions lost the compare and failed.
    assert any(op.type == FAIL and op.error == ["compare-failed"] for op in ops)
    reads = [m for op in ops if op.type == OK for m in op.value if m[0] == "r" and m[2]]
    assert len(reads) > 100


def test_unguarded_writes_are_caught_and_explained(local_etcd: LocalEtcd,
                                                   tmp_path: Path) -> None:
    ops, result = run(local_etcd, tmp_path, guarded=False)
    assert result["valid?"] is False
    cycles = [t for t in result["anomaly-types"] if t.startswith(("G0", "G1c", "G-", "G2"))]
    assert cycles, result["anomaly-types"]
    first = result["anomalies"][cycles[0]][0]
    assert "a contradiction!" in first["explanation"]
    by_index = {op.index: op for op in ops}
    for op in first["cycle"]:  # the explanation names real, completed transactions
        assert by_index[op["index"]].type in (OK, "info") and op["f"] == "txn"
    page = (tmp_path / "list-append.html").read_text()
    assert "<svg" in page
    (tmp_path / "broken-client-explanation.txt").write_text(
        json.dumps(result["anomaly-counts"]) + "\n\n" + first["explanation"] + "\n")


def test_history_round_trips_through_edn_and_analyze(local_etcd: LocalEtcd,
                                                     tmp_path: Path) -> None:
    ops, result = run(local_etcd, tmp_path, guarded=False, ops=300)
    edn = export_edn(ops, tmp_path / "history.edn")
    text = edn.read_text()
    assert "[:append " in text and "[:r " in text
    back = read_history(edn)
    assert [(o.type, o.value) for o in back.ops] == [(o.type, o.value) for o in ops]
    r = subprocess.run([str(EXE), "analyze", str(edn), "--json", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == (1 if result["valid?"] is False else 0), r.stderr
    out = json.loads(r.stdout)
    assert out["list-append"]["anomaly-types"] == result["anomaly-types"]
