"""Attention score functions: gradient checks, step vs batched, masks, factory."""

import numpy as np
import pytest
from checks import assert_gradients_close

from jumok.gradcheck import gradcheck, gradients_of, parameters_of
from jumok.layers.scores import (
    SCORES,
    AdditiveScore,
    DotScore,
    GeneralScore,
    ScaledDotScore,
    make_score,
)
from jumok.layers.time_attention import TimeAttention

N, S, T = 3, 5, 4
WIDTHS = {"dot": (6, 6), "scaled-dot": (6, 6), "general": (6, 7), "additive": (6, 7)}  # (Hd, He)



def build(name, rng, dtype=np.float64):
    hd, he = WIDTHS[name]
    score = make_score(name, hd, he, rng, dtype=dtype)
    enc = rng.standard_normal((N, S, he)).astype(dtype)
    dec = rng.standard_normal((N, T, hd)).astype(dtype)
    return score, enc, dec


def test_names_and_classes(rng):
    assert SCORES == ("dot", "scaled-dot", "general", "additive")
    classes = (DotScore, ScaledDotScore, GeneralScore, AdditiveScore)
    for name, cls in zip(SCORES, classes):
        assert type(build(name, rng)[0]) is cls


@pytest.mark.parametrize("name", SCORES)
def test_score_gradient(rng, name):
    score, enc, dec = build(name, rng)

    def backward(dscores):
        score.zero_grad()
        denc, ddec = score.backward(dscores)
        return {"enc_hs": denc, "dec_hs": ddec, **gradients_of(score)}

    wrt = {"enc_hs": enc, "dec_hs": dec, **parameters_of(score)}
    assert set(wrt) == {"enc_hs", "dec_hs"} | {
        "dot": set(), "scaled-dot": set(), "general": {"W"}, "additive": {"W1", "W2", "v"}}[name]
    assert_gradients_close(gradcheck(lambda: score.forward(enc, dec), backward, wrt, rng))


@pytest.mark.parametrize("name", SCORES)
def test_time_attention_gradient_with_mask(rng, mask, name):
    score, enc, dec = build(name, rng)
    layer = TimeAttention(score)

    def backward(dc):
        layer.zero_grad()
        denc, ddec = layer.backward(dc)
        return {"enc_hs": denc, "dec_hs": ddec, **gradients_of(layer)}

    wrt = {"enc_hs": enc, "dec_hs": dec, **parameters_of(layer)}
    assert_gradients_close(gradcheck(lambda: layer.forward(enc, dec, mask), backward, wrt, rng))


@pytest.mark.parametrize("name", SCORES)
def test_backward_accumulates_parameter_gradients(rng, name):
    score, enc, dec = build(name, rng)
    dscores = rng.standard_normal((N, T, S))
    score.forward(enc, dec)
    score.backward(dscores)
    once = gradients_of(score)
    score.backward(dscores)
    for key, g in gradients_of(score).items():
        np.testing.assert_allclose(g, 2 * once[key], rtol=1e-12)


@pytest.mark.parametrize("name", SCORES)
def test_step_equals_batched_column(rng, mask, name):
    score, enc, dec = build(name, rng)
    scores = score.forward(enc, dec)
    layer = TimeAttention(score)
    c = layer.forward(enc, dec, mask)
    prepared = layer.prepare(enc)
    assert (prepared is None) == (name != "additive")
    for t in range(T):
        for prep in (None, prepared):
            np.testing.assert_allclose(score.step(enc, dec[:, t], prepared=prep), scores[:, t], rtol=1e-12, atol=1e-12)
            c_t, a_t = layer.step(enc, dec[:, t], mask, prepared=prep)
            np.testing.assert_allclose(c_t, c[:, t], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(a_t, layer.weights[:, t], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", SCORES)
def test_padding_gets_exactly_zero_weight(rng, mask, name):
    score, enc, dec = build(name, rng)
    layer = TimeAttention(score)
    c = layer.forward(enc, dec, mask)
    a = layer.weights
    assert np.all(a[~np.broadcast_to(mask[:, None, :], a.shape)] == 0.0)
    np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-12)
    _, a_step = layer.step(enc, dec[:, 0], mask)
    assert np.all(a_step[~mask] == 0.0)
    enc2 = enc.copy()
    enc2[~mask] = 1e3  # garbage in the padded encoder rows
    np.testing.assert_array_equal(layer.forward(enc2, dec, mask), c)
    denc, _ = layer.backward(rng.standard_normal(c.shape))
    assert np.all(denc[~mask] == 0.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scaled_dot_is_dot_over_sqrt_h(rng, dtype):
    enc = rng.standard_normal((N, S, 6)).astype(dtype)
    dec = rng.standard_normal((N, T, 6)).astype(dtype)
    dscores = rng.standard_normal((N, T, S)).astype(dtype)
    dot, scaled = DotScore(), ScaledDotScore()
    tol = 1e-12 if dtype == np.float64 else 1e-6
    got = scaled.forward(enc, dec)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, dot.forward(enc, dec) / np.sqrt(6), rtol=tol)
    np.testing.assert_allclose(scaled.step(enc, dec[:, 1]), dot.step(enc, dec[:, 1]) / np.sqrt(6), rtol=tol)
    for g_scaled, g_dot in zip(scaled.backward(dscores), dot.backward(dscores)):
        assert g_scaled.dtype == dtype
        np.testing.assert_allclose(g_scaled, g_dot / np.sqrt(6), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", SCORES)
def test_float32_stays_float32(rng, mask, name):
    score, enc, dec = build(name, rng, dtype=np.float32)
    layer = TimeAttention(score)
    c = layer.forward(enc, dec, mask)
    denc, ddec = layer.backward(rng.standard_normal(c.shape).astype(np.float32))
    assert c.dtype == denc.dtype == ddec.dtype == np.float32
    assert all(g.dtype == np.float32 for g in gradients_of(layer).values())
    assert all(x.dtype == np.float32 for x in layer.step(enc, dec[:, 0], mask, prepared=layer.prepare(enc)))


def test_factory_rejects_unknown_name_and_dim_mismatch(rng):
    with pytest.raises(ValueError, match="unknown"):
        make_score("cosine", 6, 6, rng)
    for name in ("dot", "scaled-dot"):
        with pytest.raises(ValueError, match="dec_dim == enc_dim"):
            make_score(name, 6, 7, rng)
    for name in ("general", "additive"):
        make_score(name, 6, 7, rng)  # different widths are fine


def test_dot_rejects_width_mismatch_at_call():
    with pytest.raises(ValueError):
        DotScore().forward(np.zeros((1, 2, 3)), np.zeros((1, 2, 4)))


def test_parameter_shapes_and_names(rng):
    general = TimeAttention(make_score("general", 6, 7, rng))
    assert {n: p.shape for n, p, _ in general.named_parameters()} == {"score.W": (6, 7)}
    additive = TimeAttention(make_score("additive", 6, 7, rng))
    assert {n: p.shape for n, p, _ in additive.named_parameters()} == {
        "score.W1": (7, 6), "score.W2": (6, 6), "score.v": (6,)}
    assert AdditiveScore(6, 7, rng, attention_dim=3).params["v"].shape == (3,)
    assert list(TimeAttention().named_parameters()) == []
    assert all(p.dtype == np.float32 for _, p, _ in general.named_parameters())
    assert all(p.dtype == np.float64 for _, p, _ in general.astype(np.float64).named_parameters())


def test_factory_uses_only_the_given_rng():
    a = make_score("additive", 6, 7, np.random.default_rng(5))
    b = make_score("additive", 6, 7, np.random.default_rng(5))
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])
