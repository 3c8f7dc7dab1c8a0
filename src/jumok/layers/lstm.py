"""LSTM over a whole sequence, with explicit state in and out and a padding mask."""

import numpy as np

from jumok.functional import sigmoid
from jumok.layers.base import Module


def lstm_cell(a, c_prev):
    """One LSTM step from the pre-activations a = x Wx + h_prev Wh + b, shape (N, 4H).

        f = σ(a_f)   g = tanh(a_g)   i = σ(a_i)   o = σ(a_o)      (gate order f, g, i, o)
        c = f ⊙ c_prev + g ⊙ i
        h = o ⊙ tanh(c)

    `a` is overwritten with the activated gates [f, g, i, o]. Returns (h, c, tanh(c)).
    """
    H = c_prev.shape[-1]
    a[:, :H] = sigmoid(a[:, :H])
    a[:, H : 2 * H] = np.tanh(a[:, H : 2 * H])
    a[:, 2 * H :] = sigmoid(a[:, 2 * H :])
    f, g, i, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
    c = f * c_prev + g * i
    tanh_c = np.tanh(c)
    return o * tanh_c, c, tanh_c


class LSTM(Module):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997) run over T steps.

    The input projection xs Wx + b of all steps is one matrix product before the loop; the
    loop does only the recurrent product h Wh and the cell arithmetic. Backward runs the
    loop in reverse, keeping the pre-activation gradients dA of every step, then forms
    dWx = Σ xᵀ dA, dWh = Σ h_prevᵀ dA, db = Σ dA and dxs = dA Wxᵀ as single products.

    Backward of one step, with dh and dc the gradients arriving at h_t and c_t:
        dc_t  += dh ⊙ o ⊙ (1 − tanh²c_t)
        da_f = dc_t ⊙ c_{t−1} ⊙ f(1 − f)     da_g = dc_t ⊙ i ⊙ (1 − g²)
        da_i = dc_t ⊙ g ⊙ i(1 − i)           da_o = dh ⊙ tanh c_t ⊙ o(1 − o)
        dh_{t−1} = da Whᵀ                    dc_{t−1} = dc_t ⊙ f

    Mask (N, T), True = real token: at a padded step the state is carried unchanged
    (h_t = h_{t−1}, c_t = c_{t−1}), so padding never alters the state, and the final state
    is the state after each sequence's last real token. Its backward passes dh, dc straight
    through such steps.

    Shapes: xs (N, T, D), h0/c0 (N, H) → hs (N, T, H), (h_T, c_T) each (N, H).
    Parameters: Wx (D, 4H), Wh (H, 4H), b (4H,).
    """

    def __init__(self, in_dim, hidden_dim, rng, dtype=np.float32):
        super().__init__()
        D, H = in_dim, hidden_dim
        self.hidden_dim = H
        self.add_param("Wx", (rng.standard_normal((D, 4 * H)) / np.sqrt(D)).astype(dtype))
        self.add_param("Wh", (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(dtype))
        self.add_param("b", np.zeros(4 * H, dtype=dtype))

    def initial_state(self, n, dtype):
        return np.zeros((n, self.hidden_dim), dtype=dtype)

    def step(self, x, h, c):
        """One step for decoding (no cache): x (N, D), h, c (N, H) → h, c."""
        a = x @ self.params["Wx"] + h @ self.params["Wh"] + self.params["b"]
        h, c, _ = lstm_cell(a, c)
        return h, c

    def forward(self, xs, h0=None, c0=None, mask=None):
        Wx, Wh, b = self.params["Wx"], self.params["Wh"], self.params["b"]
        N, T, D = xs.shape
        H = self.hidden_dim
        self.h0 = h = self.initial_state(N, xs.dtype) if h0 is None else h0
        self.c0 = c = self.initial_state(N, xs.dtype) if c0 is None else c0
        xs_tm = xs.transpose(1, 0, 2)  # (T, N, D), time-major so each step is contiguous
        gates = (xs_tm.reshape(T * N, D) @ Wx + b).reshape(T, N, 4 * H)  # (T, N, 4H)
        hs = np.empty((T, N, H), dtype=xs.dtype)
        cs = np.empty((T, N, H), dtype=xs.dtype)
        tanh_cs = np.empty((T, N, H), dtype=xs.dtype)
        mask_tm = None if mask is None else mask.T[:, :, None]  # (T, N, 1)
        for t in range(T):
            a = gates[t]
            a += h @ Wh
            h_new, c_new, tanh_cs[t] = lstm_cell(a, c)
            if mask_tm is not None:
                h_new = np.where(mask_tm[t], h_new, h)
                c_new = np.where(mask_tm[t], c_new, c)
            hs[t], cs[t] = h_new, c_new
            h, c = h_new, c_new
        self.cache = (xs_tm, gates, hs, cs, tanh_cs, mask_tm)
        return np.ascontiguousarray(hs.transpose(1, 0, 2)), (h, c)

    def backward(self, dhs, dh_last=None, dc_last=None):
        """dhs (N, T, H), dh_last/dc_last (N, H) → dxs (N, T, D), dh0 (N, H), dc0 (N, H)."""
        Wx, Wh = self.params["Wx"], self.params["Wh"]
        xs_tm, gates, hs, cs, tanh_cs, mask_tm = self.cache
        T, N, D = xs_tm.shape
        H = self.hidden_dim
        dhs_tm = dhs.transpose(1, 0, 2)  # (T, N, H)
        dh = np.zeros((N, H), dtype=dhs.dtype) if dh_last is None else dh_last
        dc = np.zeros((N, H), dtype=dhs.dtype) if dc_last is None else dc_last
        dA = np.empty((T, N, 4 * H), dtype=dhs.dtype)  # pre-activation gradients
        for t in reversed(range(T)):
            dh = dh + dhs_tm[t]
            f, g, i, o = (gates[t, :, k * H : (k + 1) * H] for k in range(4))
            c_prev = cs[t - 1] if t > 0 else self.c0
            dc_t = dc + dh * o * (1 - tanh_cs[t] ** 2)
            da = dA[t]
            da[:, :H] = dc_t * c_prev * f * (1 - f)
            da[:, H : 2 * H] = dc_t * i * (1 - g**2)
            da[:, 2 * H : 3 * H] = dc_t * g * i * (1 - i)
            da[:, 3 * H :] = dh * tanh_cs[t] * o * (1 - o)
            if mask_tm is None:
                dh, dc = da @ Wh.T, dc_t * f
            else:
                m = mask_tm[t]  # (N, 1): padded rows pass dh, dc through unchanged
                da *= m
                dh = da @ Wh.T + np.where(m, 0, dh)
                dc = np.where(m, dc_t * f, dc)
        h_prev = np.concatenate([self.h0[None], hs[:-1]], axis=0)  # (T, N, H)
        dA2 = dA.reshape(T * N, 4 * H)
        self.grads["Wx"] += xs_tm.reshape(T * N, D).T @ dA2
        self.grads["Wh"] += h_prev.reshape(T * N, H).T @ dA2
        self.grads["b"] += dA2.sum(axis=0)
        dxs = (dA2 @ Wx.T).reshape(T, N, D).transpose(1, 0, 2)
        return np.ascontiguousarray(dxs), dh, dc
