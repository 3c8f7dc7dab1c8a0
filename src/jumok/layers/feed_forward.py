"""The Transformer's position-wise feed-forward layer: the same two-layer network applied to
every position on its own (Vaswani et al., 2017, section 3.3).

Attention mixes positions; this layer mixes features, one position at a time. In a pre-norm
block it follows attention as y = x + FeedForward(LayerNorm(x)) (see `layer_norm` for why
the residual needs no layer).
"""

import math

import numpy as np

from jumok.backend import array_module
from jumok.layers.base import Module
from jumok.layers.dropout import Dropout

GELU_C = math.sqrt(2.0 / math.pi)  # the tanh approximation's constants (Hendrycks and Gimpel, 2016)
GELU_K = 0.044715


def relu(z):
    """max(z, 0)."""
    return array_module(z).maximum(z, 0)


def relu_backward(z, da):
    """da ⊙ 1[z > 0]: gradient 0 where the unit is off (0 at z = 0 exactly, as PyTorch)."""
    return da * (z > 0)


def gelu(z):
    """GELU, the tanh approximation: ½ z (1 + tanh u),  u = c (z + k z³),  c = √(2/π),
    k = 0.044715. torch.nn.GELU(approximate="tanh") computes exactly this."""
    u = GELU_C * (z + GELU_K * z * z * z)
    return 0.5 * z * (1.0 + array_module(z).tanh(u))


def gelu_backward(z, da):
    """da ⊙ gelu'(z),  gelu'(z) = ½ (1 + tanh u) + ½ z (1 − tanh² u) c (1 + 3k z²)."""
    t = array_module(z).tanh(GELU_C * (z + GELU_K * z * z * z))
    return da * (0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_K * z * z))


ACTIVATIONS = {"relu": (relu, relu_backward), "gelu": (gelu, gelu_backward)}
"""Activation name → (forward f(z), backward (z, da) ↦ dz)."""


def xavier_uniform(fan_in, fan_out, rng, dtype=np.float32):
    """W ~ U(−a, a), a = √(6 / (fan_in + fan_out)), shape (fan_in, fan_out) (Glorot and
    Bengio, 2010). Var(W) = a²/3 = 2 / (fan_in + fan_out): halfway (harmonically) between
    1/fan_in, which keeps the activations' variance through x W, and 1/fan_out, which keeps
    the gradients' variance through dy Wᵀ."""
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, (fan_in, fan_out)).astype(dtype)


class FeedForward(Module):
    """y = drop(act(x W1 + b1)) W2 + b2 at every position (the Transformer's FFN).

        z = x W1 + b1            (N, T, F)
        a = act(z)               (N, T, F)
        h = drop(a)              (N, T, F)   inverted dropout, training mode only
        y = h W2 + b2            (N, T, D)

    Backward, in reverse:
        dh = dy W2ᵀ,   dW2 = Σ hᵀ dy,   db2 = Σ dy
        da = drop'(dh)           (the forward pass's own mask)
        dz = da ⊙ act'(z)
        dx = dz W1ᵀ,   dW1 = Σ xᵀ dz,   db1 = Σ dz
    (sums over every position, each one (N·T, ·) matrix product, as `Affine`.)

    Activation: "relu" (the default) or "gelu". ReLU is the original Transformer's: it is
    cheaper, and its gradient is exactly zero where a unit is off; that is ample for small
    character models. GELU is the tanh approximation, because NumPy has no erf (and no SciPy
    here); torch's ``nn.GELU(approximate="tanh")`` is its twin. Its largest gap from the exact
    erf GELU is about 5e-4.

    Dropout sits on the hidden activations, where PyTorch's Transformer layers put it; the
    dropout of the residual branch belongs to the block. It is a `Dropout` child, so it draws
    one mask for the whole global batch under data parallelism (`Dropout.rows`).

    Initialisation: W1 and W2 Xavier-uniform (`xavier_uniform`), b1 = b2 = 0. Xavier keeps
    the variance of the activations going up and of the gradients coming down about equal,
    and it is what nn.Transformer gives its weight matrices, so the twin starts alike.

    Shapes: x (N, T, D) → y (N, T, D) (any leading shape); W1 (D, F), b1 (F,), W2 (F, D),
    b2 (D,). Parameters "W1", "b1", "W2", "b2"; child "dropout" (no parameters).
    """

    def __init__(self, dim, ff_dim, rng, dtype=np.float32, *, activation="relu", dropout=0.0,
                 dropout_rng=None):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
        if dropout > 0 and dropout_rng is None:
            raise ValueError("dropout > 0 needs a random generator (dropout_rng)")
        self.activation = activation
        self.add_param("W1", xavier_uniform(dim, ff_dim, rng, dtype))
        self.add_param("b1", np.zeros(ff_dim, dtype=dtype))
        self.add_param("W2", xavier_uniform(ff_dim, dim, rng, dtype))
        self.add_param("b2", np.zeros(dim, dtype=dtype))
        self.dropout = Dropout(dropout, dropout_rng)

    def forward(self, x):
        W1, W2 = self.params["W1"], self.params["W2"]
        D, F = W1.shape
        act, _ = ACTIVATIONS[self.activation]
        z = (x.reshape(-1, D) @ W1 + self.params["b1"]).reshape(*x.shape[:-1], F)  # (N, T, F)
        h = self.dropout.forward(act(z))  # (N, T, F)  batch-first, so Dropout.rows can slice
        y = h.reshape(-1, F) @ W2 + self.params["b2"]  # (N·T, D)
        self.cache = (x, z, h)
        return y.reshape(x.shape)  # (N, T, D)

    def backward(self, dy):
        x, z, h = self.cache
        W1, W2 = self.params["W1"], self.params["W2"]
        D, F = W1.shape
        _, act_backward = ACTIVATIONS[self.activation]
        dy2 = dy.reshape(-1, D)  # (N·T, D)
        self.grads["W2"] += h.reshape(-1, F).T @ dy2  # (F, D)
        self.grads["b2"] += dy2.sum(axis=0)  # (D,)
        dh = (dy2 @ W2.T).reshape(z.shape)  # (N, T, F)
        dz = act_backward(z, self.dropout.backward(dh)).reshape(-1, F)  # (N·T, F)
        self.grads["W1"] += x.reshape(-1, D).T @ dz  # (D, F)
        self.grads["b1"] += dz.sum(axis=0)  # (F,)
        return (dz @ W1.T).reshape(x.shape)  # (N, T, D)
