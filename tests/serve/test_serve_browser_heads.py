"""The attention explorer of a Transformer run in a real browser (headless Chromium under
Playwright, as test_serve_browser.py), on a tiny Transformer of 2 layers × 3 heads trained
once for this module (about 5 s).

The page draws a grid of small maps per decoder, a row per layer and a column per head and
the mean over each layer's heads last; the chosen one is drawn large. Checked against the
JSON API: one row per output step; hovering a row lights exactly that row and the weights the
API returns for that layer and head; choosing another head shows that head's weights; the
mean equals the mean of the API's per-head maps to 1e-6; the encoder's and the decoder's
self-attention, asked for through "maps", have their own views; the settings table shows the
Transformer's own settings.
"""

import numpy as np
import pytest
from browser_checks import GREEDY, WAIT_MS, answer, cell_weights, lit_cells, texts, type_and_wait
from checks import train_uppercase_run
from serve_checks import serving

import jumok

LAYERS, HEADS = 2, 3
TRAIN = ["--model", "transformer", "--hidden-size", "12", "--heads", str(HEADS), "--ff-size", "24",
         "--layers", str(LAYERS), "--epochs", "15", "--batch-size", "8", "--lr", "0.01", "--warmup-steps", "10",
         "--lr-decay", "1", "--patience", "0", "--quiet"]
BEAM = "table[data-decoder=beam]"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    run_dir = train_uppercase_run(tmp_path_factory.mktemp("serve-transformer"), 1, TRAIN)
    with serving(run_dir, model=jumok.load(run_dir)) as server:
        yield server


def grid_button(layer, head, decoder="greedy"):
    return f"table.heads[data-grid={decoder}] button[data-layer='{layer}'][data-head='{head}']"


def typed(page, server, text, kind="cross"):
    """Choose `kind`, type `text` and wait until both panels show that kind's maps; the API's
    greedy output with them."""
    from playwright.sync_api import expect

    expected = answer(server, text, maps=[kind])
    page.check(f"#kinds input[value='{kind}']")
    type_and_wait(page, text, expected["text"])
    for decoder in ("greedy", "beam"):
        expect(page.locator(f"table.heads[data-grid={decoder}]")).to_have_attribute("data-kind", kind,
                                                                                    timeout=WAIT_MS)
    assert len(expected["steps"]) > 1  # a map of a few rows, not only </s>
    return expected


def test_a_grid_of_layers_and_heads_and_one_row_per_output_step(page, server):
    expected = typed(page, server, "cabbed")
    assert texts(page, "table.heads[data-grid=greedy] tbody th") == [f"layer {n}" for n in range(LAYERS)]
    assert texts(page, "table.heads[data-grid=greedy] thead th")[1:] == [f"head {h}" for h in range(HEADS)] + \
        ["mean"]
    assert len(page.query_selector_all("table.heads[data-grid=greedy] button.head")) == LAYERS * (HEADS + 1)
    assert page.get_attribute(grid_button(LAYERS - 1, "mean"), "aria-pressed") == "true"  # the first choice
    assert texts(page, f"{GREEDY} th.out") == expected["steps"] and expected["steps"][-1] == "</s>"
    assert texts(page, f"{GREEDY} th.src") == expected["source_tokens"]
    assert len(page.query_selector_all(f"{GREEDY} tbody tr")) == len(expected["steps"])
    beam = answer(server, "cabbed", beam=5, nbest=3)
    assert len(page.query_selector_all(f"{BEAM} tbody tr")) == len(beam["steps"])


def test_hovering_lights_exactly_the_apis_weights_of_that_layer_and_head(page, server):
    expected = typed(page, server, "fedca")
    width = len(expected["source_tokens"])
    for layer, head in ((0, 2), (1, 0)):
        page.click(grid_button(layer, head))
        weights = expected["maps"][f"cross/{layer}/{head}"]
        for row in range(len(expected["steps"])):
            page.hover(f"{GREEDY} th.out[data-row='{row}']")
            assert lit_cells(page) == [(row, col) for col in range(width)]
            lit = page.query_selector_all(f"{GREEDY} th.src.lit")
            assert [float(th.get_attribute("data-weight")) for th in lit] == weights[row]
        page.hover(f"{GREEDY} th.src[data-col='1']")
        assert lit_cells(page) == [(row, 1) for row in range(len(expected["steps"]))]
        lit = page.query_selector_all(f"{GREEDY} th.out.lit")
        assert [float(th.get_attribute("data-weight")) for th in lit] == [row[1] for row in weights]


