"""`jumok attention` on a model with layers and heads: ``--layer`` / ``--head`` / ``--kind``
draw one head's map or a mean over heads or layers, and the title says which; ``--map``
draws the self-attention maps by name; a layer or head the model lacks, or either asked of
the attention model's single map, is a one-line error. The explorer's JSON carries the
self-attention maps an output has. And inputs longer than a Transformer's positions are
one-line errors of `jumok attention` and `jumok predict`."""

from pathlib import Path

import numpy as np
import pytest
from checks import untrained_run

from jumok import api, viz
from jumok.cli import main
from jumok.maps import START
from jumok.serve.protocol import output_json


def transformer_run(run_dir):
    """An untrained Transformer (2 layers, 2 heads) on whitespace-separated words."""
    from jumok.config import Config
    from jumok.data.vocab import Vocab
    from jumok.models import build_model
    from jumok.rundir import PARAMS, save_params, save_setup

    config = Config(task="tsv", data="train.tsv", model="transformer", hidden_size=8, heads=2, layers=2, ff_size=12,
                    dropout=0.0, max_output_length=5, source_tokens="space", target_tokens="space")
    src_vocab, tgt_vocab = Vocab(["one", "two", "three"]), Vocab(["uno", "dos", "tres"])
    save_setup(run_dir, config, src_vocab, tgt_vocab)
    model = build_model(config, len(src_vocab), len(tgt_vocab), np.random.default_rng(1))
    rng = np.random.default_rng(2)
    for _, p, _ in model.named_parameters():  # far from uniform attention, and an output past the end token
        p[...] += (rng.standard_normal(p.shape) * 0.5).astype(p.dtype)
    save_params(Path(run_dir) / PARAMS, model)
    return Path(run_dir)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return transformer_run(tmp_path_factory.mktemp("transformer") / "run")


@pytest.fixture(scope="module")
def output(run_dir):
    """What the command decodes, every map included."""
    model = api.load(run_dir)
    return model.decode([model.encode(TEXT, "TEXT")], maps=("cross", "enc-self", "dec-self"))[0]


TEXT = "one two three two"


@pytest.fixture
def drawn(monkeypatch):
    """Record the arguments of viz.attention_figure (and still draw)."""
    calls = []
    real = viz.attention_figure

    def record(weights, source_tokens, output_tokens, title=None):
        calls.append({"weights": weights, "across": list(source_tokens), "down": list(output_tokens), "title": title})
        return real(weights, source_tokens, output_tokens, title=title)

    monkeypatch.setattr(viz, "attention_figure", record)
    return calls


def draw(run_dir, tmp_path, *flags):
    return main(["attention", str(run_dir), TEXT, "--out", str(tmp_path / "a.png"), *flags])


@pytest.mark.parametrize("case", [
    (["--layer", "1", "--head", "0"], ["cross/1/0"], "cross-attention, layer 1, head 0"),
    (["--layer", "0"], ["cross/0/0", "cross/0/1"], "cross-attention, mean over the 2 heads of layer 0"),
    (["--head", "1"], ["cross/0/1", "cross/1/1"], "cross-attention, head 1, mean over the 2 layers"),
    (["--kind", "enc-self", "--layer", "0", "--head", "1"], ["enc-self/0/1"],
     "encoder self-attention, layer 0, head 1"),
    (["--kind", "dec-self", "--head", "0"], ["dec-self/0/0", "dec-self/1/0"],
     "decoder self-attention, head 0, mean over the 2 layers"),
    (["--kind", "enc-self"], ["enc-self/0/0", "enc-self/0/1", "enc-self/1/0", "enc-self/1/1"],
     "encoder self-attention, mean over the 4 heads of the 2 layers"),
])
def test_layer_and_head_choose_a_map_and_the_title_says_which(run_dir, output, tmp_path, capsys, drawn, case):
    flags, names, what = case  # the flags, the maps they average, what the title calls it
    assert draw(run_dir, tmp_path, *flags) == 0
    (call,) = drawn
    np.testing.assert_allclose(call["weights"], np.mean([output.maps[n] for n in names], axis=0), rtol=1e-6)
    assert call["title"] == f"{TEXT} → {output.text or '∅'}\n{what}"
    kind = names[0].split("/")[0]
    expected = {"cross": (output.source_tokens, output.steps), "enc-self": (output.source_tokens,) * 2,
                "dec-self": ([START, *output.steps[:-1]], output.steps)}[kind]
    assert (call["across"], call["down"]) == tuple(map(list, expected))
    assert capsys.readouterr().out.strip() == str(tmp_path / "a.png")


