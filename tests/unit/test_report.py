"""report.html: verdicts, key figures, fault windows and working links."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from checkers.windows import fault_windows
from pyharness.history import Op, read_jsonl
from pyharness.report.demo_store import make_run
from pyharness.report.page import key_figures, render_report, write_report


class Page(HTMLParser):
    """Links, images, scripts and the verdict badges of each checker row."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.rows: list[list[str]] = []  # per <tr>: class, then cell texts
        self.figures: dict[str, str] = {}
        self.tags: set[str] = set()
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._figure: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"] or "")
        if a.get("src"):
            self.srcs.append(a["src"] or "")
        if tag == "tr":
            self._row = [a.get("class") or ""]
        if tag in ("td", "th") and self._row is not None:
            self._cell = []
        if a.get("data-figure"):
            self._figure = a["data-figure"]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        if tag == "div":
            self._figure = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._figure is not None:
            self.figures[self._figure] = self.figures.get(self._figure, "") + data

    def checker_rows(self) -> dict[str, tuple[str, str]]:
        """checker name -> (row class, verdict text)."""
        return {r[1]: (r[0], r[2]) for r in self.rows
                if len(r) >= 4 and r[0] in ("valid", "invalid", "unknown")}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def bad_set(store: Path) -> Path:
    return make_run(store, workload="set", valid=False, seed=2)


@pytest.fixture(scope="module")
def bad_register(store: Path) -> Path:
    return make_run(store, workload="register", valid=False, seed=1)


def test_report_colours_each_checker_by_its_verdict(bad_set: Path) -> None:
    page = Page(write_report(bad_set).read_text())
    results = json.loads((bad_set / "results.json").read_text())
    rows = page.checker_rows()
    expected = {k: v["valid?"] for k, v in results.items() if k != "valid?"}
    assert set(rows) == set(expected)
    for name, valid in expected.items():
        cls, text = rows[name]
        assert cls == ("valid" if valid is True else "invalid" if valid is False else "unknown")
        assert text == ("valid" if valid is True else "INVALID" if valid is False else "unknown")
    assert rows["set"][0] == "invalid" and rows["log-file-pattern"][0] == "invalid"


def test_report_key_figures_match_the_history(bad_set: Path) -> None:
    history = read_jsonl(bad_set / "history.jsonl")
    page = Page(render_report(bad_set))
    completions = [op for op in history if op.is_client and op.type != "invoke"]
    for outcome in ("ok", "fail", "info"):
        assert page.figures[outcome] == str(sum(op.type == outcome for op in completions))
    invokes = sum(op.is_client and op.type == "invoke" for op in history)
    assert page.figures["client ops"] == str(invokes)
    assert page.figures["nemesis ops"] == str(sum(not op.is_client for op in history))


def test_report_lists_fault_windows_and_lost_values(bad_set: Path) -> None:
    history = read_jsonl(bad_set / "history.jsonl")
    [w] = fault_windows(history)
    page = Page(render_report(bad_set))
    fault_rows = [r for r in page.rows if len(r) > 1 and r[1] == w.kind]
    assert fault_rows and fault_rows[0][2] == f"{w.start / 1e9:.2f}"
    assert fault_rows[0][3] == f"{w.end / 1e9:.2f}"
    lost = json.loads((bad_set / "results.json").read_text())["set"]["lost-ops"]
    assert any(r[1:2] == [str(lost[0]["value"])] for r in page.rows)


def test_every_link_and_image_resolves_inside_the_run(bad_register: Path) -> None:
    page = Page(write_report(bad_register).read_text())
    targets = [h for h in page.hrefs + page.srcs if not h.startswith("#")]
    for t in targets:
        assert "://" not in t and not t.startswith("/"), t  # self-contained, relative
        assert (bad_register / unquote(t)).exists(), t
    names = {unquote(t) for t in targets}
    assert {"timeline.html", "history.jsonl", "driver.log", "results.json",
            "latency-raw.png", "latency-quantiles.png", "rate.png"} <= names
    assert {"nodes/n1/etcd.log", "nodes/n2/etcd.log", "nodes/n3/etcd.log"} <= names
    assert any(n.startswith("linear-") and n.endswith(".html") for n in names)
    assert {"latency-raw.png", "rate.png"} <= set(page.srcs)
    assert "script" not in page.tags  # nothing to run, nothing to fetch


def test_linear_failure_is_summarised_with_its_drawing(bad_register: Path) -> None:
    page = Page(render_report(bad_register))
    cls, _ = page.checker_rows()["linear"]
    assert cls == "invalid"
    linear_row = next(r for r in page.rows if len(r) > 3 and r[1] == "linear")
    assert "1 not linearizable" in linear_row[3] and "read -> 7" in linear_row[3]


def test_run_without_results_still_gets_a_page(tmp_path: Path, bad_set: Path) -> None:
    run = tmp_path / "etcd-set-x" / "20260101T000000.00Z"
    shutil.copytree(bad_set, run)
    (run / "results.json").unlink()
    text = render_report(run)
    assert "No <code>results.json</code>" in text
    assert 'class="badge none"' in text
    assert Page(text).figures["ok"]  # figures still come from the history


def test_unreadable_history_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "history.jsonl").write_text('{"type": "ok", "f": "add"}\nnot json\n')
    (tmp_path / "results.json").write_text('{"valid?": true, "stats": {"valid?": true}}')
    text = render_report(tmp_path)
    assert "Cannot read the history" in text and "history.jsonl:2" in text


def test_key_figures_counts_and_latency() -> None:
    ops = [Op("invoke", "add", 0, 0, 0), Op("ok", "add", 0, 0, 10_000_000),
           Op("invoke", "add", 1, 1, 0), Op("info", "add", 1, 1, 1_500_000_000),
           Op("invoke", "read", None, 2, 100), Op("fail", "read", None, 2, 200),
           Op("invoke", "add", 2, 3, 1_000_000_000),
           Op("info", "start-partition", None, "nemesis", 2_000_000_000)]
    fig = key_figures(ops)
    assert (fig["ops"], fig["ok"], fig["fail"], fig["info"], fig["open"]) == (4, 1, 1, 1, 1)
    assert fig["duration-s"] == 2.0 and fig["rate"] == 2.0 and fig["nemesis-ops"] == 1
    assert fig["latency-ms"]["p50"] == 10.0
    assert fig["by-f"]["add"]["open"] == 1 and fig["by-f"]["read"]["fail"] == 1
