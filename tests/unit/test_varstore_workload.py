"""The varstore workload end to end on a real etcd, without faults: the
interpreter runs its generator with eight clients as fast as they go, and the
checker judges the history. A correct store is valid; a store that binds
without compare-and-swap loses concurrent binds and is caught.
"""

from __future__ import annotations

import random
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from pyharness.etcd.endpoints import connect_kv
from pyharness.gen import generator as g
from pyharness.gen import interpreter
from pyharness.history import FAIL, OK, HistoryWriter, Op
from pyharness.varstore import VarStore
from pyharness.varstore.ops import invocation, perform
from pyharness.workloads import varstore
from tests.conftest import LocalEtcd

APIS = pytest.mark.parametrize("api", ["v2", "v3"])


def run(etcd: LocalEtcd, tmp_path: Path, bug: str | None, api: str, ops: int = 400
        ) -> tuple[list[Op], dict[str, Any]]:
    test = {"nodes": {"n1": {"address": etcd.address, "client_port": etcd.port}},
            "op_timeout": 1.5, "key_prefix": f"/pyharness-test/{uuid.uuid4().hex}",
            "options": {"store_bug": bug, "api": api}}
    wl = varstore.workload({"store_bug": bug, "api": api})
    assert wl.final_generator is not None
    gen = g.phases(g.clients(g.limit(ops, wl.generator)), g.clients(wl.final_generator))
    history = HistoryWriter(tmp_path / f"history-{bug}-{api}.jsonl")
    interpreter.run(test, gen, wl.client, None, ["n1"], 8, history, rng=random.Random(1))
    history.close()
    return history.ops, wl.checkers[0].check(test, history.ops)


@APIS
def test_a_correct_store_is_valid(local_etcd: LocalEtcd, tmp_path: Path, api: str) -> None:
    ops, result = run(local_etcd, tmp_path, None, api)
    assert result["valid?"] is True, result
    oks = {(op.f, op.type) for op in ops if op.type == OK}
    assert {("declare", OK), ("bind", OK), ("read", OK)} <= oks
    # Racing single-assignment binds: some values were refused as rebinds.
    assert any(op.f == "bind" and op.error == "rebind" for op in ops)
    assert result["acknowledged-bind-count"] > 100


@APIS
def test_binds_without_cas_lose_updates(local_etcd: LocalEtcd, tmp_path: Path,
                                        api: str) -> None:
    results = []
    for _ in range(3):  # a race; it shows up at once in practice
        _ops, result = run(local_etcd, tmp_path, "bind-without-cas", api)
        results.append(result)
        if result["valid?"] is False:
            break
    assert results[-1]["valid?"] is False, results
    assert results[-1]["lost-count"] >= 1


def test_an_unknown_store_bug_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown store bug"):
        varstore.workload({"store_bug": "no-such-bug"})


@APIS
def test_a_bind_that_cannot_read_fails_definitely_and_a_read_always_fails(api: str) -> None:
    """Nothing listens on this port: the bind never got to send its swap, so
    it certainly had no effect (``fail``), and a read has no effect at all."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends
    store = VarStore(connect_kv(api, "127.0.0.1", port, timeout=0.5),
                     "/pyharness-test/x")
    types = {"g": "gset"}
    bind = perform(store, invocation("bind", "g", frozenset({1}), "gset", 1), types, 0.1)
    assert (bind.type, bind.error) == (FAIL, "unavailable")
    read = perform(store, invocation("read", "g", None, "gset", 1), types, 0.1)
    assert read.type == FAIL and read.error[0] == "connect-failed"
