"""JUnit XML: a run's verdicts in the format every CI server already reads.

Jenkins, GitLab, GitHub Actions reporters and most others parse the "JUnit"
XML that Ant's junit task made popular (the schema Jenkins ships as
``junit-10.xsd``). We map a run onto it with one ``<testcase>`` per checker,
all in one ``<testsuite>`` named after the test:

==============  =========================================================
checker says    testcase holds
==============  =========================================================
``true``        nothing: it passed
``false``       ``<failure>``: the history is invalid by this checker
``"unknown"``   ``<skipped>`` with the reason (``never-read``, a time
                limit, a checker crash...): the checker could not decide,
                which is neither a pass nor a proven bug
==============  =========================================================

Each testcase carries the checker's result map as JSON (cut to
:data:`MAX_OUT_CHARS`), in the ``<failure>`` or else in ``<system-out>``, so
the CI page shows the lost adds or the non-linearizable op without opening
the store. The composed ``valid?`` is
not a testcase of its own: it is exactly "no failure and nothing skipped".
"""

from __future__ import annotations

import errno
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: A result map longer than this (as JSON) is cut in <system-out>.
MAX_OUT_CHARS = 20_000

#: Keys of a result map that may say why it is unknown, in order of preference.
_REASON_KEYS = ("error", "reason", "unknown")


def _reason(result: Mapping[str, Any]) -> str:
    for k in _REASON_KEYS:
        v = result.get(k)
        if v:
            return v if isinstance(v, str) else json.dumps(v, default=str)[:500]
    return "the checker could not decide"


def _failure_message(name: str, result: Mapping[str, Any]) -> str:
    """One line a CI summary can show: the counts that made it invalid."""
    parts = [f"{k}={result[k]}" for k in ("lost-count", "unexpected-count", "match-count")
             if result.get(k)]
    if isinstance(result.get("failures"), list) and result["failures"]:
        parts.append(f"non-linearizable keys={len(result['failures'])}")
    if isinstance(result.get("error"), str):
        parts.append(result["error"])
    return f"{name}: invalid" + (" (" + ", ".join(parts) + ")" if parts else "")


# Characters XML 1.0 cannot hold at all, even escaped (a log line may carry them).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(s: str) -> str:
    return _NOT_XML.sub("\ufffd", s)


def _body(result: Mapping[str, Any]) -> str:
    text = json.dumps(result, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    if len(text) > MAX_OUT_CHARS:
        text = text[:MAX_OUT_CHARS] + f"\n... cut: {len(text) - MAX_OUT_CHARS} more characters"
    return xml_safe(text)


def junit_tree(results: Mapping[str, Any], name: str) -> ET.ElementTree:
    """The JUnit document for a composed results map."""
    checkers = {k: v for k, v in results.items()
                if k != "valid?" and isinstance(v, Mapping) and "valid?" in v}
    failures = sum(1 for r in checkers.values() if r["valid?"] is False)
    skipped = sum(1 for r in checkers.values() if r["valid?"] not in (True, False))
    total_time = sum(float(r.get("time-s", 0) or 0) for r in checkers.values())
    common = {"tests": str(len(checkers)), "failures": str(failures), "errors": "0",
              "time": f"{total_time:.3f}"}
    # Jenkins' schema has no "skipped" on <testsuites>, only on <testsuite>.
    suites = ET.Element("testsuites", {"name": name, **common})
    suite = ET.SubElement(suites, "testsuite", {
        "name": name, **common, "skipped": str(skipped),
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")})
    for cname, r in checkers.items():
        case = ET.SubElement(suite, "testcase", {
            "name": cname, "classname": f"{name}.{cname}",
            "time": f"{float(r.get('time-s', 0) or 0):.3f}"})
        if r["valid?"] is False:
            # The result goes in the failure's text, which CI shows as the "stack trace".
            fail = ET.SubElement(case, "failure", {
                "message": xml_safe(_failure_message(cname, r)), "type": "invalid"})
            fail.text = _body(r)
            continue
        if r["valid?"] is not True:
            ET.SubElement(case, "skipped", {"message": xml_safe(f"unknown: {_reason(r)}")})
        out = ET.SubElement(case, "system-out")
        out.text = _body(r)
    ET.indent(suites)
    return ET.ElementTree(suites)


def write_junit(results: Mapping[str, Any], path: Path, name: str) -> Path:
    """Write ``results`` (the composed map of ``results.json``) as JUnit XML.

    Raises OSError naming ``path`` if it cannot (a directory, no permission)."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    junit_tree(results, name).write(path, encoding="utf-8", xml_declaration=True)
    return path
