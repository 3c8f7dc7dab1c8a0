"""Whole models, every entry of MODELS (each built by `checks.tiny_model`): gradient checks,
mask invariance, decoding consistency, dropout, label smoothing; and the LSTM models' own
settings: reversal, stacked and bidirectional encoders."""

import numpy as np
import pytest
from checks import assert_model_gradients, if_lstm, teacher_forced, tiny_model

from jumok.decoding import Search, greedy_decode
from jumok.gradcheck import gradients_of, parameters_of
from jumok.maps import cross_names
from jumok.models import MODELS
from jumok.models.seq2seq import LSTM_MODELS, reversal_index

V_SRC, V_TGT = 9, 7
BOS, EOS, PAD = 1, 2, 0
ZERO_GRADIENT = (".bk",)  # the Transformer's key biases shift a query's whole row of scores, which the softmax
# ignores: their gradient is exactly 0, and central differences of it rounding noise (MultiHeadAttention)


def toy_batch(rng):
    src_lengths, tgt_lengths = np.array([5, 2, 4]), np.array([3, 1, 2])
    src_mask = np.arange(5)[None] < src_lengths[:, None]
    tgt_mask = np.arange(4)[None] < tgt_lengths[:, None] + 1
    src = np.where(src_mask, rng.integers(3, V_SRC, (3, 5)), PAD)
    body = rng.integers(3, V_TGT, (3, 4))
    tgt_out = np.where(np.arange(4)[None] < tgt_lengths[:, None], body, EOS)
    tgt_out = np.where(tgt_mask, tgt_out, PAD)
    tgt_in = np.concatenate([np.full((3, 1), BOS), np.where(tgt_mask, tgt_out, PAD)[:, :-1]], axis=1)
    tgt_in = np.where(tgt_in == EOS, PAD, tgt_in)
    return src, src_mask, tgt_in, tgt_out, tgt_mask


def make(name, seed=0, **settings):
    """A tiny float64 model of the MODELS entry `name` with Config `settings`, with larger
    weights than the default init, so that every path carries a real gradient."""
    rng = np.random.default_rng(seed)
    model = tiny_model(name, V_SRC, V_TGT, rng, np.float64, **settings)
    for _, p, _ in model.named_parameters():
        p[...] = rng.standard_normal(p.shape) * 0.5
    return model


CASES = {**{name: (name, {}) for name in sorted(MODELS)},
         **{f"{name}-reversed": (name, {"reverse": True}) for name in sorted(LSTM_MODELS)}}


@pytest.mark.parametrize("name, settings", CASES.values(), ids=CASES)
def test_model_gradient_every_parameter(name, settings):
    rng = np.random.default_rng(1)
    assert_model_gradients(make(name, **settings), toy_batch(rng), rng, skip=ZERO_GRADIENT)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_padding_changes_nothing(name):
    rng = np.random.default_rng(2)
    model = make(name, **if_lstm(name, reverse=True))
    src, src_mask, tgt_in, tgt_out, tgt_mask = toy_batch(rng)
    loss = model.forward(src, src_mask, tgt_in, tgt_out, tgt_mask)
    model.zero_grad()
    model.backward()
    grads = gradients_of(model)
    src2 = np.where(src_mask, src, rng.integers(3, V_SRC, src.shape))  # other tokens in padding
    tgt_out2 = np.where(tgt_mask, tgt_out, rng.integers(3, V_TGT, tgt_out.shape))
    tgt_in2 = tgt_in.copy()
    tgt_in2[:, 1:] = np.where(tgt_mask[:, :-1], tgt_in[:, 1:], rng.integers(3, V_TGT, (3, 3)))
    assert model.forward(src2, src_mask, tgt_in2, tgt_out2, tgt_mask) == loss
    model.zero_grad()
    model.backward()
    for key, g in gradients_of(model).items():
        if key.endswith("embed.W"):  # rows of tokens that only appear in padding get 0 anyway
            continue
        np.testing.assert_array_equal(g, grads[key], err_msg=key)


def test_reversal_index_reverses_within_length_and_is_its_own_inverse():
    mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=bool)
    idx = reversal_index(mask)
    np.testing.assert_array_equal(idx, [[2, 1, 0, 3], [0, 1, 2, 3], [3, 2, 1, 0]])
    np.testing.assert_array_equal(np.take_along_axis(idx, idx, axis=1), np.tile(np.arange(4), (3, 1)))


