"""Installing etcd from a release archive, offline, on the lab.

``roles/etcd`` with ``etcd_install_method=archive`` downloads an upstream
release tarball (``etcd-vX-linux-amd64/{etcd,etcdctl}``), checks it against
``etcd_archive_sha256`` and unpacks it into ``etcd_install_dir``. These tests
need no internet: they pack the machine's own etcd into a tarball of that
shape and serve it over HTTP on the lab bridge's address, which every lab
host reaches. The lab hosts share this machine's filesystem, so one install
dir with identical content serves them all.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pyharness.control.ansible import Ansible
from pyharness.control.inventory import Node
from pyharness.etcd import v3 as etcd_v3
from pyharness.run.testrun import ClusterUnreachable, check_serves_v2
from tests.integration.conftest import netns_exec

RELEASE = "etcd-v3.4.23-linux-amd64"

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(not Path("/usr/bin/etcd").exists(), reason="needs Debian's etcd-server"),
]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def build_release(out_dir: Path) -> tuple[Path, str]:
    """A tarball shaped like etcd's release archives, and its sha256."""
    tarball = out_dir / f"{RELEASE}.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for exe in ("etcd", "etcdctl"):
            tar.add(f"/usr/bin/{exe}", arcname=f"{RELEASE}/{exe}")
    return tarball, hashlib.sha256(tarball.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def release(lab_nodes: list[Node], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[str, str]]:
    """(url, sha256) of the release archive, served until the module ends."""
    served = tmp_path_factory.mktemp("release")
    tarball, digest = build_release(served)
    # The bridge holds .254 of the lab subnet, on this machine.
    bridge = lab_nodes[0].address.rsplit(".", 1)[0] + ".254"
    server = ThreadingHTTPServer((bridge, 0), partial(_QuietHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{bridge}:{server.server_address[1]}/{tarball.name}", digest
    finally:
        server.shutdown()
        server.server_close()


def archive_vars(url: str, digest: str, install_dir: Path) -> dict[str, Any]:
    return {"etcd_install_method": "archive", "etcd_archive_url": url,
            "etcd_archive_sha256": digest, "etcd_install_dir": str(install_dir)}


def member_exe(node: str, port: int) -> str:
    """The binary of the process listening on the member's client port."""
    out = netns_exec(node, "ss", "-Htlnp", f"sport = :{port}").stdout
    pids = set(re.findall(r"pid=(\d+)", out))
    assert len(pids) == 1, f"{node}: expected one listener on :{port}: {out!r}"
    return os.readlink(f"/proc/{pids.pop()}/exe")


def test_members_run_the_archives_binary(ansible: Ansible, lab_nodes: list[Node],
                                         release: tuple[str, str], tmp_path: Path) -> None:
    install_dir = tmp_path / "etcd-v3.4.23"
    extravars = archive_vars(*release, install_dir)
    # A member running another binary would hold the ports.
    assert ansible.run("teardown.yml").ok
    try:
        first = ansible.run("setup.yml", extravars)
        assert first.ok, first.error_line()
        assert (install_dir / "etcdctl").exists()
        for n in lab_nodes:
            assert member_exe(n.name, n.client_port) == str(install_dir / "etcd")
        assert "--enable-v2=true" in member_cmdline(lab_nodes[0].name, lab_nodes[0].client_port)
        # The checksum is verified again, the archive not fetched again.
        # (etcd_fresh=false: setup otherwise restarts the members on purpose.)
        again = ansible.run("setup.yml", {**extravars, "etcd_fresh": False})
        assert again.ok, again.error_line()
        assert again.changed_hosts() == set()
    finally:
        ansible.run("teardown.yml", extravars)


def member_cmdline(node: str, port: int) -> list[str]:
    out = netns_exec(node, "ss", "-Htlnp", f"sport = :{port}").stdout
    pid = re.findall(r"pid=(\d+)", out)[0]
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def test_a_3_6_release_starts_without_the_v2_flag(ansible: Ansible, lab_nodes: list[Node],
                                                   release: tuple[str, str],
                                                   tmp_path: Path) -> None:
    # 3.6 refuses --enable-v2. The binary here is 3.4's, which runs either way:
    # what is checked is that the role leaves the flag out for 3.6.
    extravars = {**archive_vars(*release, tmp_path / "etcd-v3.6.0"), "etcd_version": "3.6.0"}
    assert ansible.run("teardown.yml").ok
    try:
        r = ansible.run("setup.yml", extravars)
        assert r.ok, r.error_line()
        n = lab_nodes[0]
        assert not any(a.startswith("--enable-v2") for a in member_cmdline(n.name,
                                                                          n.client_port))
        with pytest.raises(ClusterUnreachable, match="does not serve the v2 API"):
            check_serves_v2(n)
        conn = etcd_v3.connect(n.address, n.client_port, timeout=5)
        conn.put("/pyharness-test/v3-only", "1")
        assert conn.get("/pyharness-test/v3-only") is not None
        conn.close()
    finally:
        ansible.run("teardown.yml", extravars)


def test_a_wrong_checksum_fails_naming_the_host(ansible: Ansible, lab_nodes: list[Node],
                                                release: tuple[str, str], tmp_path: Path) -> None:
    url, _ = release
    wrong = hashlib.sha256(b"not the archive").hexdigest()
    install_dir = tmp_path / "etcd-bad"
    result = ansible.run("setup.yml", archive_vars(url, wrong, install_dir))
    assert not result.ok
    assert {f.host for f in result.failures} == {n.name for n in lab_nodes}
    for f in result.failures:
        assert f.task == "Download the etcd release archive"
        assert "checksum" in f.message and wrong in f.message
    assert result.failures[0].line().startswith(f"host {result.failures[0].host}: ")
    assert not (install_dir / "etcd").exists()
    assert not Path(f"{install_dir}.tar.gz").exists()
