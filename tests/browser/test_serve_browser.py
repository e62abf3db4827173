"""pyharness serve, end to end in a real browser (headless Chromium).

A synthetic store is served on a free loopback port; Debian's chromium,
driven by Selenium through Debian's chromedriver (same version, no download
at run time), then does what a person would: sees the run list, filters it,
opens a run, sees its plots load and opens the timeline, which must show ops.
Skipped when chromium, chromedriver or selenium is absent.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pyharness.report.demo_store import make_run
from pyharness.report.serve import make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,900")
WAIT_S = 30

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip("chromium and chromium-driver are not installed (apt-get install -y chromium "
                "chromium-driver)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[Path]]]:
    store = tmp_path_factory.mktemp("store")
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    runs = [make_run(store, workload="set", valid=True, seed=0, when=t0),
            make_run(store, workload="register", valid=False, seed=1,
                     when=t0 + timedelta(minutes=1)),
            make_run(store, workload="set", valid=False, seed=2, n_ops=400,
                     when=t0 + timedelta(minutes=2))]
    with serving(store) as url:
        yield url, runs


@contextmanager
def serving(store: Path) -> Iterator[str]:
    """``store`` served on a free loopback port, as its base URL."""
    server = make_server(store, "127.0.0.1", 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS:
        opts.add_argument(f)
    with tempfile.TemporaryDirectory(prefix="pyh-chromium-") as profile:
        opts.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))
        driver.set_page_load_timeout(WAIT_S)
        try:
            yield driver
        finally:
            driver.quit()


def wait(driver: Any, cond: Any) -> Any:
    return WebDriverWait(driver, WAIT_S).until(cond)


def test_list_renders_newest_first_coloured_by_verdict(browser: Any,
                                                       base_url: tuple[str, list[Path]]) -> None:
    url, runs = base_url
    browser.get(url + "/")
    rows = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.run"))
    assert [r.find_element(By.CSS_SELECTOR, "a.open").text for r in rows] == \
        [r.name for r in reversed(runs)]
    assert [r.get_attribute("class") for r in rows] == \
        ["run invalid", "run invalid", "run valid"]
    red = browser.execute_script(
        "return getComputedStyle(document.querySelector('tr.run.invalid .badge'))"
        ".backgroundColor")
    green = browser.execute_script(
        "return getComputedStyle(document.querySelector('tr.run.valid .badge'))"
        ".backgroundColor")
    assert red == "rgb(214, 39, 40)" and green == "rgb(42, 157, 63)"


def test_filter_by_verdict_and_workload(browser: Any, base_url: tuple[str, list[Path]]) -> None:
    url, runs = base_url
    browser.get(url + "/")
    Select(wait(browser, lambda d: d.find_element(By.NAME, "verdict"))).select_by_value("false")
    wait(browser, lambda d: "verdict=false" in d.current_url)
    Select(browser.find_element(By.NAME, "workload")).select_by_value("set")
    wait(browser, lambda d: "workload=set" in d.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.run")
    assert [r.find_element(By.CSS_SELECTOR, "a.open").text for r in rows] == [runs[2].name]


def test_click_opens_run_plots_load_and_timeline_shows_ops(
        browser: Any, base_url: tuple[str, list[Path]]) -> None:
    url, runs = base_url
    browser.get(url + "/")
    link = wait(browser, lambda d: d.find_element(By.LINK_TEXT, runs[2].name))
    link.click()
    wait(browser, lambda d: d.current_url.endswith(runs[2].name + "/"))
    assert browser.find_element(By.ID, "verdict").text == "INVALID"
    assert "set" in browser.find_element(By.TAG_NAME, "body").text

    imgs = browser.find_elements(By.CSS_SELECTOR, ".plots img")
    assert {i.get_attribute("alt") for i in imgs} == {"latency-raw", "latency-quantiles", "rate"}
    for img in imgs:
        browser.execute_script("arguments[0].scrollIntoView()", img)  # loading="lazy"
        wait(browser, lambda d, img=img: d.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", img))
        assert browser.execute_script("return arguments[0].naturalWidth", img) > 100

    browser.find_element(By.LINK_TEXT, "timeline").click()
    wait(browser, lambda d: d.current_url.endswith("/timeline.html"))
    text = wait(browser, lambda d: d.find_element(By.ID, "range").text or None)
    m = re.search(r"(\d+) bars drawn · (\d+) ops", text)
    assert m is not None, text
    history_ops = sum(1 for line in (runs[2] / "history.jsonl").read_text().splitlines()
                      if '"type":"invoke"' in line)
    assert int(m.group(2)) >= history_ops > 0  # every client op is on the page
    assert int(m.group(1)) > 0  # and some are drawn in view
    # Something other than background was painted on the canvas.
    painted = browser.execute_script("""
        const c = document.getElementById('c'), x = c.getContext('2d');
        const d = x.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] < 200 && d[i+3] > 0) n++;
        return n;""")
    assert painted > 100


# --- a hostile store (issue 17): the list renders, broken runs are flagged, no script runs


@pytest.fixture(scope="module")
def hostile_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    from tests.hostile import make_hostile_store

    h = make_hostile_store(tmp_path_factory.mktemp("hostile") / "store")
    with serving(h.store) as url:
        yield url, h


def _pwned(browser: Any) -> Any:
    from tests.hostile import MARKER

    return browser.execute_script(f"return window.{MARKER} === undefined ? null : "
                                  f"window.{MARKER}")


def test_hostile_store_lists_flags_and_runs_no_script(browser: Any,
                                                      hostile_url: tuple[str, Any]) -> None:
    url, h = hostile_url
    browser.get(url + "/")
    rows = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.run"))
    assert len(rows) == 8  # every run, the broken ones too
    flagged = browser.find_elements(By.CSS_SELECTOR, "tr.run.broken .badge.broken")
    assert len(flagged) == 5
    text = browser.find_element(By.ID, "runs").text
    assert "test.json is list" in text and "options is a list" in text and "not UTF-8" in text
    assert _pwned(browser) is None
    # The filters still work: the list's own script is allowed by its hash.
    Select(browser.find_element(By.NAME, "verdict")).select_by_value("true")
    wait(browser, lambda d: "verdict=true" in d.current_url)
    assert _pwned(browser) is None

    # The run whose every field is HTML: re-rendered (its report.html is stale), inert.
    browser.get(url + "/runs/" + h.html.relative_to(h.store).as_posix() + "/")
    body = wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").text)
    assert "<img src=x onerror" in body  # shown as text
    assert not browser.find_elements(By.CSS_SELECTOR, "img[src='x'], svg[onload]")
    assert _pwned(browser) is None
    # The dict-process run answers with a page, not an empty reply.
    browser.get(url + "/runs/" + h.dict_process.relative_to(h.store).as_posix() + "/")
    assert "Cannot show this section" in wait(
        browser, lambda d: d.find_element(By.TAG_NAME, "body").text)


def test_a_stored_page_with_its_own_script_does_not_run_it(
        browser: Any, hostile_url: tuple[str, Any]) -> None:
    from tests.hostile import MARKER

    url, h = hostile_url
    page = h.good / "evil.html"
    page.write_text(f"<!DOCTYPE html><p id=p>x</p><script>window.{MARKER}=1</script>"
                    f'<img src=x onerror="window.{MARKER}=2">')
    browser.get(url + "/runs/" + h.good.relative_to(h.store).as_posix() + "/evil.html")
    wait(browser, lambda d: d.find_element(By.ID, "p"))
    assert _pwned(browser) is None
