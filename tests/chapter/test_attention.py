"""The attention family: gradient checks, literal vs batched equality, masks."""

import numpy as np
import pytest
from checks import assert_gradients_close

from jumok.gradcheck import gradcheck
from jumok.chapter.attention import (
    Attention,
    AttentionWeight,
    StepwiseTimeAttention,
    WeightSum,
)
from jumok.layers.time_attention import TimeAttention

N, S, T, H = 3, 5, 4, 6



def test_attention_weight_gradient(rng, mask):
    layer = AttentionWeight()
    hs, h = rng.standard_normal((N, S, H)), rng.standard_normal((N, H))

    def backward(da):
        dhs, dh = layer.backward(da)
        return {"hs": dhs, "h": dh}

    assert_gradients_close(gradcheck(lambda: layer.forward(hs, h, mask), backward, {"hs": hs, "h": h}, rng))


def test_weight_sum_gradient(rng):
    layer = WeightSum()
    hs, a = rng.standard_normal((N, S, H)), rng.random((N, S))

    def backward(dc):
        dhs, da = layer.backward(dc)
        return {"hs": dhs, "a": da}

    assert_gradients_close(gradcheck(lambda: layer.forward(hs, a), backward, {"hs": hs, "a": a}, rng))


def test_attention_gradient_adds_both_hs_branches(rng, mask):
    layer = Attention()
    hs, h = rng.standard_normal((N, S, H)), rng.standard_normal((N, H))

    def backward(dc):
        dhs, dh = layer.backward(dc)
        return {"hs": dhs, "h": dh}

    assert_gradients_close(gradcheck(lambda: layer.forward(hs, h, mask), backward, {"hs": hs, "h": h}, rng))


@pytest.mark.parametrize("cls", [TimeAttention, StepwiseTimeAttention])
def test_time_attention_gradient(rng, mask, cls):
    layer = cls()
    enc, dec = rng.standard_normal((N, S, H)), rng.standard_normal((N, T, H))

    def backward(dc):
        denc, ddec = layer.backward(dc)
        return {"enc_hs": denc, "dec_hs": ddec}

    wrt = {"enc_hs": enc, "dec_hs": dec}
    assert_gradients_close(gradcheck(lambda: layer.forward(enc, dec, mask), backward, wrt, rng))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batched_equals_literal_forward_and_backward(rng, mask, dtype):
    enc = rng.standard_normal((N, S, H)).astype(dtype)
    dec = rng.standard_normal((N, T, H)).astype(dtype)
    dc = rng.standard_normal((N, T, H)).astype(dtype)
    batched, literal = TimeAttention(), StepwiseTimeAttention()
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(batched.forward(enc, dec, mask), literal.forward(enc, dec, mask), rtol=tol, atol=tol)
    np.testing.assert_allclose(batched.weights, literal.weights, rtol=tol, atol=tol)
    for got, want in zip(batched.backward(dc), literal.backward(dc)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_step_equals_batched_column(rng, mask):
    enc, dec = rng.standard_normal((N, S, H)), rng.standard_normal((N, T, H))
    layer = TimeAttention()
    c = layer.forward(enc, dec, mask)
    for t in range(T):
        c_t, a_t = layer.step(enc, dec[:, t], mask)
        np.testing.assert_allclose(c_t, c[:, t], rtol=1e-12)
        np.testing.assert_allclose(a_t, layer.weights[:, t], rtol=1e-12)


def test_padding_gets_exactly_zero_weight_and_changes_nothing(rng, mask):
    enc, dec = rng.standard_normal((N, S, H)), rng.standard_normal((N, T, H))
    layer = TimeAttention()
    c = layer.forward(enc, dec, mask)
    a = layer.weights
    assert np.all(a[~np.broadcast_to(mask[:, None, :], a.shape)] == 0.0)
    np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-12)
    enc2 = enc.copy()
    enc2[~mask] = 1e3  # garbage in the padded encoder rows
    np.testing.assert_array_equal(layer.forward(enc2, dec, mask), c)
    denc, _ = layer.backward(rng.standard_normal(c.shape))
    assert np.all(denc[~mask] == 0.0)
