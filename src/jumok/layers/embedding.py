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

    W = init_scale · N(0, 1), 0.01 by default (the chapter's).

    Shapes: ids (N, T) int → y (N, T, D); W (V, D).
    """

    def __init__(self, vocab_size, dim, rng, dtype=np.float32, init_scale=INIT_SCALE):
        super().__init__()
        self.add_param("W", (rng.standard_normal((vocab_size, dim)) * init_scale).astype(dtype))

    def forward(self, ids):
        self.ids = ids
        return self.params["W"][ids]  # (N, T, D)

    def backward(self, dy):
        add_at(self.grads["W"], self.ids, dy)
        return None


class ScaledEmbedding(Embedding):
    """y[n, t] = √D · W[ids[n, t]]   (the Transformer's embedding, Vaswani et al., 2017, 3.4).

    Backward: dW[v] = √D Σ_{(n,t): ids[n,t] = v} dy[n, t]  (Embedding's scatter of √D dy).

    W = D^(−½) · N(0, 1), so each entry of √D W[v] has variance 1: the embeddings start on
    the scale of the sinusoidal positions added to them (entries in [−1, 1]), neither
    drowning them nor drowned by them. The draws are `Embedding`'s, number for number; only
    the scale differs.

    Shapes: ids (N, T) int → y (N, T, D); W (V, D).
    """

    def __init__(self, vocab_size, dim, rng, dtype=np.float32):
        super().__init__(vocab_size, dim, rng, dtype, init_scale=dim ** -0.5)
        self.scale = dim ** 0.5

    def forward(self, ids):
        return super().forward(ids) * self.scale  # (N, T, D)

    def backward(self, dy):
        return super().backward(dy * self.scale)
