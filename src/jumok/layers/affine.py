"""Affine map applied to every time step at once."""

import numpy as np

from jumok.layers.base import Module


class Affine(Module):
    """y = x W + b over the last axis, for any leading shape (N, T, ...).

    Backward: dx = dy Wᵀ,  dW = Σ xᵀ dy,  db = Σ dy  (sums over every leading position,
    done as one matrix product over the flattened (N·T, ·) views).

    Shapes: x (..., I) → y (..., O); W (I, O), b (O,).
    """

    def __init__(self, in_dim, out_dim, rng, dtype=np.float32):
        super().__init__()
        scale = 1.0 / np.sqrt(in_dim)
        self.add_param("W", (rng.standard_normal((in_dim, out_dim)) * scale).astype(dtype))
        self.add_param("b", np.zeros(out_dim, dtype=dtype))

    def forward(self, x):
        W = self.params["W"]
        self.x = x
        y = x.reshape(-1, W.shape[0]) @ W  # one (N·T, I) @ (I, O) product, not N batched ones
        y += self.params["b"]
        return y.reshape(*x.shape[:-1], W.shape[1])

    def backward(self, dy):
        W = self.params["W"]
        x2 = self.x.reshape(-1, W.shape[0])  # (N·T, I)
        dy2 = dy.reshape(-1, W.shape[1])  # (N·T, O)
        self.grads["W"] += x2.T @ dy2
        self.grads["b"] += dy2.sum(axis=0)
        return (dy2 @ W.T).reshape(self.x.shape)
