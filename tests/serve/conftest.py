"""The run every test of `jumok serve` serves, trained once for the session (serving only
reads it), and its Python API model, loaded afresh in each test module; the browser and a
page on the explorer for the browser tests (a module asking for ``page`` defines ``server``).

Without Playwright or Chromium the browser tests skip, saying why; under ``CI=true`` they fail.
"""

import os

import pytest
from browser_checks import CHROMIUM, browser_missing, open_page
from checks import train_uppercase_run
from serve_checks import TRAIN

import jumok


@pytest.fixture(scope="session")
def char_run(tmp_path_factory):
    """A tiny trained char-level attention run: lower-case a..f words to upper case."""
    return train_uppercase_run(tmp_path_factory.mktemp("serve"), 1, TRAIN)


@pytest.fixture(scope="module")
def model(char_run):
    return jumok.load(char_run)


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium under Playwright (never a downloaded browser)."""
    missing = browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs the browser tests, but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """A fresh page on the module's ``server``; any console error it logged fails the test."""
    page = open_page(browser, server)
    yield page
    errors = page.errors
    page.close()
    assert not errors, f"the page logged errors: {errors}"
