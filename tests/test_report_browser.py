"""The HTML report works in a real browser: headless Chromium clicks a FAILED cell and sees its evidence.

The page is ``wirecheck report`` of every committed results file (results/: every service on
the reference runners, every third-party server), rendered from a file:// URL with no network,
as a user opens it offline. Chromium and its driver are Debian's (``chromium``,
``chromium-driver``: .ci/run installs them), driven by Selenium, which is told both paths so it
downloads nothing. A missing browser is a failure with what to install, never a skip.

Set ``WIRECHECK_REPORT_SCREENSHOT=docs/report.png`` to refresh the README's screenshot.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from harness.cli import main
from harness.report.model import merge

REPOSITORY = Path(__file__).resolve().parent.parent
# The suites' results files (results/matrix holds the interpreter matrix, not a results file).
COMMITTED_RESULTS = sorted([*(REPOSITORY / "results" / "reference").glob("*.json"), *(REPOSITORY / "results" / "thirdparty").glob("*.json")])

pytestmark = pytest.mark.slow  # a browser's start: seconds

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# Chromium's start and a page of a few thousand cells take seconds on a loaded 2-core machine.
BROWSER_TIMEOUT_S = 60

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    for program in (CHROMIUM, CHROMEDRIVER):
        assert shutil.which(program), f"{program} is missing: apt-get install chromium chromium-driver (.ci/run does)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(BROWSER_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()  # stops chromedriver and the browser it started


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert COMMITTED_RESULTS, "no committed results files under results/"
    page = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", *map(str, COMMITTED_RESULTS), "--html", str(page)]) == 0
    return page


def test_clicking_a_failed_cell_shows_its_expected_and_actual(browser: WebDriver, report_page: Path, tmp_path: Path) -> None:
    report = merge(COMMITTED_RESULTS)
    browser.get(report_page.as_uri())
    wait = WebDriverWait(browser, BROWSER_TIMEOUT_S)
    failed = browser.find_elements(By.CSS_SELECTOR, "td.cell[data-verdict=FAILED]")
    assert failed, "the committed results have no FAILED cell to click"
    # Each FAILED cell's case and column heading, read in one round trip.
    coordinates = browser.execute_script(
        """
        var heads = document.querySelectorAll('#matrix thead th');
        return arguments[0].map(function (cell) {
          return [cell.parentElement.getAttribute('data-case'), heads[cell.cellIndex].textContent]; });
        """,
        failed,
    )
    rows = {row.id: row for row in report.rows}
    records = [rows[case_id].cells[implementation] for case_id, implementation in coordinates]
    assert all(record.verdict == "FAILED" for record in records)
    # Click one whose actual carries a hexdump excerpt when there is one (the most to show).
    index = next((i for i, record in enumerate(records) if "\n  actual:" in record.actual), 0)
    cell, record, (case_id, _) = failed[index], records[index], coordinates[index]
    row = cell.find_element(By.XPATH, "./ancestor::tr")

    assert not browser.find_elements(By.CSS_SELECTOR, "#detail pre.actual")  # nothing shown before the click
    cell.click()
    actual = wait.until(lambda driver: driver.find_element(By.CSS_SELECTOR, "#detail pre.actual"))
    assert actual.is_displayed()
    assert actual.get_attribute("textContent") == record.actual
    assert browser.find_element(By.CSS_SELECTOR, "#detail pre.expected").get_attribute("textContent") == record.expected
    assert case_id in browser.find_element(By.CSS_SELECTOR, "#detail h2").text
    assert "selected" in (cell.get_attribute("class") or "")

    # The screenshot shows the clicked case's service alone (its implementations' columns only).
    Select(browser.find_element(By.ID, "filter-service")).select_by_value(row.get_attribute("data-service"))
    assert cell.is_displayed() and actual.is_displayed()
    browser.execute_script("arguments[0].scrollIntoView({block: 'nearest', inline: 'center'})", cell)
    screenshot = Path(os.environ.get("WIRECHECK_REPORT_SCREENSHOT") or tmp_path / "report.png")
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)


def test_filters_hide_rows_by_verdict_and_service(browser: WebDriver, report_page: Path) -> None:
    browser.get(report_page.as_uri())
    rows = browser.find_elements(By.CSS_SELECTOR, "#matrix tr.case")
    assert all(row.is_displayed() for row in rows[:5])
    for box in browser.find_elements(By.CSS_SELECTOR, "#filters input[name=verdict]"):
        if box.get_attribute("value") != "FAILED":
            box.click()
    shown = [row for row in rows if row.is_displayed()]
    assert shown and len(shown) < len(rows)
    assert all(row.find_elements(By.CSS_SELECTOR, "td.cell[data-verdict=FAILED]") for row in shown)

    service = shown[0].get_attribute("data-service")
    Select(browser.find_element(By.ID, "filter-service")).select_by_value(service)
    shown = [row for row in rows if row.is_displayed()]
    assert shown and {row.get_attribute("data-service") for row in shown} == {service}
    # Columns of implementations with no verdict in the rows shown are hidden, the others shown.
    columns = browser.execute_script(
        """
        var rows = Array.prototype.filter.call(document.querySelectorAll('#matrix tr.case'), function (row) {
          return row.offsetParent !== null; });
        var heads = document.querySelectorAll('#matrix thead th');
        var result = [];
        for (var column = 3; column < heads.length; column++) {
          result.push([heads[column].offsetParent !== null,
                       rows.some(function (row) { return row.cells[column].hasAttribute('data-verdict'); })]);
        }
        return result;
        """
    )
    assert columns and all(displayed == has_verdict for displayed, has_verdict in columns)
    assert any(displayed for displayed, _ in columns) and not all(displayed for displayed, _ in columns)
