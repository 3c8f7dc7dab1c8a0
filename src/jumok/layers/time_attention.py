"""Dot-product attention for every decoder step at once, as batched matrix products."""

import numpy as np

from jumok.functional import softmax, softmax_backward
from jumok.layers.base import Module


class TimeAttention(Module):
    """With teacher forcing every decoder state is known up front, so the chapter's
    Repeat → Hadamard → Sum chain for all T steps collapses into two batched products:

        scores = dec_hs @ enc_hsᵀ               (N, T, S)   scores[n,t,s] = dec_h[t] · enc_h[s]
        a      = softmax_S(scores, mask)        (N, T, S)   padding gets weight exactly 0
        c      = a @ enc_hs                     (N, T, H)

    Backward:
        da       = dc @ enc_hsᵀ                 dscores = a ⊙ (da − Σ_S da ⊙ a)
        denc_hs  = aᵀ @ dc + dscoresᵀ @ dec_hs  (the two uses of enc_hs added)
        ddec_hs  = dscores @ enc_hs

    Shapes: enc_hs (N, S, H), dec_hs (N, T, H), mask (N, S) bool → c (N, T, H);
    `weights` keeps a (N, T, S) for drawing.
    """

    def forward(self, enc_hs, dec_hs, mask=None):
        scores = dec_hs @ enc_hs.transpose(0, 2, 1)  # (N, T, S)
        a = softmax(scores, mask=None if mask is None else mask[:, None, :])
        self.cache = (enc_hs, dec_hs, a)
        self.weights = a
        return a @ enc_hs  # (N, T, H)

    def step(self, enc_hs, h, mask=None):
        """One decoder step for decoding (no cache): h (N, H) → c (N, H), a (N, S)."""
        scores = (enc_hs @ h[:, :, None])[:, :, 0]  # (N, S)
        a = softmax(scores, mask=mask)
        return (a[:, None, :] @ enc_hs)[:, 0, :], a

    def backward(self, dc):
        enc_hs, dec_hs, a = self.cache
        da = dc @ enc_hs.transpose(0, 2, 1)  # (N, T, S)
        dscores = softmax_backward(a, da)
        denc_hs = a.transpose(0, 2, 1) @ dc + dscores.transpose(0, 2, 1) @ dec_hs  # (N, S, H)
        ddec_hs = dscores @ enc_hs  # (N, T, H)
        return denc_hs, ddec_hs
