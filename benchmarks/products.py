"""The matrix products of one jumok training step, timed alone.

Every product the step does (the chapter's model with dot attention, one layer:
`training_step_products`; the Transformer: `transformer_step_products`) is listed here with the shapes and
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
    a_t / b_t: the operand is the transposed view of a contiguous array (as in x.T @ dy);
    a_heads / b_heads: the operand (N, h, L, d_h), before any a_t / b_t, is the head-split
    view of a contiguous (N, L, h·d_h) array (`MultiHeadAttention._split`)."""

    what: str
    count: int
    a_shape: tuple
    b_shape: tuple
    a_t: bool = False
    b_t: bool = False
    a_heads: bool = False
    b_heads: bool = False

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


def attention_products(name, count, N, T, S, D, h, memory):
    """One `MultiHeadAttention` over `count` layers: T queries against S keys (S = T for
    self-attention, whose Q, K and V come from one (N·T, D) @ (D, 3D) product; with `memory`,
    cross-attention: Q from the queries, K and V from the memory's N·S rows)."""
    d, Mq, Mk = D // h, N * T, N * S
    if memory:
        projections = [Product(f"{name} Q = x Wq", count, (Mq, D), (D, D)),
                       Product(f"{name} [K V] = memory [Wk Wv]", count, (Mk, D), (D, 2 * D))]
        gradients = [Product(f"{name} dWq = xᵀ dQ", count, (D, Mq), (Mq, D), a_t=True),
                     Product(f"{name} d[Wk Wv] = memoryᵀ d[K V]", count, (D, Mk), (Mk, 2 * D), a_t=True),
                     Product(f"{name} dx = dQ Wqᵀ", count, (Mq, D), (D, D), b_t=True),
                     Product(f"{name} dmemory = d[K V] [Wk Wv]ᵀ", count, (Mk, 2 * D), (2 * D, D), b_t=True)]
    else:
        projections = [Product(f"{name} [Q K V] = x [Wq Wk Wv]", count, (Mq, D), (D, 3 * D))]
        gradients = [Product(f"{name} d[Wq Wk Wv] = xᵀ d[Q K V]", count, (D, Mq), (Mq, 3 * D), a_t=True),
                     Product(f"{name} dx = d[Q K V] [Wq Wk Wv]ᵀ", count, (Mq, 3 * D), (3 * D, D), b_t=True)]
    return [
        *projections,
        Product(f"{name} scores = Q Kᵀ", count, (N, h, T, d), (N, h, d, S), a_heads=True, b_t=True, b_heads=True),
        Product(f"{name} context = P V", count, (N, h, T, S), (N, h, S, d), b_heads=True),
        Product(f"{name} out = C Wo", count, (Mq, D), (D, D)),
        Product(f"{name} dWo = Cᵀ dout", count, (D, Mq), (Mq, D), a_t=True),
        Product(f"{name} dC = dout Woᵀ", count, (Mq, D), (D, D), b_t=True),
        Product(f"{name} dP = dC Vᵀ", count, (N, h, T, d), (N, h, d, S), a_heads=True, b_t=True, b_heads=True),
        Product(f"{name} dV = Pᵀ dC", count, (N, h, S, T), (N, h, T, d), a_t=True, b_heads=True),
        Product(f"{name} dQ = dA K", count, (N, h, T, S), (N, h, S, d), b_heads=True),
        Product(f"{name} dK = dAᵀ Q", count, (N, h, S, T), (N, h, T, d), a_t=True, b_heads=True),
        *gradients,
    ]


def feed_forward_products(name, count, M, D, F):
    """One `FeedForward` over `count` layers on M = N·L positions."""
    return [
        Product(f"{name} x W1", count, (M, D), (D, F)),
        Product(f"{name} h W2", count, (M, F), (F, D)),
        Product(f"{name} dW2 = hᵀ dy", count, (F, M), (M, D), a_t=True),
        Product(f"{name} dh = dy W2ᵀ", count, (M, D), (D, F), b_t=True),
        Product(f"{name} dW1 = xᵀ dz", count, (D, M), (M, F), a_t=True),
        Product(f"{name} dx = dz W1ᵀ", count, (M, F), (F, D), b_t=True),
    ]


def transformer_step_products(N, S, T, sizes, V):
    """Every matrix product of one training step of the Transformer (`sizes` a `Sizes`), in
    the shapes and layouts jumok's layers give them, each layer kind once with `count` =
    layers. Q and the head-split operands are modelled as views of contiguous arrays; in
    jumok K and V of self-attention are column slices of the one [Q K V] product (row stride
    3D, not D), which the list does not copy. Their FLOPs are benchmarks/flops.py's
    `transformer_step_flops`, exactly."""
    D, h, F, L = sizes.width, sizes.heads, sizes.ff_width, sizes.layers
    return [
        *attention_products("encoder self", L, N, S, S, D, h, memory=False),
        *feed_forward_products("encoder feed-forward", L, N * S, D, F),
        *attention_products("decoder self", L, N, T, T, D, h, memory=False),
        *attention_products("decoder cross", L, N, T, S, D, h, memory=True),
        *feed_forward_products("decoder feed-forward", L, N * T, D, F),
        Product("output x W", 1, (N * T, D), (D, V)),
        Product("output dW = xᵀ dy", 1, (D, N * T), (N * T, V), a_t=True),
        Product("output dx = dy Wᵀ", 1, (N * T, V), (V, D), b_t=True),
    ]


def _operand(rng, shape, transposed, heads=False):
    """A float32 array of `shape`; with `transposed`, the swapped view of a contiguous array;
    with `heads`, that array (N, h, L, d_h) is itself a view of a contiguous (N, L, h, d_h)."""
    shape = (*shape[:-2], shape[-1], shape[-2]) if transposed else tuple(shape)
    if heads:
        N, h, L, d = shape
        array = rng.standard_normal((N, L, h, d), dtype=np.float32).transpose(0, 2, 1, 3)
    else:
        array = rng.standard_normal(shape, dtype=np.float32)
    return np.swapaxes(array, -1, -2) if transposed else array


def operands(products, seed=0):
    """[(a, b, out)] NumPy arrays for each product of the list (out preallocated)."""
    rng = np.random.default_rng(seed)
    result = []
    for p in products:
        a, b = _operand(rng, p.a_shape, p.a_t, p.a_heads), _operand(rng, p.b_shape, p.b_t, p.b_heads)
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
