"""Multi-head attention in the chapter's literal form: one head, one query step at a time.

`jumok.layers.multi_head.MultiHeadAttention` computes every head and every query at once, in
batched products. This is the same arithmetic written the way the chapter writes attention:
for each head i and each query position t, the chapter's `AttentionWeight` (Repeat →
Hadamard → Sum, softmax) and `WeightSum` (Repeat → Hadamard → Sum) over the projected
queries, keys and values of that head. tests/chapter/test_literal_multi_head.py proves the
two equal in forward and backward, for self, causal self and cross attention, with masks.

What the Transformer adds to the chapter's one-head attention is all outside those two
layers: the projections Q = x Wq + bq, K = m Wk + bk, V = m Wv + bv; the slice of width
d_h = D/h that each head reads; the query scaled by 1/√d_h before the dot product; the heads'
contexts joined and projected, out = C Wo + bo. The chapter's keys and values are one array
(hs); here they are two, so AttentionWeight reads the keys and WeightSum the values.
"""

import math

import numpy as np

from jumok.backend import array_module
from jumok.chapter.attention import AttentionWeight, WeightSum
from jumok.layers.base import Module


class LiteralMultiHeadAttention(Module):
    """The literal form of `MultiHeadAttention` (see there for the equations and the masks).

    For head i (columns i·d_h:(i+1)·d_h of Q, K, V) and query position t:

        q    = Q[:, t, head i] / √d_h                   (N, d_h)
        sees = key_mask ∧ query_mask[:, t] ∧ (s ≤ t if causal)      (N, S) which keys t sees
        a    = AttentionWeight(K[:, :, head i], q, sees)            (N, S)
        a    = 0 for a row that sees no key (it is handed an all-True mask, so that the
               chapter's softmax, which masks with −∞, has something to normalise)
        C[:, t, head i] = WeightSum(V[:, :, head i], a)            (N, d_h)

    then out = C Wo + bo with the rows of padded queries set to 0.

    Backward walks the same (head, step) pairs: WeightSum's backward gives the values'
    gradient and da; da is zeroed on the rows that saw nothing; AttentionWeight's backward
    gives the keys' gradient and dq, which is scaled by 1/√d_h. Every step adds into the
    keys' and values' gradients (all queries read the same keys), and x, when it is also the
    memory, gets dQ Wqᵀ + dK Wkᵀ + dV Wvᵀ, the three written out.

    It has no attention dropout: it is the evaluation-mode arithmetic. Build it with
    `from_layer(layer)`, which shares the layer's parameter arrays (not their gradients).
    backward returns (dx, dmemory), dmemory None for self-attention, as the layer does.
    """

    def __init__(self, params, heads, causal=False):
        super().__init__()
        for name, value in params.items():
            self.add_param(name, value)  # the arrays themselves: shared, not copied
        self.D = params["Wq"].shape[0]
        self.heads, self.d_h = heads, self.D // heads
        self.causal = causal

    @classmethod
    def from_layer(cls, layer):
        return cls(layer.params, layer.heads, layer.causal)

    def _sees(self, t, N, S, key_mask, query_mask):
        """Which keys query position t sees, per row: (N, S) bool."""
        sees = np.ones((N, S), dtype=bool) if key_mask is None else np.asarray(key_mask, dtype=bool).copy()
        if query_mask is not None:
            sees &= np.asarray(query_mask, dtype=bool)[:, t, None]
        if self.causal:
            sees &= np.arange(S)[None, :] <= t
        return sees

    def forward(self, x, memory=None, key_mask=None, query_mask=None):
        if self.causal and memory is not None:
            raise ValueError("causal attention is self-attention only: no memory with causal=True")
        p, xp = self.params, array_module(x)
        m = x if memory is None else memory
        N, T, D = x.shape
        S = m.shape[1]
        Q = x @ p["Wq"] + p["bq"]  # (N, T, D)
        K = m @ p["Wk"] + p["bk"]  # (N, S, D)
        V = m @ p["Wv"] + p["bv"]  # (N, S, D)
        C = xp.zeros((N, T, D), dtype=Q.dtype)
        self.weights = xp.zeros((N, self.heads, T, S), dtype=Q.dtype)
        self.steps = []
        scale = 1.0 / math.sqrt(self.d_h)
        for i in range(self.heads):
            head = slice(i * self.d_h, (i + 1) * self.d_h)
            for t in range(T):
                sees = self._sees(t, N, S, key_mask, query_mask)  # (N, S)
                sees_any = sees.any(axis=1, keepdims=True)  # (N, 1)
                weight_layer, sum_layer = AttentionWeight(), WeightSum()
                q = Q[:, t, head] * scale  # (N, d_h)
                a = weight_layer.forward(K[:, :, head], q, xp.asarray(sees | ~sees_any))
                sees_any = xp.asarray(sees_any)
                a = a * sees_any  # a row that sees no key attends to nothing
                C[:, t, head] = sum_layer.forward(V[:, :, head], a)
                self.weights[:, i, t] = a
                self.steps.append((head, t, weight_layer, sum_layer, sees_any))
        out = C @ p["Wo"] + p["bo"]
        if query_mask is not None:
            out = out * xp.asarray(query_mask, dtype=out.dtype)[:, :, None]
        self.cache = (x, memory, C, query_mask)
        return out

    def backward(self, dout):
        x, memory, C, query_mask = self.cache
        p, g, xp = self.params, self.grads, array_module(dout)
        m = x if memory is None else memory
        D = self.D
        if query_mask is not None:
            dout = dout * xp.asarray(query_mask, dtype=dout.dtype)[:, :, None]
        g["Wo"] += C.reshape(-1, D).T @ dout.reshape(-1, D)
        g["bo"] += dout.reshape(-1, D).sum(axis=0)
        dC = dout @ p["Wo"].T  # (N, T, D)
        dQ, dK, dV = xp.zeros_like(x), xp.zeros_like(m), xp.zeros_like(m)
        scale = 1.0 / math.sqrt(self.d_h)
        for head, t, weight_layer, sum_layer, sees_any in self.steps:
            dv, da = sum_layer.backward(dC[:, t, head])
            dk, dq = weight_layer.backward(da * sees_any)
            dV[:, :, head] += dv
            dK[:, :, head] += dk
            dQ[:, t, head] = dq * scale
        for name, inputs, d in (("q", x, dQ), ("k", m, dK), ("v", m, dV)):
            g["W" + name] += inputs.reshape(-1, D).T @ d.reshape(-1, D)
            g["b" + name] += d.reshape(-1, D).sum(axis=0)
        dx = dQ @ p["Wq"].T
        dm = dK @ p["Wk"].T + dV @ p["Wv"].T
        if memory is None:
            return dx + dm, None  # x was the queries' input and the keys' and values' too
        return dx, dm
