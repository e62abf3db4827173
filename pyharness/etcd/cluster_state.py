"""What each member of a running cluster holds, asked over the v3 gateway.

The input of :mod:`checkers.consistency` and of ``pyharness check-cluster``:
plain data (JSON-ready dicts of etcd's own answers), so the checker is pure
and its tests run on answers recorded from real members.

Read-only: every request is a status, hash, range (serializable, at a fixed
revision), version or alarm *GET*; nothing is written to the cluster.

One :func:`collect` call, in this order:

1. ``POST /v3/maintenance/status`` on every member: its revision
   (``header.revision``), raft index, raft applied index, leader, db size,
   member id, version;
2. R = the least revision of the members that answered: a revision every
   member holds;
3. ``POST /v3/maintenance/hashkv`` with ``{"revision": R}`` on every member:
   the hash of the key-value store's history up to R (from its compacted
   revision, which the answer carries as ``compact_revision``). etcd 3.4's
   gateway has no such path (404), so there the same call goes over gRPC
   (:mod:`pyharness.etcd.grpc`), and the entry says ``"via": "grpc"``;
4. ``POST /v3/kv/range`` of the key prefix (the workload's keys), with
   ``serializable: true`` (the member's own copy, not the leader's) and
   ``revision: R``, so members that have applied more still answer for R;
5. optionally ``GET /version`` of every member, and ``POST
   /v3/maintenance/alarm`` with ``{"action": "GET"}`` of one member (alarms
   are the cluster's, and etcd serves an alarm GET through raft: it adds a
   log entry, though no key or revision changes).

A member that does not answer a request gets ``error`` for it (a string);
the checker turns that into unknown, never a silent pass. The gateway's
paths are ``/v3/`` in 3.4, 3.5 and 3.6 (see :mod:`pyharness.etcd.v3`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3

from pyharness.etcd import grpc as etcd_grpc
from pyharness.etcd import v3 as etcd_v3
from pyharness.etcd.v3 import TLS, EtcdV3Error, prefix_end


@dataclass(frozen=True)
class Member:
    """Where to ask one member: its name (the inventory's host), address, port."""

    name: str
    address: str
    port: int
    tls: TLS | None = None
    # For an auth-enabled cluster: the user, and a file holding its password.
    auth: tuple[str, str] | None = None


def _error_text(e: BaseException) -> str:
    if isinstance(e, EtcdV3Error):
        return f"{e.message or e} (HTTP {e.status}, code {e.code})"
    return f"{type(e).__name__}: {e}"[:300]


def _call(conn: etcd_v3.Connection, path: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"answer": conn.call(path, body)}
    except Exception as e:  # anything: a member that cannot answer is data
        return {"error": _error_text(e)}


def _hashkv(conn: etcd_v3.Connection, m: Member, revision: int,
            timeout: float) -> dict[str, Any]:
    """HashKV at ``revision``: the gateway's ``/v3/maintenance/hashkv`` (3.5+),
    else, where that path is 404 (3.4), the gRPC call itself."""
    try:
        return {"answer": conn.call("/maintenance/hashkv", {"revision": str(revision)})}
    except EtcdV3Error as e:
        if not (e.status == 404 and e.code is None):
            return {"error": _error_text(e)}
    except Exception as e:
        return {"error": _error_text(e)}
    try:
        return {"answer": etcd_grpc.hashkv(m.address, m.port, revision, timeout, m.tls,
                                           token=conn.token),
                "via": "grpc"}
    except etcd_grpc.GrpcError as e:
        return {"error": f"{e.message} (gRPC status {e.code})"}
    except Exception as e:
        return {"error": _error_text(e)}


def _get_version(m: Member, timeout: float) -> dict[str, Any]:
    scheme = "https" if m.tls is not None else "http"
    kw: dict[str, Any] = {}
    if m.tls is not None:
        kw = {"cert_reqs": "CERT_REQUIRED", "ca_certs": m.tls.ca, "cert_file": m.tls.cert,
              "key_file": m.tls.key}
    pool = urllib3.connection_from_url(f"{scheme}://{m.address}:{m.port}",
                                       timeout=urllib3.Timeout(connect=timeout, read=timeout),
                                       retries=False, **kw)
    try:
        r = pool.urlopen("GET", "/version", retries=False, redirect=False)
        if r.status != 200:
            return {"error": f"HTTP {r.status}: {r.data[:200].decode(errors='replace')}"}
        return {"answer": json.loads(r.data)}
    except Exception as e:
        return {"error": _error_text(e)}
    finally:
        pool.close()


def collect(members: Sequence[Member], prefix: bytes | str | None = None,
            timeout: float = 5.0, extras: bool = False) -> dict[str, Any]:
    """Ask every member; see the module doc. ``prefix`` None skips the key
    reads. ``extras`` adds ``/version`` and the alarm list.

    Returns ``{"revision": R or None, "prefix": str or None,
    "members": {name: {"endpoint", "status", "hashkv", "range", ...}}}``,
    each request's entry ``{"answer": etcd's JSON}`` or ``{"error": str}``.
    """
    conns = {m.name: etcd_v3.connect(m.address, m.port, timeout=timeout, tls=m.tls)
             for m in members}
    out: dict[str, Any] = {"members": {}}
    try:
        for m in members:
            entry: dict[str, Any] = {"endpoint": f"{m.address}:{m.port}"}
            out["members"][m.name] = entry
            if m.auth is not None:
                try:
                    # The password stays in its file.
                    password = Path(m.auth[1]).read_text().strip()
                    conns[m.name].authenticate(m.auth[0], password)
                except Exception as e:
                    entry["status"] = {"error": f"authenticate as {m.auth[0]}: "
                                                f"{_error_text(e)}"}
                    continue
            entry["status"] = _call(conns[m.name], "/maintenance/status", {})
        revs = [int(e["status"]["answer"].get("header", {}).get("revision", 0))
                for e in out["members"].values() if "answer" in e["status"]]
        revision = min(revs) if revs else None
        out["revision"] = revision
        if isinstance(prefix, str):
            prefix = prefix.encode()
        out["prefix"] = None if prefix is None else prefix.decode(errors="replace")
        for m in members:
            entry = out["members"][m.name]
            if revision is None or "answer" not in entry["status"]:
                continue
            entry["hashkv"] = _hashkv(conns[m.name], m, revision, timeout)
            if prefix is not None:
                entry["range"] = _call(conns[m.name], "/kv/range", {
                    "key": etcd_v3._enc(prefix), "range_end": etcd_v3._enc(prefix_end(prefix)),
                    "serializable": True, "revision": str(revision)})
        if extras:
            for m in members:
                out["members"][m.name]["version"] = _get_version(m, timeout)
            # Alarms are cluster-wide (raft-replicated); etcd serves even an
            # alarm GET through raft (one log entry, no key or revision
            # changes), so ask one member only: the first that answered.
            asked = next((m for m in members
                          if "answer" in out["members"][m.name]["status"]), None)
            if asked is not None:
                out["alarms"] = {"member": asked.name,
                                 **_call(conns[asked.name], "/maintenance/alarm",
                                         {"action": "GET"})}
    finally:
        for c in conns.values():
            c.close()
    return out


def members_from_test(test: Mapping[str, Any]) -> list[Member]:
    """The members of a run, from its ``test`` map (``nodes`` and the TLS options)."""
    options = test.get("options", {})
    ca, cert, key = (options.get(k) for k in ("tls_ca", "tls_cert", "tls_key"))
    tls = TLS(ca, cert, key) if (ca or cert or key) else None
    auth = ((str(options["auth_user"]), str(options["auth_password_file"]))
            if options.get("auth_user") else None)
    return [Member(name, str(n["address"]), int(n["client_port"]), tls, auth)
            for name, n in test["nodes"].items()]
