"""The KV interface means the same on both APIs: the same requests, against
one real etcd serving v2 and v3, give the same answers, and the same
failures get the same triage. The event-loop backend answers as the
blocking one does. A workload written over it (set, register, varstore)
therefore judges v2 and v3 by one piece of logic."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from pyharness.etcd import kv
from pyharness.etcd.endpoints import connect_kv, open_async_kv
from pyharness.history import FAIL, INFO, INVOKE, OK, Op
from pyharness.workloads import register
from pyharness.workloads import set as set_workload
from pyharness.workloads.base import KVClient
from tests.conftest import LocalEtcd

APIS = pytest.mark.parametrize("api", ["v2", "v3"])


def _prefix(api: str) -> str:
    return f"/test-kv/{api}-{uuid.uuid4().hex[:8]}"


@APIS
def test_every_request_means_the_same_on_both_apis(local_etcd: LocalEtcd, api: str) -> None:
    c = connect_kv(api, local_etcd.address, local_etcd.port, timeout=5.0)
    p = _prefix(api)
    try:
        assert c.do(kv.Get(f"{p}/a")) is None
        assert c.do(kv.Create(f"{p}/a", "1")).succeeded
        first = c.do(kv.Get(f"{p}/a"))
        assert first.value == "1" and first.revision > 0
        again = c.do(kv.Create(f"{p}/a", "2"))
        assert not again.succeeded
        # v3 reads the key in the failed transaction; v2 says it cannot.
        assert again.known == (api == "v3")
        if again.known:
            assert again.current == first
        assert c.do(kv.Swap(f"{p}/a", "3", first.revision)).succeeded
        now = c.do(kv.Get(f"{p}/a"))
        assert now.value == "3" and now.revision > first.revision
        stale = c.do(kv.Swap(f"{p}/a", "4", first.revision))
        assert not stale.succeeded and (not stale.known or stale.current == now)
        assert c.do(kv.SwapValue(f"{p}/a", "3", "5")) is True
        assert c.do(kv.SwapValue(f"{p}/a", "3", "6")) is False
        c.put(f"{p}/b", "x")
        assert c.get(f"{p}/b", stale_ok=True).value == "x"
        assert c.scan(p) == {f"{p}/a": "5", f"{p}/b": "x"}
        c.drop(p)
        assert c.scan(p) == {} and c.get(f"{p}/a") is None
    finally:
        c.close()


@APIS
def test_wait_returns_when_the_key_changes_and_after_its_timeout(local_etcd: LocalEtcd,
                                                                 api: str) -> None:
    c = connect_kv(api, local_etcd.address, local_etcd.port, timeout=5.0)
    writer = connect_kv(api, local_etcd.address, local_etcd.port, timeout=5.0)
    key = f"{_prefix(api)}/w"
    try:
        c.put(key, "0")
        revision = c.get(key).revision
        t0 = time.monotonic()
        c.wait(key, revision, timeout=0.5)
        assert 0.3 < time.monotonic() - t0 < 4  # nothing changed: it waited
        later = threading.Timer(0.3, writer.put, (key, "1"))
        later.start()
        t0 = time.monotonic()
        c.wait(key, revision, timeout=10.0)
        later.join()
        assert time.monotonic() - t0 < 5 and c.get(key).value == "1"
    finally:
        c.close()
        writer.close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """The handshake completes (backlog) and nothing ever answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


@APIS
def test_failures_get_the_same_triage_on_both_apis(api: str, closed_port: int,
                                                   silent_port: int) -> None:
    refused = connect_kv(api, "127.0.0.1", closed_port, timeout=0.3)
    silent = connect_kv(api, "127.0.0.1", silent_port, timeout=0.3)
    try:
        with pytest.raises(Exception) as e:
            refused.do(kv.Put("/k", "v"))
        assert refused.classify(e.value).definite  # never sent
        with pytest.raises(Exception) as e:
            silent.do(kv.Put("/k", "v"))
        t = silent.classify(e.value)
        assert not t.definite and t.error == ["timeout"]  # sent: may have happened
    finally:
        refused.close()
        silent.close()


def test_the_event_loop_backend_answers_as_the_blocking_one(local_etcd: LocalEtcd) -> None:
    p = _prefix("async")
    test = {"nodes": {"n1": {"address": local_etcd.address, "client_port": local_etcd.port}},
            "op_timeout": 5.0, "options": {}}
    blocking = connect_kv("v3", local_etcd.address, local_etcd.port, timeout=5.0)
    requests: list[kv.Request] = [
        kv.Get(f"{p}/a"), kv.Create(f"{p}/a", "1"), kv.Create(f"{p}/a", "2"),
        kv.SwapValue(f"{p}/a", "1", "3"), kv.SwapValue(f"{p}/a", "1", "4"), kv.Get(f"{p}/a"),
        kv.Scan(p)]

    async def go() -> list[object]:
        a = await open_async_kv(test, "n1")
        try:
            return [await a.do(r) for r in requests]
        finally:
            await a.close()

    try:
        got = asyncio.run(go())
        blocking.drop(p)
        want = [blocking.do(r) for r in requests]
    finally:
        blocking.close()
    assert [type(x) for x in got] == [type(x) for x in want]
    # Revisions differ between the two passes; what was written does not.
    def shape(x: object) -> object:
        if isinstance(x, kv.Entry):
            return x.value
        if isinstance(x, kv.Swapped):
            return (x.succeeded, x.known, shape(x.current))
        return x
    assert [shape(x) for x in got] == [shape(x) for x in want]


@APIS
def test_one_client_logic_runs_on_both_apis(local_etcd: LocalEtcd, api: str,
                                            silent_port: int) -> None:
    """The set and register clients are one steps function each."""
    test = {"nodes": {"n1": {"address": local_etcd.address, "client_port": local_etcd.port}},
            "op_timeout": 5.0, "key_prefix": _prefix(api), "options": {}}
    s = KVClient(set_workload.steps, api).open(test, "n1")
    r = KVClient(register.steps, api).open(test, "n1")
    try:
        adds = [s.invoke(test, Op(type=INVOKE, f="add", value=v)).type for v in (3, 1, 2)]
        read = s.invoke(test, Op(type=INVOKE, f="read"))
        ops = [r.invoke(test, Op(type=INVOKE, f=f, value=[0, v])) for f, v in (
            ("read", None), ("cas", [1, 2]), ("write", 1), ("cas", [1, 2]), ("read", None))]
    finally:
        s.close(test)
        r.close(test)
    assert adds == [OK] * 3 and (read.type, read.value) == (OK, [1, 2, 3])
    assert [(o.type, o.value) for o in ops] == [
        (OK, [0, None]), (FAIL, [0, [1, 2]]), (OK, [0, 1]), (OK, [0, [1, 2]]), (OK, [0, 2])]
    # A write sent to a member that never answers may have happened; a read
    # that never came back did not change anything.
    dead = {**test, "nodes": {"n1": {"address": "127.0.0.1", "client_port": silent_port}},
            "op_timeout": 0.3}
    c = KVClient(register.steps, api).open(dead, "n1")
    try:
        outcomes = [c.invoke(dead, Op(type=INVOKE, f=f, value=[0, v])).type
                    for f, v in (("read", None), ("write", 1), ("cas", [1, 2]))]
    finally:
        c.close(dead)
    assert outcomes == [FAIL, INFO, INFO]
