"""etcd's v3 API through the JSON gateway, against a real single member.

Semantics (put/get/txn, compare on mod_revision, create-if-absent), the
triage of failures into definite and indeterminate, TLS client certificates,
and the set and register v3 clients driven by the interpreter and judged by
the real checkers.
"""

from __future__ import annotations

import random
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checkers.linearizable import Linearizable
from checkers.set import SetChecker
from pyharness.etcd import v3 as etcd_v3
from pyharness.gen import generator as g
from pyharness.gen import interpreter
from pyharness.history import FAIL, INFO, INVOKE, OK, HistoryWriter, Op, read_jsonl
from pyharness.workloads import register as register_workload
from pyharness.workloads import set as set_workload
from pyharness.workloads.base import AsyncKVClient, KVClient
from pyharness.workloads.varstore import VarStoreClient
from tests.conftest import ETCD, LocalEtcd, etcd_member, free_port, healthy, member_args


def RegisterClientV3() -> KVClient:
    """The register workload's client on v3 (its one client, over the KV interface)."""
    return KVClient(register_workload.steps, "v3")


def SetClientV3() -> KVClient:
    return KVClient(set_workload.steps, "v3")


def fresh_key(name: str) -> str:
    return f"/test-v3/{uuid.uuid4().hex[:8]}/{name}"


@pytest.fixture
def conn(local_etcd: LocalEtcd) -> Iterator[etcd_v3.Connection]:
    c = etcd_v3.connect(local_etcd.address, local_etcd.port, timeout=5.0)
    yield c
    c.close()


def test_put_then_get_returns_value_and_revisions(conn: etcd_v3.Connection) -> None:
    key = fresh_key("k")
    assert conn.get(key) is None
    rev1 = conn.put(key, "one")
    kv = conn.get(key)
    assert kv is not None and kv.value == b"one"
    assert kv.create_revision == kv.mod_revision == rev1 and kv.version == 1
    rev2 = conn.put(key, "two")
    assert rev2 > rev1
    kv2 = conn.get(key, serializable=True)
    assert kv2 is not None and kv2.value == b"two"
    assert (kv2.create_revision, kv2.mod_revision, kv2.version) == (rev1, rev2, 2)


def test_empty_value_reads_back_as_empty_not_absent(conn: etcd_v3.Connection) -> None:
    key = fresh_key("empty")
    conn.put(key, b"")
    kv = conn.get(key)
    assert kv is not None and kv.value == b"" and kv.version == 1


def test_txn_on_mod_revision_succeeds_once_then_conflicts(conn: etcd_v3.Connection) -> None:
    key = fresh_key("cas")
    rev = conn.put(key, "a")
    first = conn.txn([etcd_v3.compare_mod_revision(key, rev)], [etcd_v3.put_op(key, "b")],
                     [etcd_v3.range_op(key)])
    assert first.succeeded and first.revision > rev
    # Same stale revision again: the compare fails, the failure branch runs
    # and hands back the current state.
    second = conn.txn([etcd_v3.compare_mod_revision(key, rev)], [etcd_v3.put_op(key, "c")],
                      [etcd_v3.range_op(key)])
    assert not second.succeeded
    [[current]] = second.ranges
    assert current.value == b"b" and current.mod_revision == first.revision
    assert second.revision == first.revision  # nothing was written
    kv = conn.get(key)
    assert kv is not None and kv.value == b"b"


def test_create_if_absent_only_once(conn: etcd_v3.Connection) -> None:
    key = fresh_key("create")
    made = conn.txn([etcd_v3.compare_absent(key)], [etcd_v3.put_op(key, "first")])
    again = conn.txn([etcd_v3.compare_absent(key)], [etcd_v3.put_op(key, "second")])
    assert made.succeeded and not again.succeeded
    kv = conn.get(key)
    assert kv is not None and kv.value == b"first"


def test_compare_value_fails_on_mismatch_and_on_absent_key(conn: etcd_v3.Connection) -> None:
    key = fresh_key("val")
    assert not conn.txn([etcd_v3.compare_value(key, "0")], [etcd_v3.put_op(key, "1")]).succeeded
    assert conn.get(key) is None
    conn.put(key, "3")
    assert not conn.txn([etcd_v3.compare_value(key, "0")], [etcd_v3.put_op(key, "1")]).succeeded
    assert conn.txn([etcd_v3.compare_value(key, "3")], [etcd_v3.put_op(key, "4")]).succeeded
    kv = conn.get(key)
    assert kv is not None and kv.value == b"4"


