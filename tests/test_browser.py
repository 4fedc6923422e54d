"""The web pages in a real browser: headless Chromium driven by Selenium (Debian's chromium
and chromium-driver; `make test` installs them). What a person does: search by position and
run, open a product, see and zoom its plot, log in and find the proprietary light curves,
download a selection and check the archive against its manifest."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Node
from policy_archive import PASSWORD, Archive, make_archive
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(downloads: Path) -> Iterator[WebDriver]:
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        raise AssertionError(
            "Chromium and its driver are needed: apt-get install chromium chromium-driver "
            "(make test installs them)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1200",
        # Nothing beyond 127.0.0.1: no component updates, no safe-browsing lookups.
        "--disable-background-networking",
        "--disable-component-update",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        },
    )
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def archive(served: tuple[Node, str]) -> Archive:
    return make_archive(served)


def _wait(browser: WebDriver, seconds: float = 60) -> WebDriverWait[WebDriver]:
    return WebDriverWait(browser, seconds)


def _result_ids(browser: WebDriver) -> list[int]:
    boxes = browser.find_elements(By.CSS_SELECTOR, '#results-table input[name="id"]')
    return [int(str(b.get_attribute("value"))) for b in boxes]


def _search(browser: WebDriver, base: str, **fields: str) -> list[int]:
    """Fill the search form as a person would and submit it; the ids on the first page."""
    browser.get(f"{base}/search")
    return _search_filled(browser, **fields)


def _search_filled(browser: WebDriver, **fields: str) -> list[int]:
    """Fill fields of the search form already open, submit it; the first page's ids."""
    for name, value in fields.items():
        element = browser.find_element(By.NAME, name)
        if element.tag_name == "select":
            Select(element).select_by_visible_text(value)
        else:
            element.clear()
            element.send_keys(value)
    browser.find_element(By.CSS_SELECTOR, '#search-form button[type="submit"]').click()
    _wait(browser).until(expected_conditions.presence_of_element_located((By.ID, "adql")))
    return _result_ids(browser)


def test_search_open_a_product_and_zoom_its_plot(archive: Archive, browser: WebDriver) -> None:
    node, base = archive.node, archive.base
    anonymous = archive.expected(archive.callers["anonymous"])
    run, ra, dec = node.rows(
        "SELECT r.code, s.ra, s.dec FROM archive.products p JOIN archive.runs r USING (run_id)"
        " JOIN archive.stars s USING (star_id) WHERE p.product_id = %s",
        min(anonymous),
    )[0]
    ids = _search(browser, base, pos=f"{ra} {dec}", radius="60", run=str(run), per_page="200")
    assert ids and set(ids) <= anonymous
    expected = {
        int(r[0])  # type: ignore[call-overload]
        for r in node.rows(
            "SELECT p.product_id FROM archive.products p JOIN archive.runs r USING (run_id)"
            " JOIN archive.stars s USING (star_id) WHERE r.code = %s"
            " AND s.pos <@ scircle(spoint(radians(%s), radians(%s)), radians(1.0))",
            run,
            ra,
            dec,
        )
    }
    assert set(ids) == expected & anonymous
    # The thumbnails are drawn (the browser decoded a picture for each).
    _wait(browser).until(
        lambda b: b.execute_script(
            "return [...document.querySelectorAll('img.thumb')].slice(0, 5)"
            ".every(i => i.complete && i.naturalWidth === 240)"
        )
    )
    # Open the first light curve: its page replaces the picture with the interactive plot.
    browser.find_element(By.CSS_SELECTOR, "#results-table td a").click()
    canvas = _wait(browser).until(expected_conditions.presence_of_element_located((By.ID, "plot")))
    _wait(browser).until(lambda b: canvas.get_attribute("data-points"))
    product_id = int(browser.current_url.rstrip("/").rsplit("/", 1)[1])
    n_good = node.rows("SELECT n_good FROM archive.products WHERE product_id = %s", product_id)
    assert int(str(canvas.get_attribute("data-points"))) == n_good[0][0]
    inked = browser.execute_script(
        "const c = document.getElementById('plot');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0;"
        "for (let i = 0; i < d.length; i += 4) if (d[i + 3] && d[i] < 100 && d[i + 2] > 120) n++;"
        "return n;"
    )
    assert inked > 1000  # the curve is drawn in blue, not a blank canvas
    readout = browser.find_element(By.ID, "plot-readout")
    whole = readout.text
    # Drag across the middle third: the plot shows a narrower window with fewer points.
    width = canvas.size["width"]
    ActionChains(browser).move_to_element_with_offset(
        canvas, -width // 6, 0
    ).click_and_hold().move_by_offset(width // 3, 0).release().perform()
    _wait(browser).until(lambda b: readout.text != whole)
    assert int(str(canvas.get_attribute("data-points"))) < n_good[0][0]


def test_log_in_and_see_proprietary_results(archive: Archive, browser: WebDriver) -> None:
    base = archive.base
    n1 = archive.callers["n1"]
    proprietary = {int(p["id"]) for p in archive.products() if p["level"] == "N1"}  # type: ignore[call-overload]
    assert proprietary
    assert _search(browser, base, level="N1", per_page="200") == []
    # Log in from the page's own link, then the same search lists the N1 light curves.
    browser.find_element(By.LINK_TEXT, "Log in").click()
    browser.find_element(By.ID, "username").send_keys(n1.name)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, 'form button[type="submit"]').click()
    _wait(browser).until(expected_conditions.url_contains("/search"))
    ids = _search(browser, base, level="N1", per_page="200")
    assert set(ids) == proprietary & archive.expected(n1) and ids
    assert "Signed in as" in browser.find_element(By.ID, "signed-in").text


