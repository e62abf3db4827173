"""Shared test fixtures.

``local_etcd``: a real single-member etcd on loopback, for client-level
tests that need no faults. The lab (tests/integration) is for everything
that crosses a network.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
ETCD = shutil.which("etcd") or "/usr/bin/etcd"


@dataclass(frozen=True)
class LocalEtcd:
    address: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def local_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEtcd]:
    if not Path(ETCD).exists():
        pytest.skip("etcd is not installed (scripts/bootstrap installs it)")
    data = tmp_path_factory.mktemp("etcd")
    client, peer = _free_port(), _free_port()
    log = (data / "etcd.log").open("w")
    proc = subprocess.Popen(
        [ETCD, "--name", "local", "--data-dir", str(data / "data"),
         "--listen-client-urls", f"http://127.0.0.1:{client}",
         "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"local=http://127.0.0.1:{peer}",
         "--enable-v2=true"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{client}/health", timeout=1) as r:
                    if b"true" in r.read():
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"local etcd did not start; see {data / 'etcd.log'}")
            time.sleep(0.2)
        yield LocalEtcd("127.0.0.1", client)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
