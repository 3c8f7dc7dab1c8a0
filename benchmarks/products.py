"""The matrix products of one jumok training step, timed alone.

Every product the step does (dot attention, one layer) is listed here with the shapes and
operand layouts that jumok's layers give it; timing the list back to back, with nothing
else in between, tells how long the step would take if all its other work (gates, softmax,
loss, clipping, Adam, Python) cost nothing. That is a floor under any NumPy version of the
step that does these products; timing the same list with PyTorch's matmul shows how much of
the gap between the two libraries is their matrix-product libraries alone.

The LSTMs multiply the bias as a column of ones (K = D + H + 1), so the list counts
16·N·H·(S + T) FLOPs more than benchmarks/flops.py, which counts x Wx and h Wh only.

Shapes: N batch, S source length, T target length, D embedding, H hidden, V target vocab.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Product:
    """`count` products a @ b. a_shape and b_shape are the operands' shapes as multiplied;
    a_t / b_t: the operand is the transposed view of a contiguous array (as in x.T @ dy)."""

    what: str
    count: int
    a_shape: tuple
    b_shape: tuple
    a_t: bool = False
    b_t: bool = False

    @property
    def flops(self):
        """2·m·k·n per matrix pair, times the batch (leading axes), times `count`."""
        m, k = self.a_shape[-2:]
        n = self.b_shape[-1]
        batch = max(int(np.prod(self.a_shape[:-2])), int(np.prod(self.b_shape[:-2])))
        return self.count * batch * 2 * m * k * n


def lstm_products(name, L, N, D, H):
    """LSTM over L steps (jumok.layers.lstm, training): the gates are 4 blocks f, i, o, g, and
    a step multiplies the row [x_t, h_{t−1}, 1] (N, D + H + 1) by the stacked weights."""
    K, LN = D + H + 1, L * N
    return [
        Product(f"{name} [x, h, 1] W, a step", L, (N, K), (4, K, H)),
        Product(f"{name} [dx, dh_prev] = da [Wxᵀ Whᵀ], a step", L, (4, N, H), (4, H, D + H)),
        Product(f"{name} [dWx; dWh; db] = [x, h_prev, 1]ᵀ dA", 1, (K, LN), (4, LN, H), a_t=True),
    ]


def training_step_products(N, S, T, D, H, V):
    """Every matrix product of one training step, grouped by layer. (In jumok the attention's
    upstream gradient dc is a slice of the output layer's; here it is contiguous.)"""
    return [
        *lstm_products("encoder", S, N, D, H),
        *lstm_products("decoder", T, N, D, H),
        Product("scores = dec_hs enc_hsᵀ", 1, (N, T, H), (N, H, S), b_t=True),
        Product("context = a enc_hs", 1, (N, T, S), (N, S, H)),
        Product("affine [context; dec_hs] W", 1, (N * T, 2 * H), (2 * H, V)),
        Product("affine dW = xᵀ dy", 1, (2 * H, N * T), (N * T, V), a_t=True),
        Product("affine dx = dy Wᵀ", 1, (N * T, V), (V, 2 * H), b_t=True),
        Product("attention da = dc enc_hsᵀ", 1, (N, T, H), (N, H, S), b_t=True),
        Product("attention denc = aᵀ dc", 1, (N, S, T), (N, T, H), a_t=True),
        Product("scores denc = dscoresᵀ dec_hs", 1, (N, S, T), (N, T, H), a_t=True),
        Product("scores ddec = dscores enc_hs", 1, (N, T, S), (N, S, H)),
    ]


def _operand(rng, shape, transposed):
    """A float32 array of `shape`; with `transposed`, the swapped view of a contiguous array."""
    if not transposed:
        return rng.standard_normal(shape, dtype=np.float32)
    stored = rng.standard_normal((*shape[:-2], shape[-1], shape[-2]), dtype=np.float32)
    return np.swapaxes(stored, -1, -2)


def operands(products, seed=0):
    """[(a, b, out)] NumPy arrays for each product of the list (out preallocated)."""
    rng = np.random.default_rng(seed)
    result = []
    for p in products:
        a, b = _operand(rng, p.a_shape, p.a_t), _operand(rng, p.b_shape, p.b_t)
        out_shape = np.broadcast_shapes(p.a_shape[:-2], p.b_shape[:-2]) + (p.a_shape[-2], p.b_shape[-1])
        result.append((p.count, a, b, np.empty(out_shape, np.float32)))
    return result


def numpy_products(products):
    """A function running every product of the list once with np.matmul (into `out`)."""
    work = operands(products)

    def run(_=None):
        for count, a, b, out in work:
            for _ in range(count):
                np.matmul(a, b, out=out)

    return run


def torch_products(products):
    """The same, with torch.matmul on tensors sharing the NumPy operands' memory and layout."""
    import torch

    work = [(count, *(torch.from_numpy(x) for x in arrays)) for count, *arrays in operands(products)]

    def run(_=None):
        for count, a, b, out in work:
            for _ in range(count):
                torch.matmul(a, b, out=out)

    return run
