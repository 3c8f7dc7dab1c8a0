"""Multi-head scaled dot-product attention: self, causal self and cross, in one layer."""

import math

import numpy as np

from jumok.backend import array_module
from jumok.functional import softmax_backward
from jumok.layers.base import Module
from jumok.layers.dropout import Dropout

MASKED = -1e9
"""The score a masked (query, key) pair gets before the softmax. Finite on purpose: with −∞ a
row whose every key is masked has max −∞ and exp(−∞ − (−∞)) = NaN, which then spreads through
every product it enters, even when that row is zeroed afterwards (NaN · 0 = NaN). With −1e9 the
row is an ordinary finite (uniform) softmax, which the layer then zeroes; in any row that keeps
a real key, exp(−1e9 − max) is exactly 0 in float32 and float64 alike, so masked keys still get
weight exactly 0 (so long as a real score stays above −1e9 + 750, which only a diverged
model would break)."""


class MultiHeadAttention(Module):
    """Multi-head scaled dot-product attention (Vaswani et al., 2017, "Attention Is All You
    Need", §3.2): the chapter's dot-product attention with learned projections, a 1/√d_h
    scale, and h heads that each attend in a d_h = D/h wide slice.

    One class, three uses, chosen by the call and the `causal` flag:

        forward(x)               self-attention: queries, keys and values all from x
        forward(x) causal=True   causal self-attention: position t sees positions ≤ t
        forward(x, memory)       cross-attention: queries from x (the decoder), keys and
                                 values from memory (the encoder) — the chapter's attention

    With m = memory (m = x for self-attention):

        Q = x Wq + bq            (N, T, D)      K = m Wk + bk,  V = m Wv + bv   (N, S, D)
        Q, K, V split into h heads of width d_h:   Qᵢ (N, h, T, d_h),  Kᵢ, Vᵢ (N, h, S, d_h)
        A = Qᵢ Kᵢᵀ / √d_h        (N, h, T, S)   the scaled scores
        A[t, s] = −1e9           where key s is padding, or s > t when causal   (`MASKED`)
        P = softmax_S(A)         (N, h, T, S)   `self.weights`, kept for drawing maps
        P[t] = 0                 for a query row with no key to see (see "Masks")
        P̃ = dropout(P)                          attention dropout, training mode only
        Cᵢ = P̃ Vᵢ               (N, h, T, d_h)  heads joined back → C (N, T, D)
        out = C Wo + bo          (N, T, D),     rows of padded queries set to 0

    Dividing by √d_h keeps the scores' variance near 1 whatever the width (q·k sums d_h
    products of roughly unit variance), so the softmax does not saturate as d_h grows.

    Backward, each line undoing one line above (dL/dY written dY):

        dout ← dout ⊙ query_mask                 padded queries send nothing back
        dWo += Cᵀ dout,  dbo += Σ dout,  dC = dout Woᵀ          → dCᵢ (N, h, T, d_h)
        dP̃ = dCᵢ Vᵢᵀ,   dVᵢ = P̃ᵀ dCᵢ
        dP = dropout.backward(dP̃)                (the same mask as forward)
        dA = P ⊙ (dP − rowsum(P ⊙ dP))           softmax backward, never the Jacobian
        dQᵢ = dA Kᵢ / √d_h,  dKᵢ = dAᵀ Qᵢ / √d_h   heads joined → dQ, dK, dV (·, ·, D)
        dWq += xᵀ dQ, dbq += Σ dQ;  likewise Wk, bk and Wv, bv with m
        self-attention:  dx = dQ Wqᵀ + dK Wkᵀ + dV Wvᵀ        (x feeds all three: they add)
        cross-attention: dx = dQ Wqᵀ,  dmemory = dK Wkᵀ + dV Wvᵀ

    dbk is 0 in exact arithmetic: q·(k + bk) = q·k + q·bk shifts a query's whole row of
    scores by one number, which the softmax ignores (and rowsum(dA) = 0). The bias is kept
    all the same, as PyTorch's nn.MultiheadAttention has it, so the two take the same weights
    (the paper writes the projections without biases).

    The softmax line needs no mask of its own: P is exactly 0 at every masked score and in
    every zeroed row, so dA is 0 there too, and a masked score gets no gradient.

    Masks (boolean, True = real token, as everywhere in jumok): `key_mask` (N, S) marks the
    real keys — in self-attention S = T and it is usually the same array as `query_mask`
    (N, T), which marks the real queries. Padding keys get weight exactly 0, so whatever
    stands in a padded position of memory (or of x, in self-attention) changes no result and
    receives zero gradient. A query row with no key to see (a padded query; a real query
    whose keys are all padding) has every score masked: its softmax stays finite thanks to
    the finite constant, and its P row is then set to 0 (context 0). Padded queries are
    handled by folding `query_mask` into the score mask — so their P rows are 0 and their
    maps empty — and their output rows are set to 0 (the bias bo too), and in backward
    their upstream gradient rows are set to 0 before anything else, so they pass no
    gradient to any input or parameter.

    Initialisation: Wq, Wk, Wv, Wo ~ U(±√(6 / (D + D))) (Glorot & Bengio, 2010, "Xavier"):
    variance 2 / (fan_in + fan_out) = 1/D, so a product with unit-variance inputs keeps unit
    variance going forward, and so do the gradients coming back, for every width. Biases
    start at 0: the weights already break the symmetry between units, and a zero bias adds
    no offset to the scores. (PyTorch's nn.MultiheadAttention starts its biases at 0 too.)
    `rng` draws Wq, Wk, Wv, Wo in that order.

    Attention dropout (`dropout` p > 0, training mode only) drops whole attention weights, a
    key's share of a query's context, with the existing `Dropout` module (its generator
    `dropout_rng`), which draws a mask for the full (N, h, T, S) array — or, when given
    `rows = (total, start, stop)`, this slice's rows of the whole global batch's mask (so
    data-parallel ranks draw the masks of one process; every rank must then pad to the same
    T and S). `self.weights` is P before dropout: the map the model computed.

    Shapes: x (N, T, D), memory (N, S, D) or None, key_mask (N, S) / query_mask (N, T) bool
    or None → out (N, T, D). backward(dout (N, T, D)) → (dx, dmemory): always a pair,
    dmemory None for self-attention. Parameters Wq, Wk, Wv, Wo (D, D) and bq, bk, bv, bo (D,),
    used as x W (rows are inputs); the child `drop` (no parameters).

    Decoding one query at a time reuses `project_keys_values` (the encoder's K, V once per
    source batch) and `attend` (no cache, no dropout).
    """

    def __init__(self, D, heads, rng, dtype=np.float32, *, causal=False, dropout=0.0, dropout_rng=None):
        super().__init__()
        if D % heads:
            raise ValueError(f"width D = {D} is not divisible by {heads} heads")
        if dropout > 0 and dropout_rng is None:
            raise ValueError("dropout > 0 needs a random generator (dropout_rng)")
        self.D, self.heads, self.d_h = D, heads, D // heads
        self.causal = causal
        limit = math.sqrt(6.0 / (D + D))
        for name in ("q", "k", "v", "o"):
            self.add_param("W" + name, rng.uniform(-limit, limit, (D, D)).astype(dtype))
        for name in ("q", "k", "v", "o"):
            self.add_param("b" + name, np.zeros(D, dtype=dtype))
        self.drop = Dropout(dropout, dropout_rng)
        self.weights = None

    # ---- heads -------------------------------------------------------------------------

    def _split(self, y):
        """(N, L, D) → (N, h, L, d_h): head i is the slice i·d_h:(i+1)·d_h of the width."""
        N, L, _ = y.shape
        return y.reshape(N, L, self.heads, self.d_h).transpose(0, 2, 1, 3)

    def _join(self, yh):
        """(N, h, L, d_h) → (N, L, D), the inverse of `_split`."""
        N, _, L, _ = yh.shape
        return yh.transpose(0, 2, 1, 3).reshape(N, L, self.D)

    def _fused(self, names):
        """The weights and biases of the projections `names` side by side: (D, k·D), (k·D,)."""
        join = array_module(self.params["Wq"]).concatenate
        return join([self.params["W" + n] for n in names], axis=1), join([self.params["b" + n] for n in names])

    def _allowed(self, xp, N, T, S, key_mask, query_mask):
        """Which (query, key) pairs may meet: (N, 1, T, S) bool, or None when every pair may."""
        allowed = None
        if key_mask is not None:
            allowed = xp.asarray(key_mask, dtype=bool)[:, None, None, :]  # (N, 1, 1, S)
        if query_mask is not None:
            q = xp.asarray(query_mask, dtype=bool)[:, None, :, None]  # (N, 1, T, 1)
            allowed = q if allowed is None else allowed & q
        if self.causal:
            later = xp.tril(xp.ones((T, S), dtype=bool))  # s ≤ t
            allowed = later if allowed is None else allowed & later
        return None if allowed is None else xp.broadcast_to(allowed, (N, 1, T, S))

    def _check(self, x, memory, key_mask, query_mask):
        if x.ndim != 3 or x.shape[2] != self.D:
            raise ValueError(f"x must be (N, T, {self.D}), got {x.shape}")
        N, T, _ = x.shape
        if memory is not None:
            if self.causal:
                raise ValueError("causal attention is self-attention only: no memory with causal=True")
            if memory.ndim != 3 or memory.shape[0] != N or memory.shape[2] != self.D:
                raise ValueError(f"memory must be ({N}, S, {self.D}), got {memory.shape}")
        S = T if memory is None else memory.shape[1]
        if key_mask is not None and key_mask.shape != (N, S):
            raise ValueError(f"key_mask must be ({N}, {S}), got {key_mask.shape}")
        if query_mask is not None and query_mask.shape != (N, T):
            raise ValueError(f"query_mask must be ({N}, {T}), got {query_mask.shape}")
        return N, T, S

    # ---- forward and backward ----------------------------------------------------------

    def forward(self, x, memory=None, key_mask=None, query_mask=None):
        """x (N, T, D), memory (N, S, D) or None for self-attention → out (N, T, D)."""
        N, T, S = self._check(x, memory, key_mask, query_mask)
        xp, D = array_module(x), self.D
        x2 = x.reshape(N * T, D)
        if memory is None:  # x feeds Q, K and V: one (N·T, D) @ (D, 3D) product
            W, b = self._fused("qkv")
            QKV = x2 @ W + b  # (N·T, 3D)
            Q, K, V = QKV[:, :D], QKV[:, D:2 * D], QKV[:, 2 * D:]
            m2 = None
        else:  # queries from x, keys and values from memory: (N·S, D) @ (D, 2D)
            m2 = memory.reshape(N * S, D)
            Q = x2 @ self.params["Wq"] + self.params["bq"]  # (N·T, D)
            W, b = self._fused("kv")
            KV = m2 @ W + b  # (N·S, 2D)
            K, V = KV[:, :D], KV[:, D:]
        scale = 1.0 / math.sqrt(self.d_h)
        Qh = self._split(Q.reshape(N, T, D)) * scale  # (N, h, T, d_h), scaled once here, not in (T, S)
        Kh = self._split(K.reshape(N, S, D))  # (N, h, S, d_h)
        Vh = self._split(V.reshape(N, S, D))  # (N, h, S, d_h)
        allowed = self._allowed(xp, N, T, S, key_mask, query_mask)
        P = _weights(Qh @ Kh.transpose(0, 1, 3, 2), allowed)  # (N, h, T, S)
        Pd = self.drop.forward(P)
        C = self._join(Pd @ Vh).reshape(N * T, D)  # (N·T, D)
        out = (C @ self.params["Wo"] + self.params["bo"]).reshape(N, T, D)
        if query_mask is not None:
            out *= xp.asarray(query_mask, dtype=out.dtype)[:, :, None]  # padded queries: 0, bias too
        self.weights = P
        self.cache = (x2, m2, W, Qh, Kh, Vh, P, Pd, C, query_mask, (N, T, S))
        return out

    def backward(self, dout):
        """dout (N, T, D) → (dx (N, T, D), dmemory (N, S, D), or None for self-attention);
        parameter gradients are added into `grads`."""
        x2, m2, W, Qh, Kh, Vh, P, Pd, C, query_mask, (N, T, S) = self.cache
        xp, D, g = array_module(dout), self.D, self.grads
        if query_mask is not None:
            dout = dout * xp.asarray(query_mask, dtype=dout.dtype)[:, :, None]
        dout2 = dout.reshape(N * T, D)
        g["Wo"] += C.T @ dout2
        g["bo"] += dout2.sum(axis=0)
        dCh = self._split((dout2 @ self.params["Wo"].T).reshape(N, T, D))  # (N, h, T, d_h)
        dPd = dCh @ Vh.transpose(0, 1, 3, 2)  # (N, h, T, S)
        dVh = Pd.transpose(0, 1, 3, 2) @ dCh  # (N, h, S, d_h)
        dA = softmax_backward(P, self.drop.backward(dPd))  # (N, h, T, S); 0 wherever P is 0
        scale = 1.0 / math.sqrt(self.d_h)
        dQ = self._join((dA @ Kh) * scale).reshape(N * T, D)  # Qh was scaled: dQ = dA K / √d_h
        dK = self._join(dA.transpose(0, 1, 3, 2) @ Qh).reshape(N * S, D)  # Qh holds Q / √d_h
        dV = self._join(dVh).reshape(N * S, D)
        if m2 is None:  # [dQ dK dV] [Wq Wk Wv]ᵀ = dQ Wqᵀ + dK Wkᵀ + dV Wvᵀ: the three add
            dQKV = xp.concatenate([dQ, dK, dV], axis=1)  # (N·T, 3D)
            self._add_grads("qkv", x2, dQKV)
            return (dQKV @ W.T).reshape(N, T, D), None
        self._add_grads("q", x2, dQ)
        dKV = xp.concatenate([dK, dV], axis=1)  # (N·S, 2D)
        self._add_grads("kv", m2, dKV)
        dx = (dQ @ self.params["Wq"].T).reshape(N, T, D)
        return dx, (dKV @ W.T).reshape(N, S, D)

    def _add_grads(self, names, inputs, dy):
        """Projection gradients: dW = inputsᵀ dy, db = Σ dy, for side-by-side projections."""
        dW, db = inputs.T @ dy, dy.sum(axis=0)  # (D, k·D), (k·D,)
        for i, n in enumerate(names):
            self.grads["W" + n] += dW[:, i * self.D:(i + 1) * self.D]
            self.grads["b" + n] += db[i * self.D:(i + 1) * self.D]

    # ---- decoding helpers (no cache, no dropout) ---------------------------------------

    def project_keys_values(self, memory):
        """memory (N, S, D) → K, V split into heads, (N, h, S, d_h) each: for a decoder to
        compute once per source batch (cross) or to extend step by step (self)."""
        N, S, D = memory.shape
        W, b = self._fused("kv")
        KV = memory.reshape(N * S, D) @ W + b
        return self._split(KV[:, :D].reshape(N, S, D)), self._split(KV[:, D:].reshape(N, S, D))

    def attend(self, x, K, V, key_mask=None):
        """Queries x (N, T', D) against given keys and values K, V (N, h, S, d_h) → out
        (N, T', D), P (N, h, T', S). No causal mask here: a decoding step passes only the
        keys it may see (or says so with key_mask (N, S)). Nothing is cached.

        Any leading axes broadcast as in a matrix product: x (M, k, T', D) against K, V
        (M, 1, h, S, d_h) and key_mask (M, 1, S) is k rows of each of M sources reading
        that source's keys, none copied → out (M, k, T', D), P (M, k, h, T', S), each row's
        numbers those of the (N, ...) form."""
        *lead, T, D = x.shape
        xp = array_module(x)
        Q = x.reshape(-1, D) @ self.params["Wq"] + self.params["bq"]
        Qh = Q.reshape(*lead, T, self.heads, self.d_h).swapaxes(-3, -2) * (1.0 / math.sqrt(self.d_h))
        allowed = None if key_mask is None else xp.asarray(key_mask, dtype=bool)[..., None, None, :]
        P = _weights(Qh @ K.swapaxes(-1, -2), allowed)  # (..., h, T', S)
        C = (P @ V).swapaxes(-3, -2).reshape(-1, D)  # heads joined: (…·T', D)
        return (C @ self.params["Wo"] + self.params["bo"]).reshape(*lead, T, D), P


def _weights(scores, allowed):
    """softmax over the last axis with the disallowed scores set to `MASKED`, and every row
    that allows nothing set to 0 (finite before, so no NaN reaches the 0). `allowed`
    broadcasts to scores, or is None.

    The softmax's steps (− max, exp, ÷ sum) run in place on one new array, so the (N, h, T, S)
    weights of long sequences cost two arrays of that size (the scores and the weights), not
    five; the numbers are `jumok.functional.softmax`'s, bit for bit."""
    xp = array_module(scores)
    P = scores.copy() if allowed is None else xp.where(allowed, scores, scores.dtype.type(MASKED))
    P -= P.max(axis=-1, keepdims=True)
    xp.exp(P, out=P)
    P /= P.sum(axis=-1, keepdims=True)
    if allowed is not None:
        P *= allowed.any(axis=-1, keepdims=True)
    return P
