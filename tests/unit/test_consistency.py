"""checkers.consistency on answers recorded from real 3-member clusters
(tests/data/consistency/cluster-*.json, made by record.py there: etcd 3.4.23,
HashKV over gRPC, and 3.5.16, HashKV through the gateway; and a 3.4.23
cluster with one member's data really corrupted), and on copies of them
with one member's answer edited: another hash, another value, a member
missing or down, a compacted revision."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from checkers.consistency import ConsistencyChecker, check

DATA = Path(__file__).resolve().parents[1] / "data" / "consistency"
RECORDED = sorted(DATA.glob("cluster-*.json"))
HEALTHY = [p for p in RECORDED if "corrupt" not in p.name]


def load(name: str = "cluster-3.4.23.json") -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def test_the_fixtures_are_real_answers_of_both_paths() -> None:
    assert [p.name for p in RECORDED] == ["cluster-3.4.23-corrupt.json", "cluster-3.4.23.json",
                                          "cluster-3.5.16.json"]
    old, new = load("cluster-3.4.23.json"), load("cluster-3.5.16.json")
    assert {m["hashkv"].get("via") for m in old["members"].values()} == {"grpc"}
    assert {m["hashkv"].get("via") for m in new["members"].values()} == {None}
    for d, v in ((old, "3.4.23"), (new, "3.5.16")):
        assert {m["status"]["answer"]["version"] for m in d["members"].values()} == {v}


@pytest.mark.parametrize("path", HEALTHY, ids=lambda p: p.name)
def test_a_healthy_cluster_is_valid(path: Path) -> None:
    r = check(json.loads(path.read_text()))
    assert r["valid?"] is True, r
    assert r["revision"] == 10
    assert len(set(r["hashes"].values())) == 1 and len(r["hashes"]) == 3
    assert r["keys-compared"] == 6  # /outside/prefix is not the workload's
    m1 = r["members"]["m1"]
    assert m1["revision"] == 10 and m1["compact_revision"] == 7
    assert m1["raft_index"] >= m1["raft_applied_index"] > 0
    assert sum(s["is_leader"] for s in r["members"].values()) == 1


def test_another_hash_on_one_member_is_invalid_and_names_the_sides() -> None:
    d = load()
    d["members"]["m2"]["hashkv"]["answer"]["hash"] = 12345
    r = check(d)
    assert r["valid?"] is False
    good = d["members"]["m1"]["hashkv"]["answer"]["hash"]
    assert r["error"] == (f"members disagree on HashKV at revision 10: m1, m3: {good}; "
                          "m2: 12345")
    assert sorted(map(tuple, (g["members"] for g in r["hash-groups"]))) == [("m1", "m3"),
                                                                             ("m2",)]


def test_another_value_of_a_key_on_one_member_is_invalid_and_names_the_key() -> None:
    d = load("cluster-3.5.16.json")
    kvs = d["members"]["m3"]["range"]["answer"]["kvs"]
    kv = next(kv for kv in kvs if kv["key"] == b64("/pyharness/fixture/register/3"))
    kv["value"] = b64("3")
    r = check(d)
    assert r["valid?"] is False
    assert "1 key(s) differ between members at revision 10: /pyharness/fixture/register/3" \
        in r["error"]
    seen = r["differing-keys"]["/pyharness/fixture/register/3"]
    assert seen["m1"]["value"] == "4" and seen["m2"]["value"] == "4"
    assert seen["m3"]["value"] == "3"


def test_a_key_missing_on_one_member_is_named_with_none() -> None:
    d = load()
    kvs = d["members"]["m1"]["range"]["answer"]["kvs"]
    kvs[:] = [kv for kv in kvs if kv["key"] != b64("/pyharness/fixture/set")]
    r = check(d)
    assert r["valid?"] is False
    assert r["differing-keys"]["/pyharness/fixture/set"]["m1"] is None
    assert r["differing-keys"]["/pyharness/fixture/set"]["m2"]["value"] == "[0, 1, 2]"


def test_a_member_missing_from_the_answers_is_unknown() -> None:
    d = load()
    del d["members"]["m3"]
    r = ConsistencyChecker(d).check({"nodes": {"m1": {}, "m2": {}, "m3": {}}}, [])
    assert r["valid?"] == "unknown"
    assert r["reason"] == "no answers from member(s) m3"


def test_a_member_down_is_unknown_naming_it() -> None:
    d = load()
    err = ("NewConnectionError: HTTPConnection(host='127.0.0.1', port=23794): "
           "Failed to establish a new connection: [Errno 111] Connection refused")
    d["members"]["m3"] = {"endpoint": "127.0.0.1:23794", "status": {"error": err}}
    r = check(d)
    assert r["valid?"] == "unknown"
    assert r["reason"].startswith("member m3 (127.0.0.1:23794) did not answer its status: ")
    assert "Connection refused" in r["reason"]


def test_a_disagreement_beats_a_member_down() -> None:
    d = load()
    d["members"]["m3"] = {"endpoint": "127.0.0.1:23794", "status": {"error": "refused"}}
    d["members"]["m2"]["hashkv"]["answer"]["hash"] = 1
    r = check(d)
    assert r["valid?"] is False and "m3" in r["reason"]


def test_a_compacted_revision_is_unknown() -> None:
    d = load()
    err = "etcdserver: mvcc: required revision has been compacted (gRPC status 11)"
    for m in d["members"].values():
        m["hashkv"] = {"error": err}
    r = check(d)
    assert r["valid?"] == "unknown"
    assert "revision 10 is compacted on member m1" in r["reason"]


def test_different_compacted_revisions_are_unknown_not_a_disagreement() -> None:
    d = load()
    d["members"]["m1"]["hashkv"]["answer"].update(compact_revision="9", hash=99)
    r = check(d)
    assert r["valid?"] == "unknown"
    assert "members compacted at different revisions (m1: 9, m2: 7, m3: 7)" in r["reason"]


def test_no_member_answering_is_unknown() -> None:
    r = check({"members": {"m1": {"status": {"error": "refused"}}}, "revision": None})
    assert r["valid?"] == "unknown" and "m1" in r["reason"]
    r = ConsistencyChecker(None).check({}, [])
    assert r["valid?"] == "unknown" and "not collected" in r["reason"]


def test_the_checker_does_not_change_its_input() -> None:
    d = load()
    before = copy.deepcopy(d)
    check(d)
    assert d == before


def test_hashkv_protobuf_codec() -> None:
    from pyharness.etcd import grpc as etcd_grpc
    assert etcd_grpc.encode_hashkv_request(10) == b"\x08\x0a"
    assert etcd_grpc.encode_hashkv_request(300) == b"\x08\xac\x02"
    header = b"\x08\x01\x10\x02\x18\x0a\x20\x02"  # cluster 1, member 2, revision 10, term 2
    msg = (b"\x0a" + bytes([len(header)]) + header + b"\x10" + etcd_grpc._varint(2283930555)
           + b"\x18" + etcd_grpc._varint(-1))
    assert etcd_grpc.decode_hashkv_response(msg) == {
        "header": {"cluster_id": "1", "member_id": "2", "revision": "10", "raft_term": "2"},
        "hash": 2283930555, "compact_revision": "-1"}


def test_a_real_divergence_is_invalid_naming_member_revision_and_key() -> None:
    """m3's value of /pyharness/fixture/set was changed in its bbolt file while
    the cluster was down (record.py --corrupt), as etcd's e2e tests corrupt
    a member; etcd's own periodic check raised CORRUPT on the same answers."""
    d = load("cluster-3.4.23-corrupt.json")
    r = check(d)
    assert r["valid?"] is False
    good = d["members"]["m1"]["hashkv"]["answer"]["hash"]
    bad = d["members"]["m3"]["hashkv"]["answer"]["hash"]
    assert good != bad
    assert r["error"] == (f"members disagree on HashKV at revision 10: m1, m2: {good}; "
                          f"m3: {bad}; 1 key(s) differ between members at revision 10: "
                          "/pyharness/fixture/set")
    assert r["differing-keys"] == {"/pyharness/fixture/set": {
        "m1": {"value": "[0, 1, 2]", "mod_revision": 8, "version": 2},
        "m2": {"value": "[0, 1, 2]", "mod_revision": 8, "version": 2},
        "m3": {"value": "[0, 1, 9]", "mod_revision": 8, "version": 2}}}
    assert d["alarms"]["answer"]["alarms"] == [{"alarm": "CORRUPT"}]
