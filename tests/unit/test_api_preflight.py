"""Before a v2 run, the driver checks that the cluster serves the v2 API
(etcd 3.6 removed it; 3.4 and 3.5 serve it only with --enable-v2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pyharness.control.inventory import Node
from pyharness.run.testrun import ClusterUnreachable, check_serves_v2
from tests.conftest import ETCD, LocalEtcd, etcd_member, free_port, healthy, member_args


@pytest.fixture(scope="module")
def v3_only_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    if not Path(ETCD).exists():
        pytest.skip("etcd is not installed (scripts/bootstrap installs it)")
    data = tmp_path_factory.mktemp("etcd-v3-only")
    client, peer = free_port(), free_port()
    with etcd_member(data, member_args("v3only", client, peer),
                     lambda: healthy(f"http://127.0.0.1:{client}"), "v3-only etcd"):
        yield client


def test_a_cluster_without_v2_is_refused_with_the_way_out(v3_only_etcd: int) -> None:
    with pytest.raises(ClusterUnreachable) as e:
        check_serves_v2(Node("n1", "127.0.0.1", v3_only_etcd))
    msg = str(e.value)
    assert msg.startswith(f"host n1: etcd at http://127.0.0.1:{v3_only_etcd} does not serve "
                          "the v2 API")
    assert msg.endswith("use --api v3")


def test_a_cluster_with_v2_passes(local_etcd: LocalEtcd) -> None:
    check_serves_v2(Node("n1", local_etcd.address, local_etcd.port))


def test_nothing_listening_names_the_host() -> None:
    port = free_port()
    with pytest.raises(ClusterUnreachable, match=f"host n9: etcd at http://127.0.0.1:{port} "
                                                  "does not answer"):
        check_serves_v2(Node("n9", "127.0.0.1", port))
