"""Numerical gradient checks (float64, random upstream gradient) for every layer."""

import numpy as np
import pytest
from checks import assert_gradients_close

from jumok.chapter.reference import LSTMCell
from jumok.gradcheck import gradcheck, gradients_of, parameters_of
from jumok.layers.affine import Affine
from jumok.layers.dropout import Dropout
from jumok.layers.embedding import Embedding
from jumok.layers.loss import SoftmaxCrossEntropy
from jumok.layers.lstm import LSTM


def padding_mask(lengths, length):
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]


def test_embedding_gradient_with_repeated_ids():
    rng = np.random.default_rng(0)
    layer = Embedding(6, 4, rng).astype(np.float64)
    ids = np.array([[1, 2, 1], [5, 1, 0]])  # id 1 read three times: its gradients must add

    def backward(dy):
        layer.zero_grad()
        layer.backward(dy)
        return gradients_of(layer)

    assert_gradients_close(gradcheck(lambda: layer.forward(ids), backward, parameters_of(layer), rng))


def test_affine_gradient_over_time():
    rng = np.random.default_rng(1)
    layer = Affine(5, 3, rng).astype(np.float64)
    x = rng.standard_normal((2, 4, 5))

    def backward(dy):
        layer.zero_grad()
        return {"x": layer.backward(dy), **gradients_of(layer)}

    assert_gradients_close(gradcheck(lambda: layer.forward(x), backward, {"x": x, **parameters_of(layer)}, rng))


@pytest.mark.parametrize("masked", [False, True])
def test_lstm_gradient_every_input_and_parameter(masked):
    rng = np.random.default_rng(2)
    layer = LSTM(4, 5, rng).astype(np.float64)
    xs = rng.standard_normal((3, 6, 4))
    h0, c0 = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    mask = padding_mask([6, 2, 4], 6) if masked else None

    def forward():
        hs, (h, c) = layer.forward(xs, h0, c0, mask)
        return hs, h, c

    def backward(dhs, dh, dc):
        layer.zero_grad()
        dxs, dh0, dc0 = layer.backward(dhs, dh, dc)
        return {"xs": dxs, "h0": dh0, "c0": dc0, **gradients_of(layer)}

    wrt = {"xs": xs, "h0": h0, "c0": c0, **parameters_of(layer)}
    assert_gradients_close(gradcheck(forward, backward, wrt, rng))


def test_lstm_carries_state_across_padding():
    rng = np.random.default_rng(3)
    layer = LSTM(3, 4, rng).astype(np.float64)
    xs = rng.standard_normal((2, 5, 3))
    mask = padding_mask([5, 2], 5)
    hs, (h, c) = layer.forward(xs, mask=mask)
    short, (h_short, c_short) = layer.forward(xs[1:, :2])
    # final state = state after the last real token (a different batch shape: equal to rounding)
    np.testing.assert_allclose(h[1], h_short[0], rtol=1e-12)
    np.testing.assert_allclose(c[1], c_short[0], rtol=1e-12)
    np.testing.assert_array_equal(hs[1, 2:], np.broadcast_to(h[1], (3, 4)))
    xs2 = xs.copy()
    xs2[1, 2:] = 100.0  # garbage in padding changes nothing
    hs2, (h2, _) = layer.forward(xs2, mask=mask)
    np.testing.assert_array_equal(hs2, hs)