def test_switching_head_shows_that_heads_weights_in_both_panels(page, server):
    expected = typed(page, server, "dab")
    beam = answer(server, "dab", beam=5, nbest=3)
    for layer in range(LAYERS):
        for head in range(HEADS):
            page.click(grid_button(layer, head, decoder="beam"))  # a choice in either panel is both panels'
            name = f"cross/{layer}/{head}"
            assert cell_weights(page) == expected["maps"][name], name
            assert cell_weights(page, BEAM) == beam["maps"][name], name
            pressed = page.query_selector_all("table.heads[data-grid=greedy] button[aria-pressed=true]")
            assert [(b.get_attribute("data-layer"), b.get_attribute("data-head")) for b in pressed] == \
                [(str(layer), str(head))]
            assert f"layer {layer}, head {head}" in page.text_content("#greedy figcaption")


def test_the_mean_is_the_mean_of_the_apis_per_head_maps(page, server):
    expected = typed(page, server, "bead")
    for layer in range(LAYERS):
        page.click(grid_button(layer, "mean"))
        mean = np.mean([expected["maps"][f"cross/{layer}/{h}"] for h in range(HEADS)], axis=0)
        assert np.abs(np.array(cell_weights(page)) - mean).max() < 1e-6
        assert "mean over its heads" in page.text_content("#greedy figcaption")
        row, col = (int(n) for n in np.unravel_index(mean.argmax(), mean.shape))  # the small map: the same weights
        alpha = thumbnail_alpha(page, grid_button(layer, "mean"), row, col, len(mean))
        assert alpha == pytest.approx(mean[row, col], abs=0.01)


def thumbnail_alpha(page, button, row, col, rows):
    """The opacity of square (row, col) of the small map in `button` (a map of `rows` rows),
    read back from its canvas."""
    return page.evaluate("""([button, row, col, rows]) => {
        const canvas = document.querySelector(button + " canvas");
        const px = canvas.height / rows;
        const pixel = canvas.getContext("2d").getImageData((col + 0.5) * px, (row + 0.5) * px, 1, 1).data;
        return pixel[3] / 255; }""", [button, row, col, rows])


def test_the_encoders_self_attention_has_its_own_view(page, server):
    expected = typed(page, server, "face", kind="enc-self")
    tokens = expected["source_tokens"]
    assert expected["attention"] is None and set(expected["maps"]) == \
        {f"enc-self/{layer}/{head}" for layer in range(LAYERS) for head in range(HEADS)}
    page.click(grid_button(0, 1))
    assert texts(page, f"{GREEDY} th.out") == tokens and texts(page, f"{GREEDY} th.src") == tokens
    assert cell_weights(page) == expected["maps"]["enc-self/0/1"]
    page.hover(f"{GREEDY} th.out[data-row='2']")
    lit = page.query_selector_all(f"{GREEDY} th.src.lit")
    assert [float(th.get_attribute("data-weight")) for th in lit] == expected["maps"]["enc-self/0/1"][2]
    assert "source token down the side" in page.text_content("#hint")


def test_the_decoders_self_attention_has_its_own_view(page, server):
    expected = typed(page, server, "ecab", kind="dec-self")
    steps = expected["steps"]
    page.click(grid_button(1, 2))
    assert texts(page, f"{GREEDY} th.out") == steps
    assert texts(page, f"{GREEDY} th.src") == ["<s>", *steps[:-1]]  # the tokens fed
    weights = cell_weights(page)
    assert weights == expected["maps"]["dec-self/1/2"]
    assert all(w == 0 for t, row in enumerate(weights) for w in row[t + 1:])  # causal: no later token
    page.click(grid_button(1, "mean"))
    mean = np.mean([expected["maps"][f"dec-self/1/{h}"] for h in range(HEADS)], axis=0)
    assert np.abs(np.array(cell_weights(page)) - mean).max() < 1e-6


def test_the_settings_table_shows_the_transformers_settings(page, server):
    keys = texts(page, "#config th")
    assert {"heads", "ff_size", "attention_dropout", "hidden_size", "layers", "warmup_steps"} <= set(keys)
    assert not {"bidirectional", "attention", "embed_size", "reverse"} & set(keys)
    assert page.text_content("#config tr:has(th:text-is('heads')) td") == str(HEADS)
    assert page.text_content("#config tr:has(th:text-is('ff_size')) td") == "24"
    assert f"transformer ({LAYERS} layers × {HEADS} heads)" in page.text_content("#run-summary")
    assert page.is_visible("#kinds")
