"""The Transformer's small layers: LayerNorm, FeedForward, sinusoidal Positions and
ScaledEmbedding. Float64 gradient checks of every input and parameter, values by hand, the
same numbers on a (stand-in) device, and, where PyTorch is installed, equality with torch's
layers from the same weights."""

import math

import numpy as np
import pytest
from checks import assert_gradients_close
from fake_device import install

from jumok.backend import to_device, to_numpy
from jumok.gradcheck import gradcheck, gradients_of, parameters_of
from jumok.layers.dropout import set_rows
from jumok.layers.embedding import INIT_SCALE, Embedding, ScaledEmbedding
from jumok.layers.feed_forward import FeedForward, gelu
from jumok.layers.layer_norm import LayerNorm
from jumok.layers.positions import Positions, sinusoids

TWIN_TOLERANCE = 1e-12  # float64, the same weights: only rounding separates the two


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed (the twin tests need it)")


def check_layer(layer, x, rng):
    """Gradient-check `layer.forward(x)` with respect to x and every parameter."""

    def backward(dy):
        layer.zero_grad()
        return {"x": layer.backward(dy), **gradients_of(layer)}

    assert_gradients_close(gradcheck(lambda: layer.forward(x), backward, {"x": x, **parameters_of(layer)}, rng))


def randomise_parameters(layer, rng):
    """Random values in place of the initial ones (γ = 1, β = 0 would hide mistakes)."""
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape)


# LayerNorm

def test_layer_norm_rows_have_mean_zero_and_unit_variance():
    rng = np.random.default_rng(0)
    layer = LayerNorm(8)
    x = (3.0 * rng.standard_normal((2, 5, 8)) + 7.0).astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32 and layer.params["gamma"].dtype == np.float32
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-6)
    np.testing.assert_allclose(y.var(-1), 1.0, rtol=1e-5)  # σ²/(σ² + ε): 1 to about 1e-6


def test_layer_norm_gradient():
    rng = np.random.default_rng(1)
    layer = LayerNorm(6, np.float64)
    randomise_parameters(layer, rng)
    check_layer(layer, rng.standard_normal((3, 4, 6)), rng)


def test_layer_norm_gradients_add_up():
    """backward ADDS into grads: two calls give twice one call."""
    rng = np.random.default_rng(2)
    layer = LayerNorm(5, np.float64)
    x, dy = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 3, 5))
    layer.forward(x)
    layer.backward(dy)
    once = gradients_of(layer)
    layer.backward(dy)
    for name, g in gradients_of(layer).items():
        np.testing.assert_allclose(g, 2 * once[name], rtol=1e-15)


# FeedForward

@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feed_forward_gradient(activation):
    rng = np.random.default_rng(3)
    layer = FeedForward(4, 7, rng, np.float64, activation=activation)
    layer.params["b1"][...] = rng.standard_normal(7)
    layer.params["b2"][...] = rng.standard_normal(4)
    check_layer(layer, rng.standard_normal((3, 5, 4)), rng)


def test_feed_forward_backward_uses_the_forward_mask():
    """With dropout, the generator re-seeded before every forward pass gives one mask, as in
    one training step; backward must then agree with central differences through it."""
    rng = np.random.default_rng(4)
    layer = FeedForward(4, 6, rng, np.float64, dropout=0.5, dropout_rng=np.random.default_rng(0))
    x = rng.standard_normal((3, 5, 4))

    def forward():
        layer.dropout.rng = np.random.default_rng(40)
        return layer.forward(x)

    def backward(dy):
        layer.zero_grad()
        return {"x": layer.backward(dy), **gradients_of(layer)}

    assert_gradients_close(gradcheck(forward, backward, {"x": x, **parameters_of(layer)}, rng))
    assert np.any(layer.dropout.scale == 0) and np.any(layer.dropout.scale == 2.0)  # units dropped and kept


