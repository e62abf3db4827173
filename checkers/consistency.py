"""Do the members hold the same data? etcd's replicas compared after the test.

A history can pass every checker while one member's store has diverged from
the others' (etcd#13766: a member that applied an entry twice, or skipped
one, after a crash). This checker compares what each member holds, from
the answers :func:`pyharness.etcd.cluster_state.collect` gathered once the test
is over (after the final reads):

- every member's ``maintenance/status``: revision, raft index, raft applied
  index, term, leader (reported; members may lag, which is no divergence);
- ``HashKV`` at one revision R every member holds (the least of their
  revisions), which hashes each member's key-value history from its
  compacted revision up to R: members that applied the same entries agree;
- the workload's keys, read from each member alone (serializable) at R.

Verdict:

- **invalid** when two members that answered disagree: their HashKV at R
  (same compacted revision), or a key's value, mod revision or version at
  R. The result names the members of each side, R and the keys that differ,
  with each member's value;
- **unknown**, with the reason, when a member did not answer (down,
  partitioned, error), R was compacted (HashKV cannot be asked at or below
  the compacted revision), or the members' compacted revisions differ (their
  hashes then cover different histories). Never a silent pass;
- **valid** otherwise.

Pure: it takes plain data (etcd's JSON answers), no network.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from checkers.core import UNKNOWN, Valid
from pyharness.history import Op

#: Keys that differ, listed in full up to this many; the count stays exact.
MAX_KEYS = 20
MAX_VALUE_CHARS = 200


def _int(d: Mapping[str, Any], key: str) -> int | None:
    v = d.get(key)
    return None if v is None else int(v)


def _text(b64: str) -> str:
    raw = base64.b64decode(b64)
    s = raw.decode("utf-8", errors="replace")
    return s if len(s) <= MAX_VALUE_CHARS else s[:MAX_VALUE_CHARS] + "..."


def _is_compacted(error: str) -> bool:
    return "compacted" in error


def member_summary(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The figures of one member's answers, for tables and results."""
    out: dict[str, Any] = {"endpoint": entry.get("endpoint")}
    st = entry.get("status", {})
    if "answer" in st:
        a = st["answer"]
        header = a.get("header", {})
        out.update(member_id=str(header.get("member_id", "")),
                   revision=int(header.get("revision", 0)),
                   raft_term=_int(a, "raftTerm"), raft_index=_int(a, "raftIndex"),
                   # 3.4.0+: raftAppliedIndex; absent (0) if older
                   raft_applied_index=_int(a, "raftAppliedIndex"),
                   leader=str(a.get("leader", "")), version=a.get("version"),
                   db_size=_int(a, "dbSize"), errors=list(a.get("errors", [])))
        out["is_leader"] = out["leader"] == out["member_id"] and out["member_id"] != ""
    else:
        out["error"] = st.get("error", "no status")
    hk = entry.get("hashkv", {})
    if "answer" in hk:
        out["hash"] = int(hk["answer"].get("hash", 0))
        out["compact_revision"] = int(hk["answer"].get("compact_revision", 0))
    elif "error" in hk:
        out["hashkv_error"] = hk["error"]
    return out


