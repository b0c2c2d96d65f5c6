"""browser - a real browser for the tests of the web pages: Debian's headless Chromium
(chromium, chromium-driver) driven through Selenium (python3-selenium).

`chromium(tmp_path, name)` is a context manager giving a WebDriver with its own profile
folder under tmp_path (so that tests in parallel share nothing), no background traffic
(sync, component updates, field trials: the tests' servers are on loopback and nothing
else is reached), and the browser's console kept, so that a test can assert that a page
logged no error (a Content-Security-Policy refusal is one). `shot(driver, name)` saves a
PNG of the window into the screenshots folder: $PETREL_SCREENSHOTS, else `screenshots/`
beside the tested binary ($PETREL_BIN), so a CI run keeps them with its build.
`follow(driver, element)` clicks a link or a form's button and returns once the next page
has replaced this one: WebDriver's click does not wait for the navigation it starts, so a
test reading the URL or the page right after a bare click may still see the old one."""

import contextlib
import os
import re
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--window-size=1280,1000", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
)


def screenshots_dir():
    folder = os.environ.get("PETREL_SCREENSHOTS")
    if folder:
        path = Path(folder)
    else:
        path = Path(os.environ.get("PETREL_BIN", "build-test/petrel")).resolve().parent / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def chromium(tmp_path, name="browser"):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = Path(tmp_path) / ("chromium-" + name)
    profile.mkdir(parents=True, exist_ok=True)
    options.add_argument("--user-data-dir=%s" % profile)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER, log_path=str(profile / "driver.log")),
                              options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver, name):
    """the window as screenshots/NAME.png; its path"""
    path = screenshots_dir() / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".png")
    assert driver.save_screenshot(str(path)), "screenshot %s not saved" % path
    return path


def gone(element):
    """a WebDriverWait condition: ELEMENT is no longer in the page.  The driver says so
    as a stale element, or, asked in the middle of the navigation, with an inspector
    error that its node "does not belong to the document" (chromedriver 156; that error
    made expected_conditions.staleness_of fail a test once in CI)"""
    def check(_driver):
        try:
            element.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return True
            raise
    return check


def follow(driver, element, timeout=20):
    """click ELEMENT, a link or a submit button, and wait until the page it leads to has
    replaced this one and finished loading"""
    element.click()
    wait = WebDriverWait(driver, timeout)
    wait.until(gone(element))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def console_errors(driver):
    """what the page logged at level SEVERE (errors, CSP refusals) since the last call"""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry.get("level") == "SEVERE"]
