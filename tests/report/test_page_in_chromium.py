"""The report's HTML page in a real browser: headless Chromium (Debian's), driven by Selenium.

Skipped, with the reason, where Chromium or its driver is absent; `.ci/run` installs both and sets
GENRE_REQUIRE_CHROMIUM=1, which turns that skip into a failure, so in CI these tests always run.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil

import numpy as np
import pytest
from matplotlib.image import imread

from genre.report import build_report
from tests.conftest import skip_or_fail

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        reason = "headless Chromium tests need Debian's chromium and chromium-driver (apt-get install them)"
        skip_or_fail(reason, "GENRE_REQUIRE_CHROMIUM")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium must use the system's browser and driver, never fetch its own
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",  # this machine's network is closed; don't try
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def console_errors(driver, url: str) -> list[dict]:
    driver.get(url)
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.fixture(scope="module")
def report(report_runs, tmp_path_factory):
    return build_report([report_runs], tmp_path_factory.mktemp("chromium") / "report")


def test_page_opens_without_console_errors(browser, report):
    assert console_errors(browser, report.html.as_uri()) == []
    loaded = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])"
    )
    assert len(loaded) == len(report.figures)
    assert all(ok for _, ok in loaded), loaded


def test_console_error_check_catches_a_broken_page(browser, report, tmp_path):
    # The check above can fail: the same page with one figure missing logs an error.
    broken = tmp_path / "report"
    shutil.copytree(report.out, broken)
    (broken / report.figures[0].relative_to(report.out)).unlink()
    errors = console_errors(browser, (broken / "index.html").as_uri())
    assert errors and any(report.figures[0].name in e["message"] for e in errors)


def test_screenshot_shows_the_results_table(browser, report, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(report.html.as_uri())
    table = browser.find_element(By.ID, "results")
    assert table.is_displayed()
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert [row.find_elements(By.TAG_NAME, "td")[0].text for row in rows] == [r.label for r in report.records]
    assert table.size["width"] > 400 and table.size["height"] > 20 * (len(rows) + 1)
    shot = imread(io.BytesIO(table.screenshot_as_png))
    (tmp_path / "table.png").write_bytes(table.screenshot_as_png)
    assert shot.shape[0] >= table.size["height"] * 0.9 and shot.shape[1] >= table.size["width"] * 0.9
    # Text and borders were painted: the table's pixels are far from one flat colour.
    gray = shot[..., :3].mean(axis=-1)
    assert (gray < 0.5).mean() > 0.01, "no dark pixels: the table's text did not render"
    warning = browser.find_element(By.ID, "synthetic-warning")
    assert warning.is_displayed() and "GENERATED DATA" in warning.text
    assert np.ptp(gray) > 0.5


@pytest.fixture(scope="module")
def cv_report(cv_report_runs, tmp_path_factory):
    return build_report([cv_report_runs], tmp_path_factory.mktemp("chromium-cv") / "report")


def test_a_cross_validations_means_folds_and_spread_render(browser, cv_report, cv_report_runs):
    from selenium.webdriver.common.by import By

    from genre.report.page import COLUMNS, FOLD_COLUMNS

    assert console_errors(browser, cv_report.html.as_uri()) == []
    loaded = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])"
    )
    assert len(loaded) == len(cv_report.figures) and all(ok for _, ok in loaded), loaded
    spread = browser.find_element(By.CSS_SELECTOR, 'img[src="figures/per-genre-f1-folds.png"]')
    assert spread.is_displayed() and spread.size["width"] > 300 and spread.size["height"] > 200

    def cells(table_id: str) -> list[dict[str, str]]:
        table = browser.find_element(By.ID, table_id)
        assert table.is_displayed()
        heads = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
        rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        return [dict(zip(heads, [td.text for td in row.find_elements(By.TAG_NAME, "td")], strict=True)) for row in rows]

    results = {row["model"]: row for row in cells("results")}
    assert list(next(iter(results.values()))) == list(COLUMNS)
    cv = results["logreg (3-fold CV)"]
    s = json.loads((cv_report_runs / "cv-logreg" / "cv.json").read_text())["test_accuracy"]
    low, high = s["interval"]
    assert (
        cv["test accuracy [95% CI]"]
        == f"{100 * s['mean']:.1f}% ± {100 * s['std']:.1f} [{100 * low:.1f}, {100 * high:.1f}]"
    )
    assert cv["test clips"] == "32 (3 folds × 2)"
    versus = sorted(row["vs best (McNemar)"] for row in results.values())
    assert versus[0] == "best" and re.fullmatch(r"(tie|better|worse) \(p=[\d.e-]+, 8 shared clips\)", versus[1])
    folds = cells("folds")
    assert list(folds[0]) == list(FOLD_COLUMNS)
    assert [(row["repeat"], row["fold"]) for row in folds] == [(str(r), str(f)) for r in (1, 2) for f in (1, 2, 3)]
    assert all(row["test accuracy [95% CI]"].endswith("]") for row in folds)
    note = browser.find_element(By.ID, "cv-method")
    assert note.is_displayed() and "first repeat's out-of-fold predictions" in note.text