def test_without_layer_or_head_the_picture_is_the_mean_cross_attention_as_before(run_dir, output, tmp_path, drawn):
    assert draw(run_dir, tmp_path) == 0
    np.testing.assert_allclose(drawn[0]["weights"], output.attention, rtol=1e-6)
    assert drawn[0]["title"] == f"{TEXT} → {output.text or '∅'}"


def test_self_attention_maps_by_name_side_by_side(run_dir, output, tmp_path, monkeypatch):
    panels = []
    real = viz.attention_grid_figure

    def record(examples, columns=2, title=None):
        panels.extend(examples)
        return real(examples, columns, title)

    monkeypatch.setattr(viz, "attention_grid_figure", record)
    assert draw(run_dir, tmp_path, "--map", "enc-self/1/1", "--map", "dec-self/0/1", "--map", "cross/0/0") == 0
    assert [name for *_, name in panels] == ["enc-self/1/1", "dec-self/0/1", "cross/0/0"]
    for weights, across, down, name in panels:
        np.testing.assert_allclose(weights, output.maps[name], rtol=1e-6)
        assert weights.shape == (len(down), len(across))


@pytest.mark.parametrize("flags, message", [
    (["--layer", "2"], "no layer 2: this model's cross-attention has layers 0 to 1"),
    (["--layer", "0", "--head", "2"], "no head 2: this model's cross-attention has heads 0 to 1"),
    (["--kind", "dec-self", "--head", "-1"], "no head -1: this model's decoder self-attention has heads 0 to 1"),
    (["--map", "cross/0/0", "--layer", "0"], "--map draws maps by name; --layer, --head and --kind choose one: "
                                             "give one or the other"),
    (["--map", "enc-self/2/0"], "no attention map named 'enc-self/2/0'; this model has cross/0/0, cross/0/1, "),
])
def test_a_layer_or_head_the_model_lacks_is_a_one_line_error(run_dir, tmp_path, capsys, flags, message):
    assert draw(run_dir, tmp_path, *flags) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"jumok: error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "a.png").exists()


def test_the_attention_models_one_map_has_no_layers_to_choose(tmp_path, capsys):
    run_dir = untrained_run(tmp_path / "lstm")
    assert main(["attention", str(run_dir), "one two", "--out", str(tmp_path / "a.png"), "--layer", "0"]) == 1
    assert capsys.readouterr().err == ("jumok: error: this model's cross-attention is one map ('cross'), without "
                                       "layers or heads to choose\n")
    assert main(["attention", str(run_dir), "one two", "--out", str(tmp_path / "a.png"), "--kind", "enc-self"]) == 1
    assert capsys.readouterr().err == "jumok: error: this model has no encoder self-attention maps; it has cross\n"


def test_the_explorers_json_carries_every_map_the_output_has(output):
    document = output_json(output)
    assert set(document["maps"]) == set(output.maps) and len(output.maps) == 12  # 4 cross, 4 enc-self, 4 dec-self
    for name, rows in document["maps"].items():
        np.testing.assert_allclose(rows, output.maps[name], atol=5e-7, err_msg=name)
    np.testing.assert_allclose(document["attention"], output.attention, atol=5e-7)  # the cross maps' mean
    assert output_json(output, attention=False)["maps"] == {}


LONG = " ".join(["one", "two", "three"] * 400)  # 1,200 tokens: past the 1,024 positions


def test_an_input_longer_than_the_positions_is_a_one_line_error(run_dir, tmp_path, capsys):
    assert draw(run_dir, tmp_path) == 0  # the run itself draws
    capsys.readouterr()
    assert main(["attention", str(run_dir), LONG, "--out", str(tmp_path / "long.png")]) == 1
    assert capsys.readouterr().err == ("jumok: error: TEXT has 1,200 tokens; this transformer reads at most 1,024 "
                                       "(its positions)\n")
    assert main(["predict", str(run_dir), "one two", LONG, "three"]) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1  # the input before it is answered
    assert captured.err == ("jumok: error: argument 2 has 1,200 tokens; this transformer reads at most 1,024 "
                            "(its positions)\n")