def greedy(model, src, src_mask, max_len):
    """The greedy hypothesis of every source, with its maps."""
    return [hyps[0] for hyps in greedy_decode(model, src, src_mask, Search(BOS, EOS, max_len), maps=True)]


def assert_teacher_forcing_agrees(model, src, src_mask, decoded):
    """Fed back with teacher forcing (eval mode: no dropout, as decoding ran), each greedy
    output gets the same argmax at every step up to its end (the end token included), and
    the same cross-attention maps."""
    produced = [np.concatenate([h.tokens, [EOS] * h.ended]).astype(np.int64) for h in decoded]
    tgt_in = np.full((len(src), max(map(len, produced))), PAD)
    tgt_in[:, 0] = BOS
    for n, p in enumerate(produced):
        tgt_in[n, 1 : len(p)] = p[:-1]
    _, logp, forced = teacher_forced(model, src, src_mask, tgt_in)
    assert forced.keys() == set(cross_names(model.map_names))
    for n, (h, p) in enumerate(zip(decoded, produced, strict=True)):
        np.testing.assert_array_equal(logp[n, : len(p)].argmax(-1), p)
        assert set(h.maps) == set(model.map_names)
        for name, weights in forced.items():  # (N, T, S)
            np.testing.assert_allclose(h.maps[name], weights[n, : len(p), : src_mask[n].sum()],
                                       rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_greedy_decode_matches_teacher_forced_argmax(name):
    """Feeding the greedy output back with teacher forcing must give the same argmax."""
    rng = np.random.default_rng(3)
    model = make(name, **if_lstm(name, reverse=True))
    src, src_mask, *_ = toy_batch(rng)
    decoded = greedy(model, src, src_mask, max_len=6)
    assert_teacher_forcing_agrees(model, src, src_mask, decoded)
    for h, real in zip(decoded, src_mask.sum(axis=1), strict=True):
        assert set(h.maps) == set(model.map_names)
        for map_name, a in h.maps.items():  # all the weight on the real tokens: none left for padding
            assert a.shape == (h.length, real), map_name
            np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=0, atol=1e-12, err_msg=map_name)


def test_reversed_attention_is_reported_in_reading_order():
    """A reversed model and its weights, un-reversed, equal a plain model fed the reversed text."""
    rng = np.random.default_rng(4)
    src, src_mask, *_ = toy_batch(rng)
    reversed_model, plain_model = make("attention", reverse=True), make("attention", reverse=False)
    idx = reversal_index(src_mask)
    a = greedy(reversed_model, src, src_mask, 5)
    b = greedy(plain_model, np.take_along_axis(src, idx, 1), src_mask, 5)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.tokens, y.tokens)
        assert x.ended == y.ended
        # the maps hold the real tokens only, so un-reversing them is reading them backwards
        np.testing.assert_allclose(x.maps["cross"], y.maps["cross"][:, ::-1], rtol=1e-12)


# ---------------------------------------------------- stacked, bidirectional, dropout

DEEP = {  # the LSTM models
    "2 layers": dict(layers=2),
    "bidirectional": dict(bidirectional=True),
    "2 layers, bidirectional, dropout": dict(layers=2, bidirectional=True, dropout=0.3),
    "label smoothing": dict(label_smoothing=0.1),
}
# the Transformer's two layers are gradient-checked in test_transformer.py
TRANSFORMER_DEEP = {"dropout, attention dropout": dict(dropout=0.3, attention_dropout=0.2)}
DEEP_CASES = {f"{name}-{label}": (name, options) for name in sorted(LSTM_MODELS) for label, options in DEEP.items()}
DEEP_CASES.update({f"transformer-{label}": ("transformer", settings) for label, settings in TRANSFORMER_DEEP.items()})


def deep(name, **settings):
    """A model of two layers with `settings`: for an LSTM model also reversed and bidirectional."""
    return make(name, layers=2, **if_lstm(name, reverse=True, bidirectional=True), **settings)


