"""LSTM over a whole sequence, with explicit state in and out and a padding mask."""

import numpy as np

from jumok.backend import array_module
from jumok.layers.base import Module


# The loop keeps the four gates as separate (N, H) blocks, σ-gates first: block k of the
# (4, ...) work arrays holds parameter block GATE_ORDER[k] (parameter order f, g, i, o).
GATE_ORDER = (0, 2, 3, 1)  # f, i, o, g


HALVES = (0.5, 0.5, 0.5, 1.0)
"""What block k's weights are multiplied by in `LSTM.stacked_weights`: σ(z) = ½ tanh(z/2) + ½,
so with the σ-gates' weights halved one tanh over all four blocks activates every gate (see
`activate`); backward divides them out again."""


def activate(a, c_prev, c, h, tanh_c, scratch):
    """One cell update in place. a (4, N, H): halved pre-activations [f, i, o, g], overwritten
    by the gates; writes c = f ⊙ c_prev + g ⊙ i, tanh_c = tanh c and h = o ⊙ tanh c.
    `scratch` holds g ⊙ i until c is formed, so `tanh_c` may be the same array."""
    xp = array_module(a)
    xp.tanh(a, out=a)
    sig = a[:3]
    sig *= 0.5
    sig += 0.5
    f, i, o, g = a
    xp.multiply(f, c_prev, out=c)
    xp.multiply(g, i, out=scratch)
    c += scratch
    xp.tanh(c, out=tanh_c)
    xp.multiply(o, tanh_c, out=h)


def chapter_weights(rng, D, H):
    """The chapter's initialisation: Wx = N(0, 1)/√D, Wh = N(0, 1)/√H, b = 0. With inputs of
    standard deviation s, a gate's input share x Wx has standard deviation s."""
    return rng.standard_normal((D, 4 * H)) / np.sqrt(D), rng.standard_normal((H, 4 * H)) / np.sqrt(H), np.zeros(4 * H)


def uniform_weights(rng, D, H):
    """PyTorch's (and Torch7's) initialisation of an LSTM: every entry of Wx, Wh and b drawn
    from U(−1/√H, 1/√H), whatever D; with unit-variance inputs a gate's input share x Wx has
    standard deviation √(D / 3H) (0.20 for D = 16, H = 128), not 1."""
    k = 1 / np.sqrt(H)
    return rng.uniform(-k, k, (D, 4 * H)), rng.uniform(-k, k, (H, 4 * H)), rng.uniform(-k, k, 4 * H)


LSTM_INITS = {"chapter": chapter_weights, "uniform": uniform_weights}
"""How an LSTM's Wx, Wh, b are drawn (`Config.lstm_init`): {name: weights(rng, D, H)}."""


