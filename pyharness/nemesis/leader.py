"""Who leads the cluster right now, asked of the members themselves.

Raft has at most one leader per term, and every member that has heard from
it knows its id. etcd's v3 ``Maintenance.Status`` (``POST
/v3/maintenance/status`` on the JSON gateway, body ``{}``) answers with the
member's own id (``header.member_id``) and the leader's id (``leader``). The
leader is the member whose own id is the leader id most members report.

Why not v2 ``/v2/stats/self``: its ``state`` is stale, and an isolated
follower was seen calling itself leader there (lab notes).

Only the inventory's addresses are asked, each once, with a short timeout
and no retries: a paused or cut-off member simply doesn't vote.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyharness.etcd import v3 as etcd_v3

log = logging.getLogger(__name__)


def member_status(address: str, port: int, timeout: float = 0.5) -> dict[str, Any] | None:
    """One member's status answer, or None if it didn't answer in time."""
    conn = etcd_v3.connect(address, port, timeout=timeout)
    try:
        return conn.call("/maintenance/status", {})
    except Exception as e:  # any failure means this member can't vote
        log.debug("status of %s:%s: %s", address, port, e)
        return None
    finally:
        conn.close()


def find_leader(nodes: Mapping[str, Mapping[str, Any]], timeout: float = 0.5) -> str | None:
    """The name of the leading member, or None when no leader is known.

    ``nodes`` is ``test["nodes"]``: name -> {"address", "client_port"}."""
    names = list(nodes)
    if not names:
        return None
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        answers = list(pool.map(
            lambda n: member_status(str(nodes[n]["address"]),
                                    int(nodes[n].get("client_port", 2379)), timeout), names))
    ids: dict[str, str] = {}
    votes: Counter[str] = Counter()
    for name, a in zip(names, answers, strict=True):
        if not a:
            continue
        own = str(a.get("header", {}).get("member_id", ""))
        if own:
            ids[own] = name
        lead = str(a.get("leader", "0"))
        if lead not in ("", "0"):
            votes[lead] += 1
    for lead, _n in votes.most_common():
        if lead in ids:
            return ids[lead]
    return None
