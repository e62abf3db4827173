"""CI outputs: JUnit XML validates against Jenkins' schema; EDN reads back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.core import compose
from checkers.set import SetChecker
from checkers.stats import StatsChecker
from pyharness.history import Op
from pyharness.history.formats import read_history
from pyharness.report.export import export_edn
from pyharness.report.junit import write_junit

xmlschema = pytest.importorskip("xmlschema")

XSD = Path(__file__).resolve().parent.parent / "data" / "junit-10.xsd"


@pytest.fixture(scope="module")
def schema() -> Any:
    return xmlschema.XMLSchema(str(XSD))


def _set_history(lose: bool) -> list[Op]:
    ops = []
    for v in range(5):
        ops += [Op("invoke", "add", v, 0, 10 * v), Op("ok", "add", v, 0, 10 * v + 5)]
    final = [0, 1, 3, 4] if lose else [0, 1, 2, 3, 4]
    ops += [Op("invoke", "read", None, 1, 100), Op("ok", "read", final, 1, 105)]
    for i, op in enumerate(ops):
        op.index = i
    return ops


def _cases(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    return {c.get("name", ""): c for c in root.iter("testcase")}


def test_valid_run_is_one_passing_testcase_per_checker(tmp_path: Path, schema: Any) -> None:
    results = compose([SetChecker(), StatsChecker()], {}, _set_history(lose=False))
    path = write_junit(results, tmp_path / "junit.xml", "etcd-set")
    schema.validate(str(path))
    cases = _cases(path)
    assert set(cases) == {"set", "stats"}
    for c in cases.values():
        assert c.find("failure") is None and c.find("skipped") is None
        assert c.get("classname", "").startswith("etcd-set.")
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "0", "0")


def test_invalid_checker_is_a_failure_naming_what_was_lost(tmp_path: Path, schema: Any) -> None:
    results = compose([SetChecker(), StatsChecker()], {}, _set_history(lose=True))
    path = write_junit(results, tmp_path / "junit.xml", "etcd-set")
    schema.validate(str(path))
    fail = _cases(path)["set"].find("failure")
    assert fail is not None
    assert "lost-count=1" in fail.get("message", "")
    assert '"lost": "#{2}"' in (fail.text or "")
    assert _cases(path)["stats"].find("failure") is None
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"


def test_unknown_is_skipped_with_its_reason(tmp_path: Path, schema: Any) -> None:
    results = {"valid?": "unknown",
               "set": {"valid?": "unknown", "error": "never-read", "attempt-count": 3},
               "linear": {"valid?": "unknown", "error": "TimeoutError: search took too long"},
               "stats": {"valid?": True, "count": 3}}
    path = write_junit(results, tmp_path / "junit.xml", "t")
    schema.validate(str(path))
    cases = _cases(path)
    skipped = {n: c.find("skipped") for n, c in cases.items()}
    assert skipped["stats"] is None
    assert skipped["set"] is not None and "never-read" in skipped["set"].get("message", "")
    assert skipped["linear"] is not None and "TimeoutError" in skipped["linear"].get("message", "")
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None and suite.get("skipped") == "2" and suite.get("failures") == "0"


def test_control_characters_from_logs_still_make_valid_xml(tmp_path: Path, schema: Any) -> None:
    line = "\x1b[31mpanic:\x00 boom\x07"
    results = {"valid?": False, "log-file-pattern": {"valid?": False, "match-count": 1,
                                                     "matches": {"n1": {"examples": [line]}}}}
    path = write_junit(results, tmp_path / "junit.xml", "t")
    schema.validate(str(path))
    fail = _cases(path)["log-file-pattern"].find("failure")
    assert fail is not None and "boom" in (fail.text or "")


def test_schema_rejects_a_testcase_without_a_name(tmp_path: Path, schema: Any) -> None:
    # The schema is not a rubber stamp: a broken document fails it.
    bad = tmp_path / "bad.xml"
    bad.write_text('<testsuites><testsuite name="x" tests="1" failures="0" errors="0">'
                   "<testcase/></testsuite></testsuites>")
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(str(bad))


# --- EDN export


def _mixed_history() -> list[Op]:
    grudge = {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}
    ops = [
        Op("invoke", "add", 0, 0, 1_000, node="n1"),
        Op("info", "start-partition", grudge, "nemesis", 1_500),
        Op("ok", "add", 0, 0, 2_000, node="n1", extra={"cas_conflicts": 2}),
        Op("info", "start-partition", grudge, "nemesis", 2_500,
           extra={"effective_ns": 2_400, "hosts": ["n1", "n2", "n3"], "playbook_s": 0.8}),
        Op("invoke", "cas", ["k1", [1, 2]], 3, 3_000, node="n2"),
        Op("info", "cas", ["k1", [1, 2]], 3, 4_000, node="n2", error="timeout"),
        Op("invoke", "read", None, 4, 5_000),
        Op("fail", "read", None, 4, 6_000,
           error={"class": "urllib3.exceptions.ProtocolError", "message": 'said "no"'}),
        Op("invoke", "read", ["k1", None], 5, 7_000),
        Op("ok", "read", ["k1", None], 5, 8_000),
        Op("invoke", "add", 1, 6, 9_000),  # never completes
    ]
    for i, op in enumerate(ops):
        op.index = i
    return ops


def test_edn_export_is_jepsen_shaped(tmp_path: Path) -> None:
    path = export_edn(_mixed_history(), tmp_path / "history.edn")
    text = path.read_text()
    assert text.startswith("[{") and text.rstrip().endswith("}]")
    first = text.splitlines()[0]
    assert ":type :invoke" in first and ":f :add" in first and ":process 0" in first
    assert ":process :nemesis" in text and ":f :start-partition" in text
    assert ':error "timeout"' in text
    assert len(text.splitlines()) == len(_mixed_history())  # one op a line


def test_edn_export_reads_back_as_the_same_ops(tmp_path: Path) -> None:
    ops = _mixed_history()
    loaded = read_history(export_edn(ops, tmp_path / "history.edn"))
    assert loaded.format == "edn"
    assert [op.to_dict() for op in loaded.ops] == [op.to_dict() for op in ops]
    assert loaded.ops[1].process == "nemesis" and not loaded.ops[1].is_client


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(json_values, min_size=1, max_size=6),
       f=st.sampled_from(["add", "read", "cas", "write", "x y", "a/b", "9lives"]))
def test_edn_export_round_trips_any_json_value(tmp_path: Path, values: list[Any], f: str) -> None:
    ops = []
    for v in values:
        ops += [Op("invoke", f, v, 0, len(ops)), Op("ok", f, v, 0, len(ops) + 1)]
    for i, op in enumerate(ops):
        op.index = i
    loaded = read_history(export_edn(ops, tmp_path / "h.edn"), format="edn")
    assert [op.to_dict() for op in loaded.ops] == [op.to_dict() for op in ops]