class LSTM(Module):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997) run over T steps.

    Every step is one matrix product: the row [x_t, h_{t−1}, 1] of a (T + 1, N, D + H + 1)
    buffer times `stacked_weights` [½Wx; ½Wh; ½b] gives all four (halved) pre-activations,
    so there is no separate input projection, bias pass or add pass; the cell then updates
    in place (see `HALVES` and `activate` for the one-tanh activation) and writes
    h_t straight into the next row of the buffer. In training the gates, c and tanh c of
    every step are kept for backward; in eval mode (and `step`) nothing is kept.

    Backward runs the loop in reverse. dA, the pre-activation gradients of every step, is
    kept; each step's da [Wxᵀ Whᵀ] gives dx_t and dh_{t−1} in one product, and after the
    loop [x, h_prev, 1]ᵀ dA gives dWx, dWh and db in one product per gate block.

    Backward of one step, with dh and dc the gradients arriving at h_t and c_t:
        dc_t  += dh ⊙ o ⊙ (1 − tanh²c_t)
        da_f = dc_t ⊙ c_{t−1} ⊙ f(1 − f)     da_g = dc_t ⊙ i ⊙ (1 − g²)
        da_i = dc_t ⊙ g ⊙ i(1 − i)           da_o = dh ⊙ tanh c_t ⊙ o(1 − o)
        [dx_t, dh_{t−1}] = da [Wxᵀ Whᵀ]      dc_{t−1} = dc_t ⊙ f

    Mask (N, T), True = real token: at a padded step the state is carried unchanged
    (h_t = h_{t−1}, c_t = c_{t−1}), so padding never alters the state, and the final state
    is the state after each sequence's last real token. Its backward passes dh, dc straight
    through such steps (and sends no gradient to the padded x_t).

    Shapes: xs (N, T, D), h0/c0 (N, H) → hs (N, T, H), (h_T, c_T) each (N, H).
    Parameters: Wx (D, 4H), Wh (H, 4H), b (4H,), gate columns in the order f, g, i, o.

    The cell in its readable form (a = x Wx + h Wh + b; f, g, i, o = σ, tanh, σ, σ of its
    blocks; c = f ⊙ c_prev + g ⊙ i; h = o ⊙ tanh c) is `jumok.chapter.reference.LSTMCell`;
    tests prove this loop equal to it.
    """

    def __init__(self, in_dim, hidden_dim, rng, dtype=np.float32):
        super().__init__()
        D, H = in_dim, hidden_dim
        self.hidden_dim = H
        for name, value in zip(("Wx", "Wh", "b"), chapter_weights(rng, D, H)):
            self.add_param(name, value.astype(dtype))

    def initialise(self, scheme, rng):
        """Draw Wx, Wh, b afresh from `rng` by the `LSTM_INITS` scheme (in place, same dtype)."""
        D = self.params["Wx"].shape[0]
        for name, value in zip(("Wx", "Wh", "b"), LSTM_INITS[scheme](rng, D, self.hidden_dim)):
            self.params[name][...] = self.xp.asarray(value, dtype=self.params[name].dtype)

    def initial_state(self, n, dtype, xp=np):
        return xp.zeros((n, self.hidden_dim), dtype=dtype)

    def stacked_weights(self):
        """[½Wx; ½Wh; ½b] block by block, (4, D + H + 1, H), in the loop's gate order with the
        σ-gates halved (`HALVES`): a step reads [x_t, h_{t−1}, 1] (N, D + H + 1), so
        x Wx + h Wh + b of all four gates is one product. Written in one pass."""
        xp = self.xp
        H = self.hidden_dim
        Wx, Wh, b = (self.params[k] for k in ("Wx", "Wh", "b"))
        D = Wx.shape[0]
        W = xp.empty((4, D + H + 1, H), dtype=Wx.dtype)
        for k, p in enumerate(GATE_ORDER):
            columns = slice(p * H, (p + 1) * H)
            xp.multiply(Wx[:, columns], HALVES[k], out=W[k, :D])
            xp.multiply(Wh[:, columns], HALVES[k], out=W[k, D : D + H])
            xp.multiply(b[columns], HALVES[k], out=W[k, D + H])
        return W

    def step(self, x, h, c, W=None):
        """One step for decoding (no cache): x (N, D), h, c (N, H) → h, c. `W` is
        `stacked_weights()`: a decoder computes it once per decode; without it, built here."""
        xp = array_module(x)
        W = self.stacked_weights() if W is None else W
        xh1 = xp.concatenate([x, h, xp.ones((len(x), 1), dtype=x.dtype)], axis=1)  # (N, D + H + 1)
        a = xp.matmul(xh1, W)  # (4, N, H)
        h_new, c_new, work = xp.empty_like(h), xp.empty_like(c), xp.empty_like(c)
        activate(a, c, c_new, h_new, work, work)
        return h_new, c_new

    def forward(self, xs, h0=None, c0=None, mask=None):
        xp = array_module(xs)
        N, T, D = xs.shape
        H, dtype = self.hidden_dim, xs.dtype
        xh1 = xp.empty((T + 1, N, D + H + 1), dtype=dtype)  # row t: [x_t, h_{t−1}, 1]; row T: h_T
        xh1[:T, :, :D] = xs.transpose(1, 0, 2)
        xh1[T, :, :D] = 0
        xh1[:, :, D + H] = 1
        hs = xh1[:, :, D : D + H]  # (T + 1, N, H) view: hs[0] = h0, hs[t + 1] = h_t
        hs[0] = 0 if h0 is None else h0
        cs = xp.empty((T + 1 if self.training else 2, N, H), dtype=dtype)
        cs[0] = 0 if c0 is None else c0
        W = self.stacked_weights()  # (4, D + H + 1, H)
        scratch = xp.empty((N, H), dtype=dtype)
        if self.training:  # keep every step's gates, c and tanh c for backward
            gates = xp.empty((4, T, N, H), dtype=dtype)
            tanh_cs = xp.empty((T, N, H), dtype=dtype)
        else:
            gates, tanh_c = xp.empty((4, N, H), dtype=dtype), scratch
        pad, padded = _padding(mask, T)
        for t in range(T):
            if self.training:
                a, c_prev, c, tanh_c = gates[:, t], cs[t], cs[t + 1], tanh_cs[t]
            else:
                a, c_prev, c = gates, cs[t % 2], cs[(t + 1) % 2]
            xp.matmul(xh1[t], W, out=a)
            activate(a, c_prev, c, hs[t + 1], tanh_c, scratch)
            if padded[t]:
                xp.copyto(hs[t + 1], hs[t], where=pad[t])
                xp.copyto(c, c_prev, where=pad[t])
        c_last = cs[-1] if self.training else cs[T % 2]
        if self.training:
            self.cache = (xh1, W, gates, cs, tanh_cs, pad, padded)
        return xp.ascontiguousarray(hs[1:].transpose(1, 0, 2)), (hs[T].copy(), c_last.copy())

    def backward(self, dhs, dh_last=None, dc_last=None):
        """dhs (N, T, H), dh_last/dc_last (N, H) → dxs (N, T, D), dh0 (N, H), dc0 (N, H)."""
        xp = array_module(dhs)
        xh1, W, gates, cs, tanh_cs, pad, padded = self.cache
        _, T, N, H = gates.shape
        D, dtype = xh1.shape[2] - H - 1, dhs.dtype
        WT4 = xp.empty((4, H, D + H), dtype=W.dtype)  # [Wx_kᵀ Wh_kᵀ] block by block: forward's W, halving undone
        xp.divide(W[:, : D + H].transpose(0, 2, 1), xp.asarray(HALVES, dtype=W.dtype)[:, None, None], out=WT4)
        dhs_tm = xp.ascontiguousarray(dhs.transpose(1, 0, 2))  # (T, N, H)
        dh = xp.zeros((N, H), dtype=dtype) if dh_last is None else dh_last.astype(dtype, copy=True)
        dc = xp.zeros((N, H), dtype=dtype) if dc_last is None else dc_last.astype(dtype, copy=True)
        dh_prev = xp.empty((N, H), dtype=dtype)
        dc_prev = xp.empty((N, H), dtype=dtype)
        tmp = xp.empty((N, H), dtype=dtype)
        dxh_parts = xp.empty((4, N, D + H), dtype=dtype)  # da_k [Wx_kᵀ Wh_kᵀ], gate by gate
        dxs_tm = xp.empty((T, N, D), dtype=dtype)
        dA = xp.empty((4, T, N, H), dtype=dtype)  # pre-activation gradients, gate blocks f, i, o, g
        for t in reversed(range(T)):
            dh += dhs_tm[t]
            f, i, o, g = gates[:, t]
            da = dA[:, t]
            da_f, da_i, da_o, da_g = da
            tanh_c = tanh_cs[t]
            xp.multiply(tanh_c, tanh_c, out=tmp)  # dc_t = dc + dh ⊙ o ⊙ (1 − tanh²c)
            xp.subtract(1, tmp, out=tmp)
            tmp *= o
            tmp *= dh
            if padded[t]:
                xp.copyto(tmp, 0, where=pad[t])  # padded rows: dc passes through unchanged
            dc += tmp
            xp.subtract(1, o, out=da_o)  # da_o = dh ⊙ tanh c ⊙ o(1 − o)
            da_o *= o
            da_o *= tanh_c
            da_o *= dh
            xp.subtract(1, f, out=da_f)  # da_f = dc_t ⊙ c_prev ⊙ f(1 − f)
            da_f *= f
            da_f *= cs[t]
            da_f *= dc
            xp.subtract(1, i, out=da_i)  # da_i = dc_t ⊙ g ⊙ i(1 − i)
            da_i *= i
            da_i *= g
            da_i *= dc
            xp.multiply(g, g, out=da_g)  # da_g = dc_t ⊙ i ⊙ (1 − g²)
            xp.subtract(1, da_g, out=da_g)
            da_g *= i
            da_g *= dc
            if padded[t]:  # padded rows: no gradient into this step, dh and dc pass through
                xp.copyto(da, 0, where=pad[t])
            xp.matmul(da, WT4, out=dxh_parts)  # [dx_t, dh_prev] = Σ_k da_k [Wx_kᵀ Wh_kᵀ]
            dx_parts, dh_parts = dxh_parts[:, :, :D], dxh_parts[:, :, D:]
            xp.add(dx_parts[0], dx_parts[1], out=dxs_tm[t])
            dxs_tm[t] += dx_parts[2]
            dxs_tm[t] += dx_parts[3]
            xp.add(dh_parts[0], dh_parts[1], out=dh_prev)
            dh_prev += dh_parts[2]
            dh_prev += dh_parts[3]
            xp.multiply(dc, f, out=dc_prev)
            if padded[t]:
                xp.copyto(dh_prev, dh, where=pad[t])
                xp.copyto(dc_prev, dc, where=pad[t])
            dh, dh_prev = dh_prev, dh
            dc, dc_prev = dc_prev, dc
        xh1_all = xh1[:T].reshape(T * N, D + H + 1)  # [x_t, h_{t−1}, 1] of every step
        dW4 = xp.matmul(xh1_all.T, dA.reshape(4, T * N, H))  # (4, D + H + 1, H): [dWx; dWh; db] blocks
        for k, p in enumerate(GATE_ORDER):
            block = slice(p * H, (p + 1) * H)
            self.grads["Wx"][:, block] += dW4[k, :D]
            self.grads["Wh"][:, block] += dW4[k, D : D + H]
            self.grads["b"][block] += dW4[k, D + H]
        return xp.ascontiguousarray(dxs_tm.transpose(1, 0, 2)), dh, dc


def _padding(mask, T):
    """(pad (T, N, 1) bool: True = padded, or None; padded[t]: does step t have any padding)."""
    if mask is None:
        return None, [False] * T
    xp = array_module(mask)
    pad = xp.ascontiguousarray(~mask.T[:, :, None])
    return pad, [bool(p) for p in pad.any(axis=(1, 2)).tolist()]