def test_prefix_read_and_delete_stay_inside_the_prefix(conn: etcd_v3.Connection) -> None:
    base = fresh_key("p")
    for k in ("a", "b"):
        conn.put(f"{base}/{k}", k)
    conn.put(base + "0", "neighbour")  # shares the bytes, not the directory
    assert [kv.key.decode() for kv in conn.get_prefix(base + "/")] == [f"{base}/a", f"{base}/b"]
    assert conn.delete_prefix(base + "/") == 2
    assert conn.get_prefix(base + "/") == []
    assert conn.get(base + "0") is not None


def test_prefix_end_carries_past_0xff() -> None:
    assert etcd_v3.prefix_end(b"a/") == b"a0"
    assert etcd_v3.prefix_end(b"a\xff") == b"b"
    assert etcd_v3.prefix_end(b"\xff\xff") == b"\0"


def test_watch_waits_for_a_write_after_the_revision(conn: etcd_v3.Connection,
                                                     local_etcd: LocalEtcd) -> None:
    key = fresh_key("w")
    rev = conn.put(key, "1")
    # Nothing written after rev: the watch gives up after its timeout.
    t0 = time.monotonic()
    assert conn.watch(key, rev + 1, timeout=0.3) is False
    assert 0.25 < time.monotonic() - t0 < 3
    # A write already made after the revision is seen at once.
    conn.put(key, "2")
    assert conn.watch(key, rev + 1, timeout=5) is True
    # A write made while the watch waits ends it; other keys do not.
    now = conn.get(key)
    assert now is not None
    other = etcd_v3.connect(local_etcd.address, local_etcd.port, timeout=2)

    def write_later() -> None:
        time.sleep(0.3)
        other.put(key + "-not-this-one", "x")
        time.sleep(0.3)
        other.put(key, "3")
    th = threading.Thread(target=write_later)
    th.start()
    t0 = time.monotonic()
    assert conn.watch(key, now.mod_revision + 1, timeout=10) is True
    assert 0.5 < time.monotonic() - t0 < 5
    th.join()
    # The connection serves plain requests after a watch was cut off.
    got = conn.get(key)
    assert got is not None and got.value == b"3"
    other.close()


def test_request_etcd_rejects_is_definite(conn: etcd_v3.Connection) -> None:
    with pytest.raises(etcd_v3.EtcdV3Error) as info:
        conn.put(b"", "no key")  # "etcdserver: key is not provided"
    assert info.value.code == 3
    t = etcd_v3.classify(info.value)
    assert t.definite and t.error[0] == "invalid-argument"


def test_unknown_gateway_path_is_definite(conn: etcd_v3.Connection) -> None:
    with pytest.raises(etcd_v3.EtcdV3Error) as info:
        conn.call("/kv/no-such-call", {})
    assert info.value.status == 404
    assert etcd_v3.classify(info.value).definite


