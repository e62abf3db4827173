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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def etcd_member(data: Path, args: list[str], ready: Callable[[], bool],
                what: str = "etcd") -> Iterator[subprocess.Popen[bytes]]:
    """A real etcd process with ``args``, logging to ``data/etcd.log``, yielded
    once ``ready()`` is true and stopped afterwards."""
    log = (data / "etcd.log").open("w")
    proc = subprocess.Popen([ETCD, "--data-dir", str(data / "data"), *args], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start; see {data / 'etcd.log'}")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def member_args(name: str, client: int, peer: int, client_scheme: str = "http") -> list[str]:
    """Flags for a one-member cluster on loopback: ``name`` on these ports."""
    url = f"{client_scheme}://127.0.0.1:{client}"
    peer_url = f"http://127.0.0.1:{peer}"
    return ["--name", name, "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"{name}={peer_url}"]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
            return b"true" in r.read()
    except OSError:
        return False


@pytest.fixture(scope="session")
def local_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEtcd]:
    if not Path(ETCD).exists():
        pytest.skip("etcd is not installed (scripts/bootstrap installs it)")
    data = tmp_path_factory.mktemp("etcd")
    client, peer = free_port(), free_port()
    # Progress notifications twice a second, for the watch workload's tests.
    args = [*member_args("local", client, peer), "--enable-v2=true",
            "--experimental-watch-progress-notify-interval=500ms"]
    with etcd_member(data, args, lambda: healthy(f"http://127.0.0.1:{client}"), "local etcd"):
        yield LocalEtcd("127.0.0.1", client)
