"""The web page in a real headless Chromium (Debian's chromium + chromium-driver, Selenium).

Starts uvicorn on a free 127.0.0.1 port in a background thread with the tiny model, types a
text, clicks, and checks the bar chart, the shaded tokens and the Ekman group appear. Skips,
saying why, when selenium, chromium or chromedriver is missing (``.ci/run`` installs them).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs the `serve` extra")
pytest.importorskip("uvicorn", reason="needs the `serve` extra")
pytest.importorskip("selenium", reason="needs selenium (the `dev` extra)")

import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from emobalance.labels import EKMAN_LABELS, LABELS, SENTIMENT_LABELS
from emobalance.serve import create_app

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()),
    None,
)
CHROMEDRIVER = next(
    (
        p
        for p in ("/usr/bin/chromedriver", shutil.which("chromedriver") or "")
        if p and Path(p).exists()
    ),
    None,
)
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip(
        "headless browser test needs Debian's chromium and chromium-driver "
        "(apt-get install -y chromium chromium-driver; .ci/run does this)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    """uvicorn in a thread on a socket bound here (no port race); stopped after the module."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(tiny_model_dir), log_level="warning", access_log=False)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1000,1400", "--no-first-run", "--disable-extensions"):  # fmt: skip
        options.add_argument(arg)
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except Exception as exc:  # a broken install should say so, not fail the suite
        pytest.skip(f"chromium did not start: {str(exc).splitlines()[0][:200]}")
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_page_shows_bars_tokens_and_ekman_group(server, browser):
    # (the default page: top 5 labels, truncate; the bars come from v1/predict)
    browser.get(server + "/")
    wait = WebDriverWait(browser, 20)
    box = wait.until(ec.presence_of_element_located((By.ID, "text")))
    assert not browser.find_element(By.ID, "result").is_displayed()
    box.send_keys("so happy and glad, thanks")
    browser.find_element(By.ID, "analyse").click()
    wait.until(ec.visibility_of_element_located((By.ID, "result")))

    bars = browser.find_elements(By.CSS_SELECTOR, "#bars li.bar")
    assert sorted(b.get_attribute("data-label") for b in bars) == sorted(LABELS)
    probs = [float(b.get_attribute("data-probability")) for b in bars]
    assert probs == sorted(probs, reverse=True)
    assert bars[0].get_attribute("data-label") == "joy"
    fill, track = (bars[0].find_element(By.CSS_SELECTOR, c) for c in (".fill", ".track"))
    assert fill.size["width"] > 0.5 * track.size["width"]  # joy's bar is drawn, mostly full

    tokens = browser.find_elements(By.CSS_SELECTOR, "#tokens .token")
    assert [t.text for t in tokens][:4] == ["so", "happy", "and", "glad"]
    weights = [float(t.get_attribute("data-weight")) for t in tokens]
    assert abs(sum(weights) - 1) < 0.01
    shades = {t.value_of_css_property("background-color") for t in tokens}
    assert len(shades) > 1  # coloured by weight, not one flat colour

    ekman = browser.find_element(By.ID, "ekman").text.lower()
    assert ekman in EKMAN_LABELS and ekman == "joy"
    assert "joy" in browser.find_element(By.ID, "labels").text

    # nothing was fetched from anywhere but this server
    urls = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert urls and all(u.startswith(server) for u in urls), urls
    if shot := os.environ.get("EMOBALANCE_SCREENSHOT"):  # for a person to look at the page
        browser.save_screenshot(shot)
    logs = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not logs, logs


def test_page_shows_top_k_and_both_groups_and_takes_a_long_text_policy(server, browser):
    from selenium.webdriver.support.ui import Select

    browser.get(server + "/")
    wait = WebDriverWait(browser, 20)
    box = wait.until(ec.presence_of_element_located((By.ID, "text")))
    box.send_keys("so happy and glad, thanks. I am furious, rage!")
    Select(browser.find_element(By.ID, "top-k")).select_by_value("3")
    Select(browser.find_element(By.ID, "long-text")).select_by_value("sentences")
    browser.find_element(By.ID, "analyse").click()
    wait.until(ec.visibility_of_element_located((By.ID, "result")))
    top = browser.find_elements(By.CSS_SELECTOR, "#top li")
    assert len(top) == 3
    probs = [float(t.get_attribute("data-probability")) for t in top]
    assert probs == sorted(probs, reverse=True)
    # max over the two sentences: the joy and the anger sentence both count
    assert {"joy", "anger"} <= {t.get_attribute("data-label") for t in top}
    assert browser.find_element(By.ID, "sentiment").text.lower() in SENTIMENT_LABELS
    assert browser.find_element(By.ID, "ekman").text.lower() in EKMAN_LABELS
    logs = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not logs, logs


def test_page_reports_an_error_for_empty_text(server, browser):
    browser.get(server + "/")
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "text")))
    browser.find_element(By.ID, "analyse").click()
    # the textarea is `required`: the browser blocks the submit, so no result appears
    time.sleep(0.3)
    assert not browser.find_element(By.ID, "result").is_displayed()


def _severe(browser, allowed: str | None = None) -> list[dict]:
    return [
        e
        for e in browser.get_log("browser")
        if e["level"] == "SEVERE" and not (allowed and allowed in e["message"])
    ]


def test_swagger_ui_works_under_its_csp(server, browser):
    """/docs renders and "Try it out" calls the API with the page's CSP (inline script hashed)."""
    browser.get(server + "/docs")
    wait = WebDriverWait(browser, 20)
    block = wait.until(ec.element_to_be_clickable((By.ID, "operations-ops-healthz_healthz_get")))
    assert len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) >= 5
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".try-out__btn"))).click()
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".execute"))).click()
    cell = ".live-responses-table tbody .response-col_status"
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, cell))
    assert browser.find_element(By.CSS_SELECTOR, cell).text.strip() == "200"
    assert not _severe(browser)  # no CSP violation, no script error


def test_redoc_works_under_its_csp(server, browser):
    """/redoc renders and searches (a blob: worker) with its CSP; the one thing the CSP blocks
    is the Redocly logo the bundle hard-codes from cdn.redoc.ly (so nothing leaves the host)."""
    browser.get(server + "/redoc")
    wait = WebDriverWait(browser, 20)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-section-id]")))
    box = wait.until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, "input[placeholder='Search...']"))
    )
    box.send_keys("predict")
    wait.until(lambda d: "Predict" in d.find_element(By.CSS_SELECTOR, "[role=search]").text)
    entries = browser.execute_script(
        "return performance.getEntriesByType('resource')"
        ".map(e => [e.name, e.responseStatus, e.transferSize])"
    )
    assert any(name.startswith(server) for name, _, _ in entries)
    for name, status, size in entries:  # the blocked logo is listed, but never fetched
        assert name.startswith(server) or (status, size) == (0, 0), entries
    assert not _severe(browser, allowed="cdn.redoc.ly/redoc/logo-mini.svg")
