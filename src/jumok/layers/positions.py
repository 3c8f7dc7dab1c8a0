"""Sinusoidal positions (Vaswani et al., 2017, section 3.5): where each token stands.

Attention by itself is blind to order: permute the keys and values together and every
context stays the same. Nothing is recurrent in a Transformer, so each token's embedding is
given its position, as a fixed pattern added to it.

Why fixed sinusoids and not a learned table of positions: they have no parameters, so a
small data set spends nothing on learning them; they are defined at every position up to
`max_len`, including positions that no training sequence reached, where a learned row would
still be its random initial value; and PE[t + k] is a fixed linear map (a rotation in each
sine/cosine pair) of PE[t], which lets attention find relative offsets.
"""

import numpy as np

from jumok.backend import array_module, to_device
from jumok.layers.base import Module


def sinusoids(length, dim, dtype=np.float32):
    """The table PE (length, dim) of positions 0 … length − 1:

        PE[t, 2i]     = sin(t / 10000^(2i/D))
        PE[t, 2i + 1] = cos(t / 10000^(2i/D))

    Pair i turns at the angular rate 10000^(−2i/D): wavelengths from 2π (i = 0) to almost
    2π·10000. With an odd D the last column is a sine without its cosine. Computed in
    float64, then cast to `dtype`.
    """
    t = np.arange(length, dtype=np.float64)[:, None]  # (T, 1)
    rate = 10000.0 ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)  # (⌈D/2⌉,)
    angle = t * rate  # (T, ⌈D/2⌉)
    table = np.empty((length, dim), dtype=np.float64)
    table[:, 0::2] = np.sin(angle)  # (T, ⌈D/2⌉)
    table[:, 1::2] = np.cos(angle[:, : dim // 2])  # (T, ⌊D/2⌋)
    return table.astype(dtype)


class Positions(Module):
    """y[n, t] = x[n, t] + PE[start + t]   (sinusoidal positions, no parameters).

    Backward is the identity: dx = dy (PE is a constant).

    `start` is the position of x's first column: 0 for a whole sequence, the step number
    when decoding one token at a time. Input past `max_len` positions raises a ValueError
    naming its last position (counted from 1) and the limit. The table is built once, kept on
    the host in float64 (so a model cast to float64 adds exact sinusoids, and one in float32
    the same rounded values as a float32 table), and added in x's dtype on x's device.

    Shapes: x (N, T, D) → y (N, T, D).
    """

    def __init__(self, dim, max_len=512):
        super().__init__()
        self.max_len = max_len
        self.table = sinusoids(max_len, dim, np.float64)  # (max_len, D)

    def forward(self, x, start=0):
        end = start + x.shape[1]
        if end > self.max_len:
            raise ValueError(f"position {end} is past the longest this model has, {self.max_len}")
        pe = to_device(self.table[start:end], array_module(x))  # (T, D)
        return x + pe.astype(x.dtype, copy=False)  # (N, T, D)

    def backward(self, dy):
        return dy
