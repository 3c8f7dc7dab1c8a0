"""What the browser tests of `jumok serve` share: where Chromium is, why the tests would skip,
a fresh page on the explorer, and reading the page (typed text, tokens, lit cells, colours).

The `browser` and `page` fixtures that use them are in conftest.py; a module that asks for
``page`` defines the ``server`` fixture it opens.
"""

import importlib
import os
import re
from pathlib import Path

from serve_checks import predict

CHROMIUM = os.environ.get("JUMOK_CHROMIUM", "/usr/bin/chromium")
WAIT_MS = 30_000  # for an answer to show (the machine may be busy)
GREEDY = "table[data-decoder=greedy]"
REFUSED = re.compile("Failed to load resource: the server responded with a status of 4")  # Chromium logs 4xx


def browser_missing():
    """Why the browser tests cannot run here (one line), or None when they can."""
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError:
        return "the playwright package is not installed (pip install '.[test]')"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set JUMOK_CHROMIUM)"
    return None


def open_page(browser, server):
    """A fresh page on the explorer, the run loaded; console errors are collected in
    ``page.errors``."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.errors = []
    page.on("console", lambda message: message.type == "error" and not REFUSED.match(message.text)
            and page.errors.append(message.text))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(server.url)
    expect(page.locator("#run-summary")).not_to_have_text("loading the run…", timeout=WAIT_MS)
    return page


def type_and_wait(page, text, expected_output):
    """Type `text` into the source box and wait until greedy decoding shows `expected_output`
    and both answers are in."""
    from playwright.sync_api import expect

    page.locator("#source").fill("")
    page.locator("#source").press_sequentially(text, delay=15)
    expect(page.locator("[data-output=greedy] .text")).to_have_text(expected_output, timeout=WAIT_MS)
    expect(page.locator("#status")).to_have_text(re.compile("^greedy"), timeout=WAIT_MS)


def answer(server, text, **options):
    """The API's output for one input `text` (`options` are the request's other keys)."""
    status, body = predict(server, {"inputs": [text], **options})
    assert status == 200, body
    return body["outputs"][0]


def texts(page, selector):
    return [node.text_content() for node in page.query_selector_all(selector)]


def lit_cells(page, table=GREEDY):
    """The sorted (row, column) of every lit cell of `table`."""
    return sorted((int(td.get_attribute("data-row")), int(td.get_attribute("data-col")))
                  for td in page.query_selector_all(f"{table} td.lit"))


def cell_weights(page, table=GREEDY):
    """The weights a heatmap's cells carry, as rows of floats (the page's numbers, unrounded)."""
    rows = {}
    for td in page.query_selector_all(f"{table} tbody td"):
        rows.setdefault(int(td.get_attribute("data-row")), {})[int(td.get_attribute("data-col"))] = \
            float(td.get_attribute("data-weight"))
    return [[row[col] for col in sorted(row)] for _, row in sorted(rows.items())]


def alpha(page, element):
    """The opacity of an element's computed background colour."""
    colour = page.evaluate("(e) => getComputedStyle(e).backgroundColor", element)
    parts = re.findall(r"[\d.]+", colour)
    return float(parts[3]) if len(parts) == 4 else 1.0
