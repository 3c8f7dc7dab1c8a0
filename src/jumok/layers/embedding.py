"""Embedding: look up one row of W per token id."""

import numpy as np

from jumok.backend import add_at
from jumok.layers.base import Module


INIT_SCALE = 0.01  # W = 0.01 · N(0, 1), the chapter's (nn.Embedding draws N(0, 1))


class Embedding(Module):
    """y[n, t] = W[ids[n, t]].

    Backward scatters the upstream gradient back into the rows that were read:
    dW[v] = Σ_{(n,t): ids[n,t] = v} dy[n, t]  (`np.add.at`, so repeated ids add up).
    The ids carry no gradient; they must be on the device of W.

    Shapes: ids (N, T) int → y (N, T, D); W (V, D).
    """

    def __init__(self, vocab_size, dim, rng, dtype=np.float32):
        super().__init__()
        self.add_param("W", (rng.standard_normal((vocab_size, dim)) * INIT_SCALE).astype(dtype))

    def forward(self, ids):
        self.ids = ids
        return self.params["W"][ids]  # (N, T, D)

    def backward(self, dy):
        add_at(self.grads["W"], self.ids, dy)
        return None
