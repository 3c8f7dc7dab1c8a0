"""The attention explorer in a real browser: headless Chromium (Debian's ``chromium``,
never a downloaded one) driven by Playwright, against `jumok serve` on a tiny trained run.

Typing shows the prediction; the heatmap has one row per output step (``</s>`` last) and one
column per source token, each cell carrying the weight the API returns; hovering a row lights
exactly that step's cells and the source tokens by its weights, hovering a source token its
column; an unseen character shows the error; the n-best list, a model without attention, a
long input that scrolls, the run's settings and curves. The page runs under its own
Content-Security-Policy (no bypass), and any console error fails the test.

Without Playwright or Chromium these tests skip, saying why; under ``CI=true`` they fail
(the fixtures are in conftest.py, the helpers in browser_checks.py).
"""

import re

import pytest
from browser_checks import GREEDY, WAIT_MS, alpha, answer, lit_cells, open_page, texts, type_and_wait
from checks import untrained_run
from serve_checks import serving

import jumok


@pytest.fixture(scope="module")
def server(char_run):
    with serving(char_run, model=jumok.load(char_run)) as server:
        yield server


def test_typing_shows_the_prediction_and_a_heatmap_row_per_step(page, server):
    expected = answer(server, "fedca")
    type_and_wait(page, "fedca", expected["text"])
    rows = page.query_selector_all(f"{GREEDY} tbody tr")
    assert len(rows) == len(expected["steps"]) == len(expected["attention"])
    assert texts(page, f"{GREEDY} th.out") == expected["steps"]
    assert expected["steps"][-1] == "</s>"  # the last row is the end token
    assert texts(page, f"{GREEDY} th.src") == expected["source_tokens"] == list("fedca")
    cells = page.query_selector_all(f"{GREEDY} td")
    weights = {(int(c.get_attribute("data-row")), int(c.get_attribute("data-col"))):
               float(c.get_attribute("data-weight")) for c in cells}
    assert weights == {(r, c): w for r, row in enumerate(expected["attention"]) for c, w in enumerate(row)}
    assert alpha(page, cells[0]) == pytest.approx(expected["attention"][0][0], abs=0.01)  # intensity = weight
    assert page.query_selector_all("table.heads") == []  # one map: no grid of layers and heads


def test_hovering_a_row_lights_exactly_that_steps_weights(page, server):
    expected = answer(server, "cabbed")
    type_and_wait(page, "cabbed", expected["text"])
    width = len(expected["source_tokens"])
    for row, weights in enumerate(expected["attention"]):
        page.hover(f"{GREEDY} th.out[data-row='{row}']")
        assert lit_cells(page) == [(row, col) for col in range(width)]
        sources = page.query_selector_all(f"{GREEDY} th.src.lit")
        assert [float(th.get_attribute("data-weight")) for th in sources] == weights
        assert [alpha(page, th) for th in sources] == pytest.approx(weights, abs=0.01)
    page.hover(f"{GREEDY} td[data-row='1'][data-col='2']")  # a cell lights its row too
    assert lit_cells(page) == [(1, col) for col in range(width)]
    page.mouse.move(1, 1)
    assert lit_cells(page) == [] and page.query_selector_all(f"{GREEDY} th.lit") == []
    page.focus(f"{GREEDY} th.out[data-row='0']")  # the keyboard lights a row too
    assert lit_cells(page) == [(0, col) for col in range(width)]


def test_hovering_a_source_token_lights_its_column(page, server):
    expected = answer(server, "abcd")
    type_and_wait(page, "abcd", expected["text"])
    page.hover(f"{GREEDY} th.src[data-col='2']")
    assert lit_cells(page) == [(row, 2) for row in range(len(expected["steps"]))]
    outputs = page.query_selector_all(f"{GREEDY} th.out.lit")
    assert [float(th.get_attribute("data-weight")) for th in outputs] == [row[2] for row in expected["attention"]]