@pytest.mark.parametrize("name, settings", DEEP_CASES.values(), ids=DEEP_CASES)
def test_deep_model_gradient_every_parameter(name, settings):
    rng = np.random.default_rng(5)
    model = make(name, **if_lstm(name, reverse=True), **settings)
    batch = toy_batch(rng)
    assert_model_gradients(model, batch, rng, skip=ZERO_GRADIENT)
    if settings.get("dropout"):  # dropout was really on during the check
        model.seed_dropout(11)
        loss = model.forward(*batch)
        assert loss != model.eval().forward(*batch)
        model.train()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_deep_padding_changes_nothing(name):
    rng = np.random.default_rng(6)
    model = deep(name, dropout=0.3, **({} if name in LSTM_MODELS else {"attention_dropout": 0.2}))
    src, src_mask, tgt_in, tgt_out, tgt_mask = toy_batch(rng)
    model.seed_dropout(3)
    loss = model.forward(src, src_mask, tgt_in, tgt_out, tgt_mask)
    model.zero_grad()
    model.backward()
    grads = gradients_of(model)
    src2 = np.where(src_mask, src, rng.integers(3, V_SRC, src.shape))
    tgt_out2 = np.where(tgt_mask, tgt_out, rng.integers(3, V_TGT, tgt_out.shape))
    model.seed_dropout(3)
    assert model.forward(src2, src_mask, tgt_in, tgt_out2, tgt_mask) == loss
    model.zero_grad()
    model.backward()
    for key, g in gradients_of(model).items():
        if key.endswith("embed.W"):
            continue
        np.testing.assert_array_equal(g, grads[key], err_msg=key)


@pytest.mark.parametrize("name, settings", DEEP_CASES.values(), ids=DEEP_CASES)
def test_deep_greedy_decode_matches_teacher_forced_argmax(name, settings):
    rng = np.random.default_rng(7)
    model = make(name, **if_lstm(name, reverse=True), **settings)
    src, src_mask, *_ = toy_batch(rng)
    decoded = greedy(model, src, src_mask, max_len=6)
    assert model.training  # greedy_decode restores the mode the model was in: training ...
    assert_teacher_forcing_agrees(model, src, src_mask, decoded)
    assert model.training
    again = greedy(model.eval(), src, src_mask, max_len=6)
    assert not model.training  # ... or evaluation
    for h, g in zip(decoded, again, strict=True):
        np.testing.assert_array_equal(g.tokens, h.tokens)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_eval_mode_turns_dropout_off(name):
    rng = np.random.default_rng(8)
    batch = toy_batch(rng)
    with_dropout = deep(name, dropout=0.5)
    without = deep(name)
    without.load_state_dict(parameters_of(with_dropout))
    reference = without.forward(*batch)
    losses = {with_dropout.forward(*batch) for _ in range(3)}
    assert len(losses) == 3 and reference not in losses  # fresh masks at every training step
    with_dropout.eval()
    assert with_dropout.forward(*batch) == reference == with_dropout.forward(*batch)
    with_dropout.train()
    assert with_dropout.forward(*batch) != reference


@pytest.mark.parametrize("name", sorted(LSTM_MODELS))
def test_dropout_reaches_the_output_layer(name):
    """Training mode zeroes about p of the decoder's output-layer inputs and scales the rest
    by 1 / (1 − p); evaluation passes them whole."""
    rng = np.random.default_rng(4)
    batch = toy_batch(rng)
    model = make(name, dropout=0.5)
    model.forward(*batch)
    scale = model.decoder.out_drop.scale
    assert scale.shape == model.decoder.out.x.shape and set(np.unique(scale)) == {0.0, 2.0}
    assert 0.3 < (scale == 0).mean() < 0.7
    assert np.all(model.decoder.out.x[scale == 0] == 0)
    model.eval()
    model.forward(*batch)
    assert model.decoder.out_drop.scale is None and np.all(model.decoder.out.x != 0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_label_smoothing_reaches_the_loss_from_the_config(name):
    """`--label-smoothing` reaches the built model's loss: the same weights, another loss."""
    plain = tiny_model(name, V_SRC, V_TGT, np.random.default_rng(3))
    smoothed = tiny_model(name, V_SRC, V_TGT, np.random.default_rng(3), label_smoothing=0.1)
    assert (plain.loss.smoothing, smoothed.loss.smoothing) == (0.0, 0.1)
    for (key, p, _), (_, q, _) in zip(plain.named_parameters(), smoothed.named_parameters(), strict=True):
        np.testing.assert_array_equal(p, q, err_msg=key)
    batch = toy_batch(np.random.default_rng(4))
    assert smoothed.forward(*batch) != plain.forward(*batch)