def _kvs(entry: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    rng = entry.get("range", {})
    if "answer" not in rng:
        return None
    out = {}
    for kv in rng["answer"].get("kvs", []):
        out[_text(kv.get("key", ""))] = {
            "value": _text(kv.get("value", "")),
            "mod_revision": int(kv.get("mod_revision", 0)),
            "version": int(kv.get("version", 0))}
    return out


def check(state: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict on :func:`pyharness.etcd.cluster_state.collect`'s answers."""
    members: Mapping[str, Mapping[str, Any]] = state.get("members", {})
    revision = state.get("revision")
    reasons: list[str] = []
    problems: list[str] = []
    summaries = {name: member_summary(e) for name, e in members.items()}
    result: dict[str, Any] = {"revision": revision, "prefix": state.get("prefix"),
                              "members": summaries}
    expected = state.get("expected_members")
    if expected:
        missing = [m for m in expected if m not in members]
        if missing:
            reasons.append(f"no answers from member(s) {', '.join(missing)}")
    if not members:
        reasons.append("no member was asked")
    for name, s in summaries.items():
        if "error" in s:
            reasons.append(f"member {name} ({s.get('endpoint')}) did not answer its status: "
                           f"{s['error']}")
    if revision is None:
        result["valid?"] = UNKNOWN
        result["reason"] = "; ".join(reasons or ["no member answered its status"])
        return result

    # HashKV at R
    hashes: dict[str, int] = {}
    compacts: dict[str, int] = {}
    for name, s in summaries.items():
        if "error" in s:
            continue
        if "hash" in s:
            hashes[name] = s["hash"]
            compacts[name] = s["compact_revision"]
        elif "hashkv_error" in s:
            if _is_compacted(s["hashkv_error"]):
                reasons.append(f"revision {revision} is compacted on member {name}: "
                               f"HashKV cannot be compared ({s['hashkv_error']})")
            else:
                reasons.append(f"member {name} did not answer HashKV at revision {revision}: "
                               f"{s['hashkv_error']}")
        else:
            reasons.append(f"member {name}: no HashKV answer")
    for name, c in compacts.items():
        if c >= revision:
            reasons.append(f"revision {revision} is compacted on member {name} "
                           f"(compacted at {c})")
    hash_groups: dict[int, list[str]] = {}
    if len(set(compacts.values())) > 1:
        reasons.append("members compacted at different revisions ("
                       + ", ".join(f"{n}: {c}" for n, c in sorted(compacts.items()))
                       + "): their hashes cover different histories")
    else:
        for name, h in sorted(hashes.items()):
            hash_groups.setdefault(h, []).append(name)
    result["hashes"] = {name: h for name, h in sorted(hashes.items())}
    if len(hash_groups) > 1:
        sides = "; ".join(f"{', '.join(ns)}: {h}" for h, ns in
                          sorted(hash_groups.items(), key=lambda kv: (-len(kv[1]), kv[1])))
        problems.append(f"members disagree on HashKV at revision {revision}: {sides}")
        result["hash-groups"] = [{"hash": h, "members": ns} for h, ns in hash_groups.items()]

    # The workload's keys at R
    if state.get("prefix") is not None:
        views: dict[str, dict[str, dict[str, Any]]] = {}
        for name, e in members.items():
            if "error" in summaries[name]:
                continue
            kvs = _kvs(e)
            if kvs is None:
                err = e.get("range", {}).get("error", "no answer")
                if _is_compacted(err):
                    reasons.append(f"revision {revision} is compacted on member {name}: its "
                                   f"keys cannot be read there ({err})")
                else:
                    reasons.append(f"member {name} did not answer the read of its keys at "
                                   f"revision {revision}: {err}")
                continue
            views[name] = kvs
        differing: dict[str, dict[str, Any]] = {}
        for key in sorted({k for v in views.values() for k in v}):
            seen = {name: v.get(key) for name, v in sorted(views.items())}
            if len({repr(x) for x in seen.values()}) > 1:
                differing[key] = seen
        result["keys-compared"] = len({k for v in views.values() for k in v})
        if differing:
            result["differing-key-count"] = len(differing)
            result["differing-keys"] = dict(list(differing.items())[:MAX_KEYS])
            names = ", ".join(list(differing)[:5]) + (", ..." if len(differing) > 5 else "")
            problems.append(f"{len(differing)} key(s) differ between members at revision "
                            f"{revision}: {names}")

    valid: Valid
    if problems:
        valid = False
        result["error"] = "; ".join(problems)
    elif reasons:
        valid = UNKNOWN
    else:
        valid = True
    if reasons:
        result["reason"] = "; ".join(reasons)
    result["valid?"] = valid
    return result


class ConsistencyChecker:
    """:func:`check` as a checker of a run: ``state`` is what
    :func:`pyharness.etcd.cluster_state.collect` gathered after the final reads
    (None: nothing was collected, which is unknown)."""

    name = "consistency"

    def __init__(self, state: Mapping[str, Any] | None,
                 expected_members: Sequence[str] | None = None) -> None:
        self.state = state
        self.expected = list(expected_members) if expected_members is not None else None

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        if self.state is None:
            return {"valid?": UNKNOWN,
                    "reason": "the members' state was not collected after the final reads"}
        state = dict(self.state)
        if self.expected is not None:
            state["expected_members"] = self.expected
        elif "nodes" in test:
            state["expected_members"] = list(test["nodes"])
        return check(state)