def test_lstm_step_matches_sequence_forward():
    rng = np.random.default_rng(4)
    layer = LSTM(3, 4, rng).astype(np.float64)
    xs = rng.standard_normal((2, 3, 3))
    hs, (h_T, c_T) = layer.forward(xs)
    h = c = np.zeros((2, 4))
    for t in range(3):
        h, c = layer.step(xs[:, t], h, c)
        np.testing.assert_allclose(h, hs[:, t], rtol=1e-12)
    np.testing.assert_allclose(c, c_T, rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_lstm_in_place_loop_equals_readable_cell(training):
    """The fast loop (gate blocks, one tanh, in place; eval mode keeps nothing) gives what the
    chapter's readable `LSTMCell` gives step by step, padding carried as the docstring says."""
    rng = np.random.default_rng(14)
    layer = LSTM(3, 5, rng).astype(np.float64)
    layer.train(training)
    xs = rng.standard_normal((4, 6, 3))
    h0, c0 = rng.standard_normal((2, 4, 5))
    mask = padding_mask([6, 4, 1, 5], 6)
    hs, (h_T, c_T) = layer.forward(xs, h0, c0, mask)
    h, c = h0, c0
    for t in range(6):
        h, c = LSTMCell(layer).forward(xs[:, t], h, c, mask[:, t, None])  # padded rows keep h, c
        np.testing.assert_allclose(hs[:, t], h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_T, h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_T, c, rtol=1e-12, atol=1e-14)


def test_dropout_gradient_and_eval_identity():
    rng = np.random.default_rng(5)
    layer = Dropout(0.4, np.random.default_rng(6))
    x = rng.standard_normal((4, 5))
    y = layer.forward(x)
    assert np.any(y == 0) and np.all((y == 0) | np.isclose(y, x / 0.6))
    mask_scale = layer.scale.copy()

    def forward():  # the same mask each time, as within one training step
        return x * mask_scale

    def backward(dy):
        return {"x": layer.backward(dy)}

    assert_gradients_close(gradcheck(forward, backward, {"x": x}, rng))
    layer.eval()
    np.testing.assert_array_equal(layer.forward(x), x)


@pytest.mark.parametrize("p", [0.1, 0.4])
def test_dropout_drops_at_its_rate(p):
    """Over a million entries the dropped fraction is p within 5 standard errors, and every
    kept entry is x / (1 − p)."""
    x = np.ones((1000, 1000))
    y = Dropout(p, np.random.default_rng(3)).forward(x)
    assert abs(np.mean(y == 0) - p) < 5 * np.sqrt(p * (1 - p) / x.size)
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p))


def test_softmax_cross_entropy_gradient_ignores_padding():
    rng = np.random.default_rng(7)
    scores = rng.standard_normal((3, 4, 6))
    targets = rng.integers(0, 6, (3, 4))
    mask = padding_mask([4, 1, 3], 4)
    loss_layer = SoftmaxCrossEntropy()

    def backward(dloss):
        return {"scores": loss_layer.backward(float(dloss))}

    forward = lambda: np.array(loss_layer.forward(scores, targets, mask))  # noqa: E731
    assert_gradients_close(gradcheck(forward, backward, {"scores": scores}, rng))
    dx = loss_layer.backward(1.0)
    assert np.all(dx[~mask] == 0)
    # The value: mean negative log-likelihood of the real targets only.
    logp = scores - np.log(np.exp(scores).sum(-1, keepdims=True))
    expected = -np.mean([logp[n, t, targets[n, t]] for n, t in zip(*np.nonzero(mask))])
    assert loss_layer.forward(scores, targets, mask) == pytest.approx(expected, rel=1e-12)
    targets2 = np.where(mask, targets, 0)
    assert loss_layer.forward(scores, targets2, mask) == pytest.approx(expected, rel=1e-12)


def test_label_smoothed_cross_entropy_gradient_and_value():
    """ε = 0.2: the gradient checks, padding gets none, and the value is the cross-entropy
    against q = (1 − ε) onehot(y) + ε/V written out; at ε = 0 the gradient is softmax − onehot."""
    rng = np.random.default_rng(8)
    V, eps = 6, 0.2
    scores = rng.standard_normal((3, 4, V))
    targets = rng.integers(0, V, (3, 4))
    mask = padding_mask([4, 2, 3], 4)
    loss_layer = SoftmaxCrossEntropy(smoothing=eps)

    def backward(dloss):
        return {"scores": loss_layer.backward(float(dloss))}

    forward = lambda: np.array(loss_layer.forward(scores, targets, mask))  # noqa: E731
    assert_gradients_close(gradcheck(forward, backward, {"scores": scores}, rng))
    assert np.all(loss_layer.backward(1.0)[~mask] == 0)
    logp = scores - np.log(np.exp(scores).sum(-1, keepdims=True))
    q = np.full((V,), eps / V)
    expected = -np.mean([(q + (1 - eps) * np.eye(V)[targets[n, t]]) @ logp[n, t] for n, t in zip(*np.nonzero(mask))])
    assert loss_layer.forward(scores, targets, mask) == pytest.approx(expected, rel=1e-12)
    plain = SoftmaxCrossEntropy(smoothing=0.0)
    plain.forward(scores, targets, mask)
    onehot_gradient = (np.exp(logp) - np.eye(V)[targets]) * mask[..., None] * 0.7 / mask.sum()
    np.testing.assert_allclose(plain.backward(0.7), onehot_gradient, rtol=1e-12, atol=1e-15)
