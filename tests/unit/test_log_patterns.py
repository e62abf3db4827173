"""log-file-pattern: alarming lines in the collected node logs fail the run."""

from __future__ import annotations

import json
from pathlib import Path

from checkers.log_patterns import MAX_EXAMPLES, LogPatternChecker

# Lines as etcd 3.4 writes them: capnslog text by default, zap JSON with --logger=zap.
CALM = [
    "2026-01-01 12:00:00.000001 I | etcdmain: etcd Version: 3.4.23",
    "2026-01-01 12:00:01.000001 W | rafthttp: lost the TCP streaming connection with peer",
    '{"level":"info","ts":"2026-01-01T12:00:02Z","caller":"etcdserver/server.go:2",'
    '"msg":"published local member to cluster through raft"}',
    "2026-01-01 12:00:05.000001 N | pkg/osutil: received terminated signal, shutting down...",
]


def _node(run: Path, host: str, lines: list[str], name: str = "etcd.log") -> Path:
    d = run / "nodes" / host
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    p.write_text("\n".join(lines) + "\n")
    return p


def test_calm_logs_are_valid(tmp_path: Path) -> None:
    for h in ("n1", "n2", "n3"):
        _node(tmp_path, h, CALM)
    r = LogPatternChecker(tmp_path).check({}, [])
    assert r["valid?"] is True
    assert r["files-scanned"] == 3 and r["hosts-scanned"] == ["n1", "n2", "n3"]
    assert r["match-count"] == 0 and r["matches"] == {}


def test_panic_in_one_host_is_invalid_with_the_line(tmp_path: Path) -> None:
    _node(tmp_path, "n1", CALM)
    _node(tmp_path, "n2", [*CALM[:2], "panic: runtime error: invalid memory address",
                           "goroutine 1 [running]:", CALM[3]])
    r = LogPatternChecker(tmp_path).check({}, [])
    assert r["valid?"] is False
    assert list(r["matches"]) == ["n2"]
    m = r["matches"]["n2"]
    assert m["count"] == 1 and m["by-pattern"] == {"panic": 1}
    ex = m["examples"][0]
    assert ex == {"file": "nodes/n2/etcd.log", "line": 3, "patterns": ["panic"],
                  "text": "panic: runtime error: invalid memory address"}


def test_zap_json_fatal_and_capnslog_critical_match(tmp_path: Path) -> None:
    zap = json.dumps({"level": "fatal", "msg": "failed to open backend", "error": "x"})
    crit = "2026-01-01 12:00:03.000001 C | etcdserver: read wal error"
    _node(tmp_path, "n1", [*CALM, zap])
    _node(tmp_path, "n3", [crit])
    r = LogPatternChecker(tmp_path).check({}, [])
    assert r["valid?"] is False
    assert r["matches"]["n1"]["by-pattern"] == {"fatal": 1}
    assert r["matches"]["n3"]["count"] == 1
    assert r["match-count"] == 2


def test_patterns_are_case_insensitive_regexes_and_configurable(tmp_path: Path) -> None:
    _node(tmp_path, "n1", ["DATA CORRUPTION detected at index 7", "Mismatch HASH 0xdead"])
    default = LogPatternChecker(tmp_path).check({}, [])
    assert default["matches"]["n1"]["by-pattern"] == {"data corruption": 1}
    custom = LogPatternChecker(tmp_path, patterns=[r"hash \S+"]).check({}, [])
    assert custom["matches"]["n1"]["examples"][0]["line"] == 2
    assert LogPatternChecker(tmp_path, patterns=["nothing-like-this"]).check({}, [])["valid?"]


def test_counts_stay_exact_beyond_the_examples(tmp_path: Path) -> None:
    _node(tmp_path, "n1", [f"panic: {i}" for i in range(40)])
    _node(tmp_path, "n1", ["fatal error: out of memory"], name="etcd.log.1")
    m = LogPatternChecker(tmp_path).check({}, [])["matches"]["n1"]
    assert m["count"] == 41 and m["by-pattern"] == {"panic": 40, "fatal": 1}
    assert len(m["examples"]) == MAX_EXAMPLES


def test_undecodable_bytes_do_not_stop_the_scan(tmp_path: Path) -> None:
    d = tmp_path / "nodes" / "n1"
    d.mkdir(parents=True)
    (d / "etcd.log").write_bytes(b"\xff\xfe garbage\npanic: after garbage\n")
    m = LogPatternChecker(tmp_path).check({}, [])["matches"]["n1"]
    assert m["examples"][0]["line"] == 2


def test_no_logs_is_unknown_with_the_reason(tmp_path: Path) -> None:
    r = LogPatternChecker(tmp_path).check({}, [])
    assert r["valid?"] == "unknown" and r["files-scanned"] == 0 and "no node logs" in r["reason"]


