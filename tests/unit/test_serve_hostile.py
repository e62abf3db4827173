"""serve against a hostile store and hostile clients (issue 17).

A store holding every broken run the issue lists, and a run with HTML in
every string and number field; clients that send nothing, too much, or ask
for FIFOs. Each test fails on the server before the fix.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyharness.report.serve import CSP, MAX_WORKERS, StoreHandler, is_loopback, make_server
from tests.hostile import MARKER, PAYLOAD, HostileStore, make_hostile_store
from tests.unit.test_serve import Served

EXE = Path(sys.executable).parent / "pyharness"


def Client(port: int) -> Served:
    return Served(port, Path("."), [])


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, HostileStore]]:
    h = make_hostile_store(tmp_path_factory.mktemp("hostile") / "store")
    server = make_server(h.store, "127.0.0.1", 0, quiet=True)
    server.RequestHandlerClass.timeout = 1.0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Client(server.server_address[1]), h
    finally:
        server.shutdown()
        server.server_close()


def rel(h: HostileStore, run: Path) -> str:
    return run.relative_to(h.store).as_posix()


def test_list_survives_every_broken_run_and_flags_them(
        hostile: tuple[Served, HostileStore]) -> None:
    c, h = hostile
    status, _, body = c.get("/")
    assert status == 200
    text = body.decode()
    for run in (h.good, h.html, *h.broken.values()):
        assert f'href="/runs/{rel(h, run)}/"' in text, run
    rows = text.split('<tr class="run')[1:]
    flagged = [r for r in rows if " broken" in r.split(">", 1)[0]]
    # the three bad test.json, the FIFO results.json, the non-UTF-8 name
    assert len(flagged) == 5, flagged
    assert "test.json is list" in text and "test.json is str" in text
    assert "options is a list" in text and "not UTF-8" in text
    assert "bad-\ufffd-name" in text  # shown, with a replacement character


def test_no_value_reaches_html_unescaped(hostile: tuple[Served, HostileStore]) -> None:
    c, h = hostile
    for path in ("/", f"/runs/{rel(h, h.html)}/", f"/browse/{rel(h, h.html)}/"):
        status, _, body = c.get(path)
        assert status == 200, path
        assert PAYLOAD.encode() not in body and b"<img src=x" not in body, path
        assert f"window.{MARKER}=1</script>".encode() not in body, path
    _, _, body = c.get(f"/runs/{rel(h, h.html)}/")
    assert b"&lt;img src=x onerror" in body  # re-rendered: the stale report is not served


def test_csp_runs_no_inline_script_but_ours() -> None:
    script_src = next(d for d in CSP.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'self'" not in script_src
    assert "'unsafe-inline'" not in CSP.split("style-src")[0]


def test_run_page_with_a_dict_process_is_served(hostile: tuple[Served, HostileStore]) -> None:
    c, h = hostile
    status, _, body = c.get(f"/runs/{rel(h, h.dict_process)}/")
    assert status == 200 and b"Cannot show this section" in body


def test_broken_runs_pages_answer(hostile: tuple[Served, HostileStore]) -> None:
    c, h = hostile
    for run in h.broken.values():
        status, _, _ = c.get(f"/runs/{rel(h, run)}/")
        assert status == 200, run


@pytest.mark.parametrize("name", ["fifo.log", "results.json"])
def test_fifo_is_404_at_once(hostile: tuple[Served, HostileStore],
                                         name: str) -> None:
    c, h = hostile
    run = h.broken["results.json is a FIFO"]
    assert not stat.S_ISREG((run / name).lstat().st_mode)
    started = time.monotonic()
    status, _, _ = c.get(f"/runs/{rel(h, run)}/{name}")
    assert status == 404 and time.monotonic() - started < 3


def test_device_is_404(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    try:
        os.mknod(store / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here")
    server = make_server(store, "127.0.0.1", 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status, _, body = Client(server.server_address[1]).get("/runs/zero")
        assert status == 404 and b"\0\0\0\0" not in body
    finally:
        server.shutdown()
        server.server_close()


def test_idle_connection_is_dropped(hostile: tuple[Served, HostileStore]) -> None:
    assert StoreHandler.timeout is not None and 0 < StoreHandler.timeout <= 60
    c, _ = hostile  # its server waits 1 s, to keep the test short
    with socket.create_connection(("127.0.0.1", c.port)) as s:
        started = time.monotonic()
        assert s.recv(1024) == b""  # the server closed it: no request came in time
        assert time.monotonic() - started < 8


def test_idle_connections_do_not_take_a_thread_each(
        hostile: tuple[Served, HostileStore]) -> None:
    c, _ = hostile
    before = threading.active_count()
    socks = [socket.create_connection(("127.0.0.1", c.port))
             for _ in range(MAX_WORKERS + 40)]
    try:
        time.sleep(0.3)
        assert threading.active_count() - before <= MAX_WORKERS
    finally:
        for s in socks:
            s.close()
    assert c.get("/")[0] == 200  # and it still serves afterwards


def test_request_size_is_limited(hostile: tuple[Served, HostileStore]) -> None:
    c, _ = hostile
    status, _, _ = c.get("/", headers={f"X-Pad-{i}": "a" * 1000 for i in range(40)})
    assert status == 431
    status, _, _ = c.get("/", headers={"Content-Length": "10"})
    assert status == 413


def test_host_check_stays_on_and_allow_host_extends_it(tmp_path: Path) -> None:
    server = make_server(tmp_path, "127.0.0.1", 0, quiet=True, allowed_hosts=["pyh.example"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        c = Client(server.server_address[1])
        assert c.get("/", headers={"Host": "pyh.example:80"})[0] == 200
        assert c.get("/", headers={"Host": "attacker.example"})[0] == 421
    finally:
        server.shutdown()
        server.server_close()


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("[::1]")
    assert is_loopback("localhost") and is_loopback("127.3.4.5")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.1.2.3")


def serve_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), "serve", *args], capture_output=True, text=True,
                          timeout=30)


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_port_is_validated(tmp_path: Path, port: str) -> None:
    r = serve_cli("--store", str(tmp_path), "--port", port)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"--port must be between 0 and 65535, got {port}" in r.stderr


def test_non_loopback_bind_warns_and_blames_host(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is not ours: the bind fails, but only after the warning.
    r = serve_cli("--store", str(tmp_path), "--host", "192.0.2.1", "--port", "0")
    assert "warning: --host 192.0.2.1 is not a loopback address" in r.stderr
    assert r.returncode == 2 and "error: --host 192.0.2.1:" in r.stderr
    assert "--port" not in r.stderr.split("error:", 1)[1]


def test_ipv6_loopback_binds(tmp_path: Path) -> None:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError as e:
        pytest.skip(f"no IPv6 loopback here: {e}")
    server = make_server(tmp_path, "::1", 0, quiet=True)
    try:
        assert server.server_address[0] == "::1"
    finally:
        server.server_close()