def test_connection_refused_is_definite() -> None:
    port = free_port()  # bound then released: nothing listens there
    c = etcd_v3.connect("127.0.0.1", port, timeout=1.0)
    with pytest.raises(Exception) as info:
        c.put("k", "v")
    t = etcd_v3.classify(info.value)
    assert t.definite and t.error[0] == "connect-failed"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose kernel completes the TCP handshake (listen backlog) but
    whose owner never reads or answers: the request is sent, then nothing."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def test_timeout_after_sending_is_indeterminate(silent_port: int) -> None:
    c = etcd_v3.connect("127.0.0.1", silent_port, timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(Exception) as info:
        c.put("k", "v")
    assert time.monotonic() - t0 < 5  # one attempt, not a hidden retry loop
    t = etcd_v3.classify(info.value)
    assert not t.definite and t.error == ["timeout"]


def test_connection_dropped_mid_request_is_indeterminate() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = int(s.getsockname()[1])

        def hang_up() -> None:
            peer, _ = s.accept()
            peer.recv(65536)  # the request arrived; then the line goes dead
            peer.close()
        t = threading.Thread(target=hang_up, daemon=True)
        t.start()
        c = etcd_v3.connect("127.0.0.1", port, timeout=5.0)
        with pytest.raises(Exception) as info:
            c.put("k", "v")
        t.join(5)
    triage = etcd_v3.classify(info.value)
    assert not triage.definite and triage.error[0] == "connection-lost"


# --- the workload clients, driven by the interpreter ----------------------

def _test_map(local_etcd: LocalEtcd, **options: Any) -> dict[str, Any]:
    return {"nodes": {"n1": {"address": local_etcd.address, "client_port": local_etcd.port}},
            "op_timeout": 5.0, "key_prefix": fresh_key("run"), "options": options}


def _run(tmp_path: Path, test: dict[str, Any], gen: g.Generator, client: Any,
         concurrency: int) -> list[Op]:
    w = HistoryWriter(tmp_path / "history.jsonl")
    interpreter.run(test, gen, client, None, ["n1"], concurrency, w, rng=random.Random(11))
    w.close()
    return read_jsonl(tmp_path / "history.jsonl")


@pytest.mark.parametrize("engine", ["threads", "async"])
def test_set_client_v3_history_is_valid(local_etcd: LocalEtcd, tmp_path: Path,
                                        engine: str) -> None:
    test = _test_map(local_etcd)
    wl = set_workload.workload({"api": "v3"})
    assert wl.final_generator is not None and wl.async_client is not None
    gen = g.phases(g.clients(g.limit(60, wl.generator)), g.clients(wl.final_generator))
    client = wl.async_client if engine == "async" else wl.client
    history = _run(tmp_path, test, gen, client, concurrency=5)

    adds = [o for o in history if o.f == "add" and o.type == OK]
    # No faults: an add either lands or, starved by the others' wins, gives
    # up after its bounded retries, a definite failure; nothing is unknown.
    gave_up = [o for o in history if o.f == "add" and o.type != OK and o.type != INVOKE]
    assert all(o.type == FAIL and o.error == ["too-many-conflicts"] for o in gave_up)
    assert len(adds) + len(gave_up) == 60 and len(adds) >= 50
    # Five concurrent adders on one key must collide, and the txn on
    # mod_revision must catch it.
    assert sum(o.extra.get("cas_conflicts", 0) for o in adds) > 0
    result = SetChecker().check(test, history)
    assert result["valid?"] is True
    assert result["acknowledged-count"] == len(adds) and result["lost-count"] == 0
    [final] = [o for o in history if o.f == "read" and o.type == OK]
    assert final.value == sorted(o.value for o in adds)


def test_register_client_v3_history_is_linearizable(local_etcd: LocalEtcd,
                                                     tmp_path: Path) -> None:
    test = _test_map(local_etcd, serializable=True)
    wl = register_workload.workload({"ops_per_key": 50, "concurrency": 4})
    history = _run(tmp_path, test, g.clients(g.limit(200, wl.generator)), RegisterClientV3(),
                   concurrency=4)

    completions = [o for o in history if o.type != INVOKE]
    assert len(completions) == 200 and not [o for o in completions if o.type == INFO]
    by_f = {(o.f, o.type) for o in completions}
    # Every op kind happened, and some cas failed its compare: the checker
    # had real choices to make.
    assert {("read", OK), ("write", OK), ("cas", OK), ("cas", FAIL)} <= by_f
    assert all(o.error == ["compare-failed"] for o in completions if o.type == FAIL)
    assert any(o.value[1] is not None for o in completions if o.f == "read")
    result = Linearizable(model="cas-register", independent="tuple").check(test, history)
    assert result["valid?"] is True


def test_register_client_v3_failures_follow_the_triage(tmp_path: Path,
                                                       silent_port: int) -> None:
    test = {"nodes": {"n1": {"address": "127.0.0.1", "client_port": silent_port}},
            "op_timeout": 0.3, "key_prefix": "/x", "options": {}}
    client = RegisterClientV3().open(test, "n1")
    outcomes = {f: client.invoke(test, Op(type=INVOKE, f=f, value=[0, v])).type
                for f, v in (("read", None), ("write", 1), ("cas", [1, 2]))}
    client.close(test)
    assert outcomes == {"read": FAIL, "write": INFO, "cas": INFO}


def test_set_client_v3_read_timeout_is_fail(silent_port: int) -> None:
    test = {"nodes": {"n1": {"address": "127.0.0.1", "client_port": silent_port}},
            "op_timeout": 0.3, "key_prefix": "/x", "options": {}}
    client = SetClientV3().open(test, "n1")
    read = client.invoke(test, Op(type=INVOKE, f="read"))
    # The add's own read times out before any txn: nothing written, so fail.
    add = client.invoke(test, Op(type=INVOKE, f="add", value=1))
    client.close(test)
    assert (read.type, read.error, add.type) == (FAIL, ["timeout"], FAIL)


class CutOnTxn:
    """A loopback TCP relay to a real member that goes silent, both ways,
    from the first request whose bytes mention ``/kv/txn``: the link is cut
    exactly between an add's read and its compare-and-set."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.cut = threading.Event()
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            down, _ = self.listener.accept()
        except OSError:
            return
        up = socket.create_connection(self.upstream)
        self.sockets += [down, up]
        threading.Thread(target=self._pipe, args=(down, up, True), daemon=True).start()
        threading.Thread(target=self._pipe, args=(up, down, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            if watch and b"/kv/txn" in data:
                self.cut.set()
            if not self.cut.is_set():
                dst.sendall(data)

    def close(self) -> None:
        for s in self.sockets:
            s.close()


def test_set_client_v3_add_cut_at_txn_is_info(local_etcd: LocalEtcd) -> None:
    relay = CutOnTxn((local_etcd.address, local_etcd.port))
    test = {"nodes": {"n1": {"address": "127.0.0.1", "client_port": relay.port}},
            "op_timeout": 0.5, "key_prefix": fresh_key("cut"), "options": {}}
    client = SetClientV3().open(test, "n1")
    add = client.invoke(test, Op(type=INVOKE, f="add", value=7))
    client.close(test)
    relay.close()
    assert relay.cut.is_set()  # the read went through; the txn was sent
    # The client cannot know the txn never arrived: unknown, not failed.
    assert (add.type, add.error) == (INFO, ["timeout"])


# --- TLS ------------------------------------------------------------------

def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_certs(d: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate.

    The server certificate needs clientAuth too: etcd's JSON gateway dials
    the member's own gRPC port presenting it, and ``--client-cert-auth``
    rejects a certificate that is for servers only."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=ca",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    server_ext = "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth"
    for name, ext in (("server", server_ext), ("client", "extendedKeyUsage=clientAuth")):
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
                 "-out", f"{name}.crt", cwd=d)


@pytest.fixture(scope="module")
def tls_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    if not Path(ETCD).exists():
        pytest.skip("etcd is not installed")
    d = tmp_path_factory.mktemp("tls")
    _make_certs(d)
    client, peer = free_port(), free_port()
    args = [*member_args("tls", client, peer, client_scheme="https"),
            "--cert-file", str(d / "server.crt"), "--key-file", str(d / "server.key"),
            "--trusted-ca-file", str(d / "ca.crt"), "--client-cert-auth"]
    with etcd_member(d, args, lambda: _tls_up(client, d), "TLS etcd"):
        yield client, d


def _tls_up(port: int, d: Path) -> bool:
    import ssl
    ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
    ctx.load_cert_chain(str(d / "client.crt"), str(d / "client.key"))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", timeout=1,
                                    context=ctx) as r:
            return b"true" in r.read()
    except OSError:
        return False


def test_tls_with_client_certificate(tls_etcd: tuple[int, Path]) -> None:
    port, d = tls_etcd
    tls = etcd_v3.TLS(ca=str(d / "ca.crt"), cert=str(d / "client.crt"),
                      key=str(d / "client.key"))
    c = etcd_v3.connect("127.0.0.1", port, timeout=5.0, tls=tls)
    key = fresh_key("tls")
    c.put(key, "secure")
    kv = c.get(key)
    assert kv is not None and kv.value == b"secure"
    c.close()


def test_tls_clients_read_options_from_the_test_map(tls_etcd: tuple[int, Path]) -> None:
    port, d = tls_etcd
    test = {"nodes": {"n1": {"address": "127.0.0.1", "client_port": port}},
            "op_timeout": 5.0, "key_prefix": fresh_key("tlsrun"),
            "options": {"tls_ca": str(d / "ca.crt"), "tls_cert": str(d / "client.crt"),
                        "tls_key": str(d / "client.key")}}
    client = RegisterClientV3().open(test, "n1")
    w = client.invoke(test, Op(type=INVOKE, f="write", value=[1, 3]))
    r = client.invoke(test, Op(type=INVOKE, f="read", value=[1, None]))
    client.close(test)
    assert (w.type, r.type, r.value) == (OK, OK, [1, 3])
    # The varstore workload's v3 client takes the same options.
    vs = VarStoreClient({"g": "gset"}).open({**test, "options": {**test["options"],
                                                                  "api": "v3"}}, "n1")
    done = [vs.invoke(test, Op(type=INVOKE, f=f, value=v)) for f, v in (
        ("declare", ["g", "gset"]), ("bind", ["g", [7]]), ("read", ["g", None]))]
    vs.close(test)
    assert [(o.type, o.value) for o in done][-1] == (OK, ["g", [7]])
    assert all(o.type == OK for o in done), done


def test_tls_server_not_trusted_is_definite(tls_etcd: tuple[int, Path],
                                            tmp_path: Path) -> None:
    port, _ = tls_etcd
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=other", "-keyout", "other.key", "-out", "other.crt", cwd=tmp_path)
    c = etcd_v3.connect("127.0.0.1", port, timeout=5.0,
                        tls=etcd_v3.TLS(ca=str(tmp_path / "other.crt")))
    with pytest.raises(Exception) as info:
        c.put("k", "v")
    t = etcd_v3.classify(info.value)
    assert t.definite and t.error[0] == "tls-failed"


@pytest.fixture(scope="module")
def auth_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEtcd]:
    """A member with authentication on: user root, password in a file."""
    if not Path(ETCD).exists():
        pytest.skip("etcd is not installed")
    d = tmp_path_factory.mktemp("auth")
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    args = member_args("auth", client, peer)

    with etcd_member(d, args, lambda: healthy(url), "auth etcd"):
        admin = etcd_v3.connect("127.0.0.1", client, timeout=5)
        admin.call("/auth/role/add", {"name": "root"})
        admin.call("/auth/user/add", {"name": "root", "password": "s3cret"})
        admin.call("/auth/user/grant", {"user": "root", "role": "root"})
        admin.call("/auth/enable", {})
        admin.close()
        (d / "password").write_text("s3cret\n")
        yield LocalEtcd("127.0.0.1", client)


def test_clients_authenticate_from_a_password_file(auth_etcd: LocalEtcd, tmp_path: Path
                                                   ) -> None:
    password_file = tmp_path / "pw"
    password_file.write_text("s3cret\n")
    test = _test_map(auth_etcd, auth_user="root", auth_password_file=str(password_file))
    wl = set_workload.workload({"api": "v3"})
    assert wl.final_generator is not None
    gen = g.phases(g.clients(g.limit(10, wl.generator)), g.clients(wl.final_generator))
    history = _run(tmp_path, test, gen, SetClientV3(), concurrency=2)
    assert len([o for o in history if o.f == "add" and o.type == OK]) == 10
    assert SetChecker().check(test, history)["valid?"] is True
    # Without credentials every op is refused, definitely: nothing happened.
    (tmp_path / "anon").mkdir()
    history = _run(tmp_path / "anon", _test_map(auth_etcd), g.clients(g.limit(3, wl.generator)),
                   SetClientV3(), concurrency=1)
    assert [o.type for o in history if o.type != INVOKE] == [FAIL] * 3


# --- the event-loop engine: the same requests and triage, as coroutines ----

def _async_call(coro_fn: Any) -> Any:
    import asyncio

    return asyncio.run(coro_fn())


def _async_failure(port: int, timeout: float, tls: etcd_v3.TLS | None = None) -> Any:
    from pyharness.etcd import v3_async as etcd_v3_async

    async def go() -> BaseException:
        c = etcd_v3_async.AsyncConnection("127.0.0.1", port, timeout=timeout, tls=tls)
        try:
            await c.put("k", "v")
        except Exception as e:
            return e
        finally:
            await c.close()
        raise AssertionError("the put succeeded")
    return etcd_v3_async.classify(_async_call(go))


def test_async_triage_matches_the_threaded_clients(silent_port: int) -> None:
    refused = _async_failure(free_port(), 1.0)
    assert refused.definite and refused.error[0] == "connect-failed"
    t0 = time.monotonic()
    timed_out = _async_failure(silent_port, 0.3)
    assert time.monotonic() - t0 < 5  # one attempt, not a hidden retry loop
    assert not timed_out.definite and timed_out.error == ["timeout"]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)

        def hang_up() -> None:
            peer, _ = s.accept()
            peer.recv(65536)  # the request arrived; then the line goes dead
            peer.close()
        threading.Thread(target=hang_up, daemon=True).start()
        lost = _async_failure(int(s.getsockname()[1]), 5.0)
    assert not lost.definite and lost.error[0] == "connection-lost"


def test_async_tls_untrusted_server_is_definite(tls_etcd: tuple[int, Path],
                                                tmp_path: Path) -> None:
    port, _ = tls_etcd
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=other", "-keyout", "other.key", "-out", "other.crt", cwd=tmp_path)
    t = _async_failure(port, 5.0, etcd_v3.TLS(ca=str(tmp_path / "other.crt")))
    assert t.definite and t.error[0] == "tls-failed"


class Counted:
    """An async client that counts what it really sent and what came back,
    to hold the history to: nothing lost, nothing duplicated."""

    def __init__(self, inner: Any, counts: Counter[str] | None = None) -> None:
        self.inner, self.counts = inner, counts if counts is not None else Counter()

    async def open(self, test: Any, node: str) -> Counted:
        return Counted(await self.inner.open(test, node), self.counts)

    async def close(self, test: Any) -> None:
        await self.inner.close(test)

    async def invoke(self, test: Any, op: Op) -> Op:
        self.counts["sent"] += 1
        done = await self.inner.invoke(test, op)
        self.counts[done.type] += 1
        return done


def test_async_register_at_high_concurrency_is_linearizable_and_lossless(
        local_etcd: LocalEtcd, tmp_path: Path) -> None:
    test = _test_map(local_etcd)
    wl = register_workload.workload({"ops_per_key": 40, "concurrency": 100, "api": "v3"})
    assert isinstance(wl.async_client, AsyncKVClient)
    assert wl.async_client.steps is register_workload.steps
    client = Counted(wl.async_client)
    history = _run(tmp_path, test, g.clients(g.limit(2000, wl.generator)), client,
                   concurrency=100)
    invokes = [o for o in history if o.type == INVOKE]
    completions = [o for o in history if o.type != INVOKE]
    assert len(invokes) == client.counts["sent"] == 2000
    for t in (OK, FAIL, INFO):
        assert len([o for o in completions if o.type == t]) == client.counts[t]
    assert len(completions) == 2000 and not [o for o in completions if o.type == INFO]
    # 100 ops really were in flight at once, not one after another.
    in_flight = peak = 0
    for o in history:
        in_flight += 1 if o.type == INVOKE else -1
        peak = max(peak, in_flight)
    assert peak > 50
    assert {("read", OK), ("write", OK), ("cas", OK), ("cas", FAIL)} <= \
        {(o.f, o.type) for o in completions}
    result = Linearizable(model="cas-register", independent="tuple").check(test, history)
    assert result["valid?"] is True


def test_async_clients_use_tls_and_auth_from_the_test_map(tls_etcd: tuple[int, Path],
                                                          auth_etcd: LocalEtcd,
                                                          tmp_path: Path) -> None:
    port, d = tls_etcd
    password_file = tmp_path / "pw"
    password_file.write_text("s3cret\n")
    for test in ({"nodes": {"n1": {"address": "127.0.0.1", "client_port": port}},
                  "op_timeout": 5.0, "key_prefix": fresh_key("tlsrun"),
                  "options": {"tls_ca": str(d / "ca.crt"), "tls_cert": str(d / "client.crt"),
                              "tls_key": str(d / "client.key")}},
                 _test_map(auth_etcd, auth_user="root",
                           auth_password_file=str(password_file))):
        async def go(test: dict[str, Any] = test) -> tuple[Op, Op]:
            c = await AsyncKVClient(register_workload.steps).open(test, "n1")
            try:
                w = await c.invoke(test, Op(type=INVOKE, f="write", value=[1, 3]))
                r = await c.invoke(test, Op(type=INVOKE, f="read", value=[1, None]))
            finally:
                await c.close(test)
            return w, r
        w, r = _async_call(go)
        assert (w.type, r.type, r.value) == (OK, OK, [1, 3])
