"""A TLS lab cluster, end to end: certificates, members, health, a workload.

``playbooks/lab-tls.yml`` makes a throwaway CA, a certificate per host
(serverAuth and clientAuth, the host's IP as subjectAltName) and a client
certificate for the driver, and writes a copy of the lab inventory with
``etcd_tls: true``. ``setup.yml`` on that inventory starts members that
speak only https to clients and peers and demand a client certificate.
The v3 register workload then runs against it through the CLI, which takes
the driver's client certificate from the inventory's ``etcd_client_*_file``
variables, and its history must be linearizable.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyharness.control.ansible import Ansible
from pyharness.control.inventory import Node, load
from tests.integration.conftest import pyharness

pytestmark = pytest.mark.lab


def host_vars(inventory: Path, host: str) -> dict[str, Any]:
    exe = Path(sys.executable).parent / "ansible-inventory"
    out = subprocess.run([str(exe), "-i", str(inventory), "--host", host], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(out)


def health(url: str, ctx: ssl.SSLContext | None) -> str:
    with urllib.request.urlopen(url + "/health", timeout=3, context=ctx) as r:
        return json.load(r)["health"]


@pytest.fixture(scope="module")
def tls_lab(lab_inventory: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Path, list[Node]]]:
    """The TLS inventory, with its cluster up; the plain cluster is down."""
    tmp = tmp_path_factory.mktemp("tls")
    tls_inventory = tmp / "lab-tls.yml"
    plain = Ansible(lab_inventory, tmp / "ansible-plain")
    made = plain.run("lab-tls.yml", {"lab_tls_dir": str(tmp / "certs"),
                                     "lab_tls_inventory": str(tls_inventory)})
    assert made.ok, made.error_line()
    # The members keep their data dirs: a plain cluster must go first.
    assert plain.run("teardown.yml").ok
    tls = Ansible(tls_inventory, tmp / "ansible-tls")
    try:
        up = tls.run("setup.yml")
        assert up.ok, up.error_line()
        yield tls_inventory, load(tls_inventory)
    finally:
        tls.run("teardown.yml")


def test_members_speak_only_authenticated_https(tls_lab: tuple[Path, list[Node]]) -> None:
    inventory, nodes = tls_lab
    v = host_vars(inventory, nodes[0].name)
    assert v["etcd_tls"] is True
    verify = ssl.create_default_context(cafile=v["etcd_client_ca_file"])
    client = ssl.create_default_context(cafile=v["etcd_client_ca_file"])
    client.load_cert_chain(v["etcd_client_cert_file"], v["etcd_client_key_file"])
    for n in nodes:
        base = f"{n.address}:{n.client_port}"
        assert health(f"https://{base}", client) == "true"
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            health(f"http://{base}", None)
        # --client-cert-auth: no certificate, no handshake.
        with pytest.raises((urllib.error.URLError, ConnectionError, ssl.SSLError)):
            health(f"https://{base}", verify)


def test_register_v3_over_tls_with_partitions(tls_lab: tuple[Path, list[Node]],
                                              tmp_path: Path) -> None:
    """The whole driver against the TLS cluster: it takes the client
    certificate from the inventory's ``etcd_client_*_file`` variables."""
    inventory, _ = tls_lab
    store = tmp_path / "store"
    r = pyharness("test", "--workload", "register", "--api", "v3", "-i", str(inventory),
                  "--time-limit", "15", "--rate", "50", "--concurrency", "5",
                  "--nemesis-interval", "3", "--recovery-time", "3", "--store", str(store))
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads((store / "latest" / "results.json").read_text())
    assert results["linear"]["valid?"] is True
    assert results["stats"]["ok-count"] > 200
    test = json.loads((store / "latest" / "test.json").read_text())
    assert test["options"]["tls_ca"] and test["options"]["tls_cert"]
    # v2 clients cannot speak TLS here: a clear error, not a hang.
    r = pyharness("test", "--workload", "set", "-i", str(inventory), "--time-limit", "5")
    assert r.returncode == 2 and "--api v3" in r.stderr