def test_an_unseen_character_shows_the_error(page, server):
    expected = answer(server, "abc")
    type_and_wait(page, "abc", expected["text"])
    from playwright.sync_api import expect

    page.locator("#source").press_sequentially("zq", delay=15)
    error = page.locator("#error")
    expect(error).to_be_visible(timeout=WAIT_MS)
    expect(error).to_have_text("input 1 'abczq' has tokens never seen in training: 'q' 'z' "
                               '("unk": true maps them to <unk>)')
    assert page.query_selector_all(f"{GREEDY} td") == []
    page.check("#unk")  # mapping them to <unk> answers again
    expect(error).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator(f"{GREEDY} th.src.unk")).to_have_count(2, timeout=WAIT_MS)


def test_beam_search_side_by_side_with_its_nbest_list(page, server):
    page.locator("#beam").fill("4")
    page.locator("#nbest").fill("3")
    expected = answer(server, "bead", beam=4, nbest=3)
    type_and_wait(page, "bead", answer(server, "bead")["text"])
    from playwright.sync_api import expect

    expect(page.locator("#nbest-list li")).to_have_count(3, timeout=WAIT_MS)
    assert texts(page, "#nbest-list li .text") == [a["text"] or "∅" for a in expected["alternatives"]]
    assert texts(page, "#nbest-list li .score") == [f"{a['score']:.4f}" for a in expected["alternatives"]]
    assert page.text_content("[data-output=beam] .text") == expected["text"]
    beam_rows = page.query_selector_all("table[data-decoder=beam] tbody tr")
    assert len(beam_rows) == len(expected["steps"])


def test_a_long_input_scrolls_inside_its_panel(page, server):
    text = "abcdef" * 20
    type_and_wait(page, text, answer(server, text)["text"])
    wrap = page.query_selector("#greedy .heatmap-wrap")
    sizes = page.evaluate("(e) => [e.scrollWidth, e.clientWidth, getComputedStyle(e).overflowX]", wrap)
    assert sizes[0] > sizes[1] and sizes[2] == "auto"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # the page itself does not


def test_the_run_settings_and_learning_curves(page, server):
    assert "hidden_size" in texts(page, "#config th")
    assert page.text_content("#config tr:has(th:text-is('hidden_size')) td") == "16"
    charts = page.query_selector_all("#curves svg.chart")
    assert len(charts) == 2
    points = page.get_attribute("#curves svg.chart polyline", "points").split()
    assert len(points) == 4  # one per epoch of history.json


def test_a_kind_of_map_the_model_lacks_says_so(page, server):
    expected = answer(server, "bead")
    type_and_wait(page, "bead", expected["text"])
    from playwright.sync_api import expect

    page.check("#kinds input[value='enc-self']")
    expect(page.locator("#greedy .no-attention")).to_have_text(
        "This model (attention) has no encoder self-attention maps, so there is nothing to show here.", timeout=WAIT_MS)
    expect(page.locator("#status")).to_have_text(re.compile("^greedy"), timeout=WAIT_MS)
    assert page.text_content("[data-output=greedy] .text") == expected["text"]  # the prediction still shows
    assert page.query_selector_all("table.heatmap") == [] and page.query_selector_all("table.heads") == []
    page.check("#kinds input[value='cross']")
    expect(page.locator(f"{GREEDY} tbody tr")).to_have_count(len(expected["steps"]), timeout=WAIT_MS)
    assert page.text_content("#hint").startswith("Hover an output token (a row)")


def test_a_model_without_attention_says_so(browser, tmp_path):
    run_dir = untrained_run(tmp_path / "plain", model="seq2seq")
    with serving(run_dir) as server:
        page = open_page(browser, server)
        try:
            type_and_wait(page, "one two three", answer(server, "one two three")["text"])
            assert page.query_selector_all("table.heatmap") == []
            assert page.text_content("#greedy .no-attention") == ("This model (seq2seq) has no attention, so there "
                                                                   "is no heatmap to show.")
            assert "no attention" in page.text_content("#run-summary")
            assert page.is_hidden("#kinds")
            assert not page.errors
        finally:
            page.close()