def test_download_a_selection(archive: Archive, browser: WebDriver, downloads: Path) -> None:
    node, base = archive.node, archive.base
    ids = _search(browser, base, channel="astero", per_page="25")
    assert len(ids) >= 3
    chosen = ids[:3]
    for product_id in chosen:
        browser.find_element(By.CSS_SELECTOR, f'input[name="id"][value="{product_id}"]').click()
    Select(browser.find_element(By.NAME, "format")).select_by_visible_text("zip")
    browser.find_element(By.CSS_SELECTOR, 'button[value="selected"]').click()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = [p for p in downloads.iterdir() if p.suffix == ".zip"]
        if done and not any(p.suffix == ".crdownload" for p in downloads.iterdir()):
            break
        time.sleep(0.2)
    (archive_file,) = [p for p in downloads.iterdir() if p.suffix == ".zip"]
    with zipfile.ZipFile(archive_file) as bundle:
        names = bundle.namelist()
        manifest_name = next(n for n in names if n.lower().endswith("manifest.csv"))
        manifest = list(csv.DictReader(io.TextIOWrapper(bundle.open(manifest_name), "utf-8")))
        assert sorted(int(row["product_id"]) for row in manifest) == sorted(chosen)
        catalogue = dict(
            node.rows(
                "SELECT product_id, sha256 FROM archive.products WHERE product_id = ANY(%s)", chosen
            )
        )
        for row in manifest:
            data = bundle.read(row["name"])
            assert (
                hashlib.sha256(data).hexdigest()
                == row["sha256"]
                == catalogue[int(row["product_id"])]
            )
            assert len(data) == int(row["size"])
        assert len(names) == len(chosen) + 1


def test_search_by_pulsation_and_see_the_periodogram(archive: Archive, browser: WebDriver) -> None:
    """Issue 8's example: frequency 5 to 10 c/d, amplitude above 1 mmag, the dominant
    frequency only; then a result's page draws its amplitude spectrum."""
    node, base = archive.node, archive.base
    node.cli("features", "--all", check=True, timeout=900)
    browser.get(f"{base}/search")
    browser.find_element(By.CSS_SELECTOR, 'input[name="freq_match"][value="dominant"]').click()
    ids = _search_filled(browser, freq_min="5", freq_max="10", amp_min="1", per_page="200")
    rows = node.rows(
        "SELECT product_id FROM archive.features WHERE error IS NULL"
        " AND dominant_frequency BETWEEN 5 AND 10 AND dominant_amplitude >= 1"
    )
    expected = {int(r[0]) for r in rows} & archive.expected(archive.callers["anonymous"])  # type: ignore[call-overload]
    assert ids and set(ids) == expected
    # The form keeps the choice; every row shows its dominant frequency in the range.
    radio = browser.find_element(By.CSS_SELECTOR, 'input[name="freq_match"][value="dominant"]')
    assert radio.is_selected()
    cells = browser.find_elements(By.CSS_SELECTOR, "#results-table td.dominant-frequency")
    assert cells and all(5 <= float(c.text) <= 10 for c in cells)
    browser.find_element(By.CSS_SELECTOR, "#results-table td a").click()
    _wait(browser).until(
        lambda b: b.execute_script(
            "const i = document.querySelector('#periodogram img');"
            "return i !== null && i.complete && i.naturalWidth === 900"
        )
    )
    assert browser.find_elements(By.CSS_SELECTOR, "#frequencies tr")