def test_feed_forward_dropout_only_in_training():
    rng = np.random.default_rng(5)
    plain = FeedForward(4, 6, np.random.default_rng(50), np.float64)
    dropping = FeedForward(4, 6, np.random.default_rng(50), np.float64, dropout=0.3,
                           dropout_rng=np.random.default_rng(0))
    x = rng.standard_normal((2, 3, 4))
    assert not np.allclose(dropping.forward(x), plain.forward(x))
    dropping.eval()
    np.testing.assert_array_equal(dropping.forward(x), plain.forward(x))


def test_feed_forward_rows_slice_equals_whole_batch():
    """A data-parallel worker holding rows 1:3 of a 4-row batch draws the whole batch's mask
    and computes exactly rows 1:3 of the one-process result, in forward and backward."""
    rng = np.random.default_rng(6)
    x, dy = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 3, 5))
    whole, part = (FeedForward(5, 8, np.random.default_rng(60), np.float64, dropout=0.4,
                               dropout_rng=np.random.default_rng(7)) for _ in range(2))
    y = whole.forward(x)
    dx = whole.backward(dy)
    set_rows(part, (4, 1, 3))
    np.testing.assert_array_equal(part.forward(x[1:3]), y[1:3])
    np.testing.assert_array_equal(part.backward(dy[1:3]), dx[1:3])


def test_feed_forward_initialisation_and_arguments():
    layer = FeedForward(6, 10, np.random.default_rng(8))
    bound = math.sqrt(6 / 16)
    for name in ("W1", "W2"):
        W = layer.params[name]
        assert W.dtype == np.float32 and np.abs(W).max() <= bound
        assert np.abs(W).max() > 0.8 * bound  # uniform over the whole range, not a narrower one
    assert layer.params["W1"].shape == (6, 10) and layer.params["W2"].shape == (10, 6)
    assert not layer.params["b1"].any() and not layer.params["b2"].any()
    with pytest.raises(ValueError, match="activation must be one of relu, gelu"):
        FeedForward(6, 10, np.random.default_rng(8), activation="swish")
    with pytest.raises(ValueError, match="dropout_rng"):
        FeedForward(6, 10, np.random.default_rng(8), dropout=0.1)


def test_gelu_values():
    z = np.array([-3.0, 0.0, 1.0, 5.0])
    by_hand = 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))
    np.testing.assert_allclose(gelu(z), by_hand, rtol=1e-15)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in z])
    np.testing.assert_allclose(gelu(z), exact, atol=5e-4)  # the approximation's gap
    assert gelu(np.zeros(3, dtype=np.float32)).dtype == np.float32


# Positions

