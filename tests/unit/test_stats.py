"""Stats and unhandled-exceptions checkers on small histories."""

from __future__ import annotations

from typing import Any

from checkers.exceptions import UnhandledExceptionsChecker
from checkers.stats import StatsChecker
from pyharness.history import Op


def pair(f: str, outcome: str, process: int | str = 0, error: Any = None) -> list[Op]:
    return [Op("invoke", f, 1, process), Op(outcome, f, 1, process, error=error)]


def test_stats_counts_by_f_and_type() -> None:
    h = [*pair("add", "ok"), *pair("add", "fail"), *pair("add", "info"),
         *pair("read", "ok"), *pair("start-partition", "info", "nemesis")]
    r = StatsChecker().check({}, h)
    assert r["valid?"] is True
    assert r["count"] == 4 and r["ok-count"] == 2
    assert r["fail-count"] == 1 and r["info-count"] == 1
    assert r["by-f"]["add"] == {"valid?": True, "count": 3, "ok-count": 1,
                                "fail-count": 1, "info-count": 1}
    assert r["nemesis-count"] == 2
    assert "start-partition" not in r["by-f"]


def test_stats_invalid_when_an_f_never_succeeds() -> None:
    h = [*pair("add", "ok"), *pair("read", "fail"), *pair("read", "info")]
    r = StatsChecker().check({}, h)
    assert r["valid?"] is False
    assert r["by-f"]["read"]["valid?"] is False
    assert r["by-f"]["add"]["valid?"] is True


def test_exceptions_grouped_by_class() -> None:
    boom = {"class": "urllib3.exceptions.ProtocolError", "message": "reset"}
    other = {"class": "KeyError", "message": "'x'"}
    h = [*pair("add", "info", 0, boom), *pair("add", "info", 1, boom),
         *pair("read", "info", 2, other), *pair("add", "info", 3, ["timeout", "x"]),
         *pair("add", "fail", 4, "not-leader")]
    r = UnhandledExceptionsChecker().check({}, h)
    assert r["valid?"] is True
    assert [(e["class"], e["count"]) for e in r["exceptions"]] == [
        ("urllib3.exceptions.ProtocolError", 2), ("KeyError", 1)]
    assert r["exceptions"][0]["example"]["error"] == boom
    assert r["exceptions"][0]["example"]["process"] == 0


def test_no_exceptions_is_quiet() -> None:
    r = UnhandledExceptionsChecker().check({}, pair("add", "ok"))
    assert r == {"valid?": True}