def test_run_dir_defaults_to_the_test_store_dir(tmp_path: Path) -> None:
    _node(tmp_path, "n2", ["panic: x"])
    r = LogPatternChecker().check({"store_dir": str(tmp_path)}, [])
    assert r["valid?"] is False and "n2" in r["matches"]


# --- etcd's corruption checks and alarms, in lines real members wrote

CORRUPT_LOGS = (Path(__file__).resolve().parents[1] / "data" / "consistency"
                / "cluster-3.4.23-corrupt")
# Raised by hand on a 3-member cluster (POST /v3/maintenance/alarm ACTIVATE).
NOSPACE_3_4 = ('{"level":"warn","ts":"2026-12-03T06:00:02.978Z","caller":"etcdserver/apply.go:636",'
               '"msg":"alarm raised","alarm":"NOSPACE","from":"437a29acf2f781cc"}')
NOSPACE_3_5 = ('{"level":"warn","ts":"2026-12-03T06:00:15.348943Z",'
               '"caller":"etcdserver/apply.go:753","msg":"alarm raised","alarm":"NOSPACE",'
               '"from":"437a29acf2f781cc"}')


def test_a_real_corruption_is_reported_with_its_alarm(tmp_path: Path) -> None:
    """m3's db was edited (record.py --corrupt): the leader's periodic check
    logged the mismatch and every member the CORRUPT alarm."""
    for log in sorted(CORRUPT_LOGS.glob("*.log")):
        _node(tmp_path, log.stem, log.read_text().splitlines())
    r = LogPatternChecker(tmp_path).check({}, [])
    assert r["valid?"] is False
    assert r["alarms"] == {"m1": ["CORRUPT"], "m2": ["CORRUPT"], "m3": ["CORRUPT"]}
    assert r["alarm-summary"] == ("m1: CORRUPT alarm raised; m2: CORRUPT alarm raised; "
                                  "m3: CORRUPT alarm raised")
    checked = [h for h, m in r["matches"].items()
               if "same compact revision then hashes must match" in m["by-pattern"]]
    # the leader checks: the one the same run's answers name
    answers = json.loads(CORRUPT_LOGS.with_name(CORRUPT_LOGS.name + ".json").read_text())
    ids = {n: m["status"]["answer"]["header"]["member_id"]
           for n, m in answers["members"].items()}
    leaders = {m["status"]["answer"]["leader"] for m in answers["members"].values()}
    assert checked == [n for n, i in ids.items() if i in leaders]


def test_corruption_checks_that_pass_are_calm(tmp_path: Path) -> None:
    calm = [line for log in sorted(CORRUPT_LOGS.glob("*.log"))
            for line in log.read_text().splitlines()
            if "corruption check" in line or "starting an etcd server" in line]
    assert any("initial corruption checking passed; no corruption" in x for x in calm)
    assert any('"msg":"enabled corruption checking"' in x for x in calm)
    _node(tmp_path, "n1", calm)
    r = LogPatternChecker(tmp_path).check({}, [])
    assert r["valid?"] is True, r["matches"]


def test_nospace_and_corrupt_alarms_are_named(tmp_path: Path) -> None:
    _node(tmp_path, "n1", [*CALM, NOSPACE_3_4])
    _node(tmp_path, "n2", [NOSPACE_3_5])
    _node(tmp_path, "n3", ["2026-12-03 06:01:37.388659 W | etcdserver/api/etcdhttp: "
                           "/health error due to alarm:CORRUPT "])
    _node(tmp_path, "n4", CALM)
    r = LogPatternChecker(tmp_path).check({}, [])
    assert r["valid?"] is False
    assert r["alarms"] == {"n1": ["NOSPACE"], "n2": ["NOSPACE"], "n3": ["CORRUPT"]}
    assert "n4" not in r["matches"]


def test_initial_check_failures_match(tmp_path: Path) -> None:
    _node(tmp_path, "n1", [
        "2026-12-03 06:00:00.000000 C | etcdmain: 756ce77e468b3d92 found data inconsistency "
        "with peers",
        '{"level":"error","ts":"2026-12-03T06:00:00Z","caller":"embed/etcd.go:259",'
        '"msg":"checkInitialHashKV failed","error":"756ce77e468b3d92 found data inconsistency '
        'with peers"}'])
    r = LogPatternChecker(tmp_path).check({}, [])
    assert r["valid?"] is False
    assert r["matches"]["n1"]["by-pattern"]["checkInitialHashKV failed"] == 1
    assert r["matches"]["n1"]["by-pattern"]["data inconsistency"] == 2