def test_sinusoids_by_hand():
    pe = sinusoids(4, 4, np.float64)  # D = 4: pair 1 turns at 10000^(-2/4) = 1/100
    np.testing.assert_array_equal(pe[0], [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(pe[1], [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)], rtol=1e-15)
    np.testing.assert_allclose(pe[3], [math.sin(3), math.cos(3), math.sin(0.03), math.cos(0.03)], rtol=1e-15)
    assert sinusoids(4, 4).dtype == np.float32


def test_sinusoids_odd_width():
    pe = sinusoids(6, 5, np.float64)  # columns sin, cos, sin, cos, sin: the last sine unpaired
    assert pe.shape == (6, 5)
    for t in range(6):
        for i in range(3):
            angle = t / 10000 ** (2 * i / 5)
            assert pe[t, 2 * i] == pytest.approx(math.sin(angle), rel=1e-14, abs=1e-15)
            if 2 * i + 1 < 5:
                assert pe[t, 2 * i + 1] == pytest.approx(math.cos(angle), rel=1e-14)


def test_positions_add_the_table_and_backward_is_identity():
    rng = np.random.default_rng(9)
    layer = Positions(6, max_len=10)
    x = rng.standard_normal((2, 4, 6))
    np.testing.assert_array_equal(layer.forward(x), x + sinusoids(4, 6, np.float64))
    np.testing.assert_array_equal(layer.forward(x[:, :1], start=3), x[:, :1] + sinusoids(4, 6, np.float64)[3])
    dy = rng.standard_normal((2, 4, 6))
    assert layer.backward(dy) is dy
    check_layer(layer, x, rng)
    assert layer.forward(x.astype(np.float32)).dtype == np.float32
    assert layer.params == {}


def test_positions_past_max_len_is_a_clear_error():
    layer = Positions(4, max_len=8)
    layer.forward(np.zeros((1, 8, 4), dtype=np.float32))  # exactly max_len is fine
    with pytest.raises(ValueError, match="position 9 is past the longest this model has, 8"):
        layer.forward(np.zeros((1, 9, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="position 9 is past the longest this model has, 8"):
        layer.forward(np.zeros((1, 1, 4), dtype=np.float32), start=8)


# ScaledEmbedding

def test_scaled_embedding_forward_gradient_and_initial_scale():
    rng = np.random.default_rng(10)
    layer = ScaledEmbedding(50, 16, np.random.default_rng(11))
    assert layer.params["W"].dtype == np.float32
    assert np.std(layer.forward(np.arange(50)[None])) == pytest.approx(1.0, rel=0.1)  # unit variance
    layer.astype(np.float64)
    ids = np.array([[1, 2, 1], [5, 1, 0]])
    np.testing.assert_array_equal(layer.forward(ids), 4.0 * layer.params["W"][ids])

    def backward(dy):
        layer.zero_grad()
        assert layer.backward(dy) is None
        return gradients_of(layer)

    assert_gradients_close(gradcheck(lambda: layer.forward(ids), backward, parameters_of(layer), rng))


def test_embedding_draws_are_unchanged():
    """Adding ScaledEmbedding leaves Embedding's initial weights bit for bit as they were,
    and the scaled one draws the same numbers."""
    draws = np.random.default_rng(12).standard_normal((7, 3))
    W = Embedding(7, 3, np.random.default_rng(12)).params["W"]
    np.testing.assert_array_equal(W, (draws * INIT_SCALE).astype(np.float32))
    scaled = ScaledEmbedding(7, 3, np.random.default_rng(12)).params["W"]
    np.testing.assert_array_equal(scaled, (draws * 3 ** -0.5).astype(np.float32))


# On a device (the stand-in for CuPy): the same numbers, no host array mixed in

DEVICE_CASES = {  # name: (a fresh layer, its input)
    "layer_norm": (lambda: LayerNorm(4), lambda rng: rng.standard_normal((2, 3, 4)).astype(np.float32)),
    "feed_forward": (lambda: FeedForward(4, 6, np.random.default_rng(1), activation="gelu", dropout=0.5,
                                         dropout_rng=np.random.default_rng(2)),
                     lambda rng: rng.standard_normal((2, 3, 4)).astype(np.float32)),
    "positions": (lambda: Positions(4, max_len=5), lambda rng: rng.standard_normal((2, 3, 4)).astype(np.float32)),
    "scaled_embedding": (lambda: ScaledEmbedding(7, 4, np.random.default_rng(1)),
                         lambda rng: rng.integers(0, 7, (2, 3))),
}


@pytest.mark.parametrize("name", DEVICE_CASES)
def test_layers_on_the_device_equal_numpy(name):
    fake = install()
    make, make_input = DEVICE_CASES[name]
    rng = np.random.default_rng(17)
    x, dy = make_input(rng), rng.standard_normal((2, 3, 4)).astype(np.float32)
    host, device = make(), make().to(fake)
    y, dx = host.forward(x), host.backward(dy)
    np.testing.assert_array_equal(to_numpy(device.forward(to_device(x, fake))), y)  # mixing would raise TypeError
    d_dx = device.backward(to_device(dy, fake))
    if dx is not None:  # an embedding's ids have no gradient
        np.testing.assert_array_equal(to_numpy(d_dx), dx)
    for key, g in host.grads.items():
        np.testing.assert_array_equal(to_numpy(device.grads[key]), g)


# The PyTorch twins: the same weights, float64, forward and every gradient

def assert_twin(ours, theirs):
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TWIN_TOLERANCE)


def test_layer_norm_equals_torch(torch):
    rng = np.random.default_rng(13)
    layer = LayerNorm(8, np.float64)
    randomise_parameters(layer, rng)
    x, dy = rng.standard_normal((3, 5, 8)), rng.standard_normal((3, 5, 8))
    twin = torch.nn.LayerNorm(8, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(layer.params["gamma"]))
        twin.bias.copy_(torch.from_numpy(layer.params["beta"]))
    tx = torch.from_numpy(x).requires_grad_()
    ty = twin(tx)
    ty.backward(torch.from_numpy(dy))
    assert_twin(layer.forward(x), ty)
    assert_twin(layer.backward(dy), tx.grad)
    assert_twin(layer.grads["gamma"], twin.weight.grad)
    assert_twin(layer.grads["beta"], twin.bias.grad)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feed_forward_equals_torch(torch, activation):
    rng = np.random.default_rng(14)
    layer = FeedForward(6, 12, rng, np.float64, activation=activation)
    layer.params["b1"][...] = rng.standard_normal(12)
    layer.params["b2"][...] = rng.standard_normal(6)
    x, dy = rng.standard_normal((3, 5, 6)), rng.standard_normal((3, 5, 6))
    act = torch.nn.ReLU() if activation == "relu" else torch.nn.GELU(approximate="tanh")
    first, second = torch.nn.Linear(6, 12, dtype=torch.float64), torch.nn.Linear(12, 6, dtype=torch.float64)
    with torch.no_grad():  # torch's Linear keeps W as (out, in): ours transposed
        first.weight.copy_(torch.from_numpy(layer.params["W1"].T))
        first.bias.copy_(torch.from_numpy(layer.params["b1"]))
        second.weight.copy_(torch.from_numpy(layer.params["W2"].T))
        second.bias.copy_(torch.from_numpy(layer.params["b2"]))
    tx = torch.from_numpy(x).requires_grad_()
    ty = torch.nn.Sequential(first, act, second)(tx)
    ty.backward(torch.from_numpy(dy))
    assert_twin(layer.forward(x), ty)
    assert_twin(layer.backward(dy), tx.grad)
    assert_twin(layer.grads["W1"], first.weight.grad.T)
    assert_twin(layer.grads["b1"], first.bias.grad)
    assert_twin(layer.grads["W2"], second.weight.grad.T)
    assert_twin(layer.grads["b2"], second.bias.grad)


@pytest.mark.parametrize("dim", [16, 7])
def test_positions_equal_torch(torch, dim):
    """The table by the formula, computed in torch (as PyTorch's tutorials do, through
    exp(−2i ln 10000 / D)); forward and the input gradient."""
    rng = np.random.default_rng(15)
    T = 50
    t = torch.arange(T, dtype=torch.float64)[:, None]
    rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    table = torch.zeros(T, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(t * rate)
    table[:, 1::2] = torch.cos(t * rate[: dim // 2])
    assert_twin(sinusoids(T, dim, np.float64), table)
    layer = Positions(dim, max_len=64)
    x, dy = rng.standard_normal((2, T, dim)), rng.standard_normal((2, T, dim))
    tx = torch.from_numpy(x).requires_grad_()
    ty = tx + table
    ty.backward(torch.from_numpy(dy))
    assert_twin(layer.forward(x), ty)
    assert_twin(layer.backward(dy), tx.grad)


def test_scaled_embedding_equals_torch(torch):
    rng = np.random.default_rng(16)
    layer = ScaledEmbedding(9, 6, rng, np.float64)
    ids = rng.integers(0, 9, (3, 5))
    dy = rng.standard_normal((3, 5, 6))
    twin = torch.nn.Embedding(9, 6, dtype=torch.float64)
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(layer.params["W"]))
    ty = twin(torch.from_numpy(ids)) * math.sqrt(6)
    ty.backward(torch.from_numpy(dy))
    assert_twin(layer.forward(ids), ty)
    layer.backward(dy)
    assert_twin(layer.grads["W"], twin.weight.grad)
