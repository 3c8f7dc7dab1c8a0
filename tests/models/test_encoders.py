"""The encoder with stacks, both directions and dropout; the decoders' initial state; build_model."""

import numpy as np
import pytest

from jumok.config import Config
from jumok.gradcheck import parameters_of
from jumok.models import build_model
from jumok.models.decoders import AttentionDecoder, PeekyDecoder, PlainDecoder
from jumok.models.encoder import Encoder

V, E, H = 9, 4, 6
LENGTHS = np.array([5, 2, 4, 1])
MASK = np.arange(5)[None] < LENGTHS[:, None]


def make_encoder(seed=0, **options):
    rng = np.random.default_rng(seed)
    enc = Encoder(V, E, H, rng, np.float64, **options)
    for _, p, _ in enc.named_parameters():
        p[...] = rng.standard_normal(p.shape) * 0.5
    return enc


def tokens(rng):
    return np.where(MASK, rng.integers(3, V, MASK.shape), 0)


@pytest.mark.parametrize("layers", [1, 2])
def test_bidirectional_encoder_ignores_padding_and_matches_each_sequence_alone(layers):
    rng = np.random.default_rng(1)
    enc = make_encoder(layers=layers, bidirectional=True)
    src = tokens(rng)
    out = enc.forward(src, MASK)
    garbage = enc.forward(np.where(MASK, src, rng.integers(3, V, src.shape)), MASK)
    np.testing.assert_array_equal(out.hs[MASK], garbage.hs[MASK])
    for a, b in zip(out.h_layers + out.c_layers, garbage.h_layers + garbage.c_layers):
        np.testing.assert_array_equal(a, b)
    for n, L in enumerate(LENGTHS):
        alone = enc.forward(src[n : n + 1, :L], np.ones((1, L), dtype=bool))
        np.testing.assert_allclose(out.hs[n, :L], alone.hs[0], rtol=1e-12, atol=1e-14)
        for l in range(layers):
            np.testing.assert_allclose(out.h_layers[l][n], alone.h_layers[l][0], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(out.c_layers[l][n], alone.c_layers[l][0], rtol=1e-12, atol=1e-14)
    assert out.h is out.h_layers[-1] and out.c is out.c_layers[-1] and out.hs.shape == (4, 5, H)


def test_bidirectional_final_state_is_both_directions_after_the_whole_source():
    """h_layers[l] = [forward state after token L−1 ; backward state after token 0]."""
    rng = np.random.default_rng(2)
    enc = make_encoder(layers=2, bidirectional=True)
    out = enc.forward(tokens(rng), MASK)
    top = out.hs
    rows = np.arange(4)
    np.testing.assert_array_equal(out.h[:, : H // 2], top[rows, LENGTHS - 1, : H // 2])
    np.testing.assert_array_equal(out.h[:, H // 2 :], top[:, 0, H // 2 :])


def test_encoder_parameter_names():
    assert list(parameters_of(make_encoder())) == ["embed.W", "lstm.Wx", "lstm.Wh", "lstm.b"]
    names = list(parameters_of(make_encoder(layers=2, bidirectional=True)))
    assert names[:3] == ["embed.W", "lstm.layers.0.fwd.Wx", "lstm.layers.0.fwd.Wh"]
    assert names[-1] == "lstm.layers.1.bwd.b" and len(names) == 1 + 2 * 2 * 3


@pytest.mark.parametrize("decoder_class", [PlainDecoder, PeekyDecoder, AttentionDecoder])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_decoder_layer_l_starts_from_encoder_layer_l(decoder_class, bidirectional):
    rng = np.random.default_rng(3)
    enc = make_encoder(layers=3, bidirectional=bidirectional).forward(tokens(rng), MASK)
    decoder = decoder_class(7, E, H, np.random.default_rng(4), np.float64, layers=3)
    state = decoder.start(enc)
    for l in range(3):
        assert state.h[l] is enc.h_layers[l]
        np.testing.assert_array_equal(state.c[l], 0)
    scores, state, _ = decoder.step(np.ones(4, dtype=np.int64), state)
    assert scores.shape == (4, 7) and len(state.h) == len(state.c) == 3
    too_few = decoder_class(7, E, H, np.random.default_rng(4), np.float64, layers=2)
    with pytest.raises(ValueError, match="layer"):
        too_few.start(enc)


def test_attention_decoder_prepares_once_and_keeps_it_in_the_state():
    rng = np.random.default_rng(5)
    enc = make_encoder(layers=2).forward(tokens(rng), MASK)
    decoder = AttentionDecoder(7, E, H, np.random.default_rng(6), np.float64, layers=2, score="additive")
    calls = []
    prepare = decoder.attention.prepare
    decoder.attention.prepare = lambda hs: calls.append(1) or prepare(hs)
    state = decoder.start(enc)
    np.testing.assert_array_equal(state.prepared, prepare(enc.hs))
    for _ in range(3):
        _, state, weights = decoder.step(np.ones(4, dtype=np.int64), state)
    assert len(calls) == 1 and state.prepared is not None
    np.testing.assert_allclose(weights.sum(axis=1), 1)
    assert "attention.score.W1" in parameters_of(decoder)


def test_build_model_uses_the_config_and_consumes_the_rng_deterministically():
    config = Config(model="attention", embed_size=E, hidden_size=H, layers=2, bidirectional=True, dropout=0.3,
                    attention="general")
    a = build_model(config, V, 7, np.random.default_rng(0))
    b = build_model(config, V, 7, np.random.default_rng(0))
    names = list(parameters_of(a))
    assert "encoder.lstm.layers.1.bwd.Wh" in names and "decoder.lstm.layers.1.Wh" in names
    assert "decoder.attention.score.W" in names
    for (name, p), q in zip(parameters_of(a).items(), parameters_of(b).values()):
        np.testing.assert_array_equal(p, q, err_msg=name)
    # dropout does not change the initial weights: the dropout seed is drawn after them
    no_dropout = build_model(config.replace(dropout=0.0), V, 7, np.random.default_rng(0))
    for (name, p), q in zip(parameters_of(a).items(), parameters_of(no_dropout).values()):
        np.testing.assert_array_equal(p, q, err_msg=name)
    # same seed, same dropout masks
    rng = np.random.default_rng(1)
    src = tokens(rng)
    tgt = rng.integers(3, 7, (4, 3))
    tgt_mask = np.ones((4, 3), dtype=bool)
    assert a.forward(src, MASK, tgt, tgt, tgt_mask) == b.forward(src, MASK, tgt, tgt, tgt_mask)
    assert a.forward(src, MASK, tgt, tgt, tgt_mask) != no_dropout.forward(src, MASK, tgt, tgt, tgt_mask)


def test_default_config_keeps_the_single_layer_names_and_leaves_the_rng_alone():
    for model in ("seq2seq", "peeky", "attention"):
        rng = np.random.default_rng(0)
        m = build_model(Config(model=model, embed_size=E, hidden_size=H), V, 7, rng)
        names = set(parameters_of(m))
        assert {"encoder.lstm.Wx", "encoder.lstm.Wh", "encoder.lstm.b", "decoder.lstm.Wx"} <= names
        assert not any("layers" in n for n in names)
        after = rng.random()
        rng2 = np.random.default_rng(0)
        for p in parameters_of(m).values():  # parameters drawn in order; nothing else drawn
            if np.any(p):
                rng2.standard_normal(p.shape)
        assert rng2.random() == after

