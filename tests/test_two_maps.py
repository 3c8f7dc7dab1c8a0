"""A model with two named attention maps (tests/two_maps.py) goes through everything with no
change anywhere: it trains from the CLI, decodes greedily and by beam search with both maps,
and shows them in the API (`Output.maps`), in `jumok attention --map NAME` and in the
explorer's JSON (`GET /api/run`, `POST /api/predict`)."""

import json
import threading

import numpy as np
import pytest
from checks import UPPERCASE_TRAIN, train_uppercase_run
from two_maps import NAME, SECOND, TwoMapsSeq2seq, registered, sharpened

import jumok
from jumok import viz
from jumok.cli import main
from jumok.maps import cross_attention
from jumok.serve import make_server

WORDS = ["abc", "fed", "ab", "cafe"]
NAMES = ("cross", SECOND)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny upper-casing run of the two-map model, trained by `jumok train --model two-maps`;
    the model stays registered while the module's tests run."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        registered(monkeypatch)
        yield train_uppercase_run(tmp_path_factory.mktemp("two-maps"), 3, [*UPPERCASE_TRAIN, "--model", NAME])


@pytest.fixture(scope="module")
def model(run_dir):
    return jumok.load(run_dir)


def assert_two_maps(maps, steps, source_tokens):
    """Both maps, each (steps, source tokens), rows summing to 1; the second is the first sharpened."""
    assert tuple(maps) == NAMES
    for name, a in maps.items():
        assert a.shape == (len(steps), len(source_tokens)), name
        np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(maps[SECOND], sharpened(maps["cross"].astype(np.float64)), atol=1e-5)
    assert not np.allclose(maps[SECOND], maps["cross"], atol=1e-3)


def test_it_trained_from_the_cli_and_drew_its_attention(run_dir, model):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"] == NAME and isinstance(model.network, TwoMapsSeq2seq)
    assert len(model.history) == 4 and model.history[-1]["train_loss"] < model.history[0]["train_loss"]
    assert (run_dir / "attention.png").is_file()  # training's examples: the mean of the cross maps


@pytest.mark.parametrize("beam", [1, 3])
def test_the_api_hands_back_both_maps(model, beam):
    assert model.map_names == NAMES and model.has_attention
    outputs = model.predict(WORDS, beam=beam)
    for out in outputs:
        assert_two_maps(out.maps, out.steps, out.source_tokens)
        np.testing.assert_allclose(out.attention, (out.maps["cross"] + out.maps[SECOND]) / 2, rtol=1e-6)
        np.testing.assert_array_equal(out.attention, cross_attention(out.maps))
    sources = [model.encode(w) for w in WORDS]
    assert all(o.maps == {} and o.attention is None for o in model.decode(sources, beam=beam, maps=False))
    assert [o.text for o in model.decode(sources, beam=beam, maps=False)] == [o.text for o in outputs]


@pytest.fixture
def drawn(monkeypatch):
    """Record what `jumok attention` hands to the two figure functions (and still draw)."""
    calls = []
    grid, single = viz.attention_grid_figure, viz.attention_figure

    def record_grid(panels, columns=2, title=None):
        calls.append(("grid", [(name, np.asarray(a), list(across), list(down)) for a, across, down, name in panels]))
        return grid(panels, columns, title=title)

    def record_single(weights, source_tokens, output_tokens, title=None):
        calls.append(("single", np.asarray(weights)))
        return single(weights, source_tokens, output_tokens, title=title)

    monkeypatch.setattr(viz, "attention_grid_figure", record_grid)
    monkeypatch.setattr(viz, "attention_figure", record_single)
    return calls


def test_jumok_attention_draws_the_maps_asked_for(run_dir, model, drawn, tmp_path, capsys):
    out = model.predict("cafe", beam=2)
    picture = tmp_path / "maps.png"
    assert main(["attention", str(run_dir), "cafe", "--beam", "2", "--map", SECOND, "--map", "cross",
                 "--out", str(picture)]) == 0
    assert capsys.readouterr().out.strip() == str(picture) and picture.stat().st_size > 0
    (kind, panels), = drawn
    assert kind == "grid" and [name for name, *_ in panels] == [SECOND, "cross"]  # in the order asked
    for name, a, across, down in panels:
        np.testing.assert_array_equal(a, out.maps[name])
        assert across == out.source_tokens and down == out.steps
    drawn.clear()
    assert main(["attention", str(run_dir), "cafe", "--beam", "2", "--out", str(tmp_path / "mean.png")]) == 0
    (kind, weights), = drawn  # no --map: where the output looked, the mean of the cross maps
    assert kind == "single"
    np.testing.assert_array_equal(weights, out.attention)
    capsys.readouterr()
    assert main(["attention", str(run_dir), "cafe", "--map", "nope", "--out", str(tmp_path / "no.png")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'nope'" in err[0] and f"cross, {SECOND}" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "no.png").exists()


def request(server, method, path, document=None):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
    try:
        body = None if document is None else json.dumps(document).encode()
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_the_explorer_sends_both_maps(run_dir, model):
    server = make_server(run_dir, "127.0.0.1", 0, log=None, model=model)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status, run = request(server, "GET", "/api/run")
        assert status == 200 and run["maps"] == list(NAMES) and run["has_attention"] is True
        for beam in (1, 2):
            status, answer = request(server, "POST", "/api/predict", {"inputs": WORDS, "beam": beam})
            assert status == 200
            for got, want in zip(answer["outputs"], model.predict(WORDS, beam=beam), strict=True):
                assert got["text"] == want.text and list(got["maps"]) == list(NAMES)
                for name in NAMES:
                    np.testing.assert_allclose(got["maps"][name], want.maps[name], atol=2e-6, err_msg=name)
                np.testing.assert_allclose(got["attention"], want.attention, atol=2e-6)
        status, answer = request(server, "POST", "/api/predict", {"inputs": WORDS, "attention": False})
        assert status == 200 and all(o["maps"] == {} and o["attention"] is None for o in answer["outputs"])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
