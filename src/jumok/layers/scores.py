"""Attention score functions: how well decoder state h matches encoder state hs.

Every score module works batch-first on all decoder steps at once (teacher forcing) and
on one step at a time (decoding):

    forward(enc_hs (N, S, He), dec_hs (N, T, Hd)) -> scores (N, T, S)   caches for backward
    backward(dscores (N, T, S)) -> (denc_hs (N, S, He), ddec_hs (N, T, Hd))
                                   parameter gradients are ADDED into self.grads
    prepare(enc_hs (N, S, He)) -> per-row array (N, ...) or None      once per source batch
    step(enc_hs (N, S, He), h (N, Hd), prepared=None) -> scores (N, S)   no cache

`prepare` holds whatever depends on the encoder states only (the additive score's
enc_hs @ W1), so decoding does not redo it at every step. `step` works without it too.

`make_score(name, dec_dim, enc_dim, rng)` builds one by its name in `SCORES`.
"""

import math

import numpy as np

from jumok.backend import array_module
from jumok.layers.base import Module

SCORES = ("dot", "scaled-dot", "general", "additive")


def _flat(x):
    """(..., D) -> (prod(...), D) view, for summing a parameter gradient over N, T, S."""
    return x.reshape(-1, x.shape[-1])


class DotScore(Module):
    """Dot score (Luong et al., 2015, "dot"; the chapter's attention).

        score(h, hs) = h · hs
        scores = dec_hs @ enc_hsᵀ                (N, T, S)

    Backward:
        denc_hs = dscoresᵀ @ dec_hs              (N, S, H)
        ddec_hs = dscores @ enc_hs               (N, T, H)

    Shapes: enc_hs (N, S, H), dec_hs (N, T, H): needs He == Hd. No parameters.
    """

    def forward(self, enc_hs, dec_hs):
        _same_width(enc_hs, dec_hs)
        self.cache = (enc_hs, dec_hs)
        return dec_hs @ enc_hs.transpose(0, 2, 1)  # (N, T, S)

    def backward(self, dscores):
        enc_hs, dec_hs = self.cache
        return dscores.transpose(0, 2, 1) @ dec_hs, dscores @ enc_hs

    def prepare(self, enc_hs):
        return None

    def step(self, enc_hs, h, prepared=None):
        _same_width(enc_hs, h)
        return (enc_hs @ h[:, :, None])[:, :, 0]  # (N, S)


class ScaledDotScore(DotScore):
    """Scaled dot score (Vaswani et al., 2017, "Attention Is All You Need").

        score(h, hs) = h · hs / √H
        scores = dec_hs @ enc_hsᵀ / √H           (N, T, S)

    Dividing by √H keeps the scores' variance near 1 for unit-variance states, so the
    softmax does not saturate as H grows.

    Backward (dot's, with the upstream gradient scaled):
        denc_hs = (dscores / √H)ᵀ @ dec_hs       (N, S, H)
        ddec_hs = (dscores / √H) @ enc_hs        (N, T, H)

    Shapes as DotScore (He == Hd == H). No parameters.
    """

    @staticmethod
    def _scale(x):
        return math.sqrt(x.shape[-1])  # a Python float: keeps float32 arrays float32

    def forward(self, enc_hs, dec_hs):
        return super().forward(enc_hs, dec_hs) / self._scale(enc_hs)

    def backward(self, dscores):
        return super().backward(dscores / self._scale(self.cache[0]))

    def step(self, enc_hs, h, prepared=None):
        return super().step(enc_hs, h) / self._scale(enc_hs)


class GeneralScore(Module):
    """General (bilinear) score (Luong et al., 2015, "general").

        score(h, hs) = h W hsᵀ
        q      = dec_hs @ W                      (N, T, He)
        scores = q @ enc_hsᵀ                     (N, T, S)

    Backward:
        dq      = dscores @ enc_hs               (N, T, He)
        denc_hs = dscoresᵀ @ q                   (N, S, He)
        ddec_hs = dq @ Wᵀ                        (N, T, Hd)
        dW      = Σ_{N,T} dec_hsᵀ dq             (Hd, He)

    Shapes: enc_hs (N, S, He), dec_hs (N, T, Hd), W (Hd, He); He and Hd may differ.
    W starts as randn / √Hd.
    """

    def __init__(self, dec_dim, enc_dim, rng, dtype=np.float32):
        super().__init__()
        scale = 1.0 / np.sqrt(dec_dim)
        self.add_param("W", (rng.standard_normal((dec_dim, enc_dim)) * scale).astype(dtype))

    def forward(self, enc_hs, dec_hs):
        q = dec_hs @ self.params["W"]  # (N, T, He)
        self.cache = (enc_hs, dec_hs, q)
        return q @ enc_hs.transpose(0, 2, 1)

    def backward(self, dscores):
        enc_hs, dec_hs, q = self.cache
        dq = dscores @ enc_hs  # (N, T, He)
        self.grads["W"] += _flat(dec_hs).T @ _flat(dq)
        return dscores.transpose(0, 2, 1) @ q, dq @ self.params["W"].T

    def prepare(self, enc_hs):
        return None

    def step(self, enc_hs, h, prepared=None):
        q = h @ self.params["W"]  # (N, He)
        return (enc_hs @ q[:, :, None])[:, :, 0]


class AdditiveScore(Module):
    """Additive (concat) score (Bahdanau, Cho & Bengio, 2015).

        score(h, hs) = v · tanh(hs W1 + h W2)
        e      = enc_hs @ W1                     (N, S, A)
        d      = dec_hs @ W2                     (N, T, A)
        z      = tanh(e[:, None] + d[:, :, None])   (N, T, S, A)
        scores = z @ v                           (N, T, S)

    Backward:
        dv      = Σ_{N,T,S} dscores ⊙ z          (A,)
        dp      = (dscores ⊗ v) ⊙ (1 − z²)       (N, T, S, A)   through tanh
        de      = Σ_T dp                         (N, S, A)
        dd      = Σ_S dp                         (N, T, A)
        dW1     = Σ_{N,S} enc_hsᵀ de             (He, A)
        dW2     = Σ_{N,T} dec_hsᵀ dd             (Hd, A)
        denc_hs = de @ W1ᵀ                       (N, S, He)
        ddec_hs = dd @ W2ᵀ                       (N, T, Hd)

    Shapes: W1 (He, A), W2 (Hd, A), v (A,); A = attention_dim (default Hd). Each starts
    as randn / √(fan-in). The batched pass holds a (N, T, S, A) tensor.
    `prepare(enc_hs)` returns e = enc_hs @ W1, which is the same at every decoding step.
    """

    def __init__(self, dec_dim, enc_dim, rng, attention_dim=None, dtype=np.float32):
        super().__init__()
        A = dec_dim if attention_dim is None else attention_dim
        self.add_param("W1", (rng.standard_normal((enc_dim, A)) / np.sqrt(enc_dim)).astype(dtype))
        self.add_param("W2", (rng.standard_normal((dec_dim, A)) / np.sqrt(dec_dim)).astype(dtype))
        self.add_param("v", (rng.standard_normal(A) / np.sqrt(A)).astype(dtype))

    def forward(self, enc_hs, dec_hs):
        e = self.prepare(enc_hs)  # (N, S, A)
        d = dec_hs @ self.params["W2"]  # (N, T, A)
        z = array_module(e).tanh(e[:, None, :, :] + d[:, :, None, :])  # (N, T, S, A)
        self.cache = (enc_hs, dec_hs, z)
        return z @ self.params["v"]

    def backward(self, dscores):
        enc_hs, dec_hs, z = self.cache
        W1, W2, v = self.params["W1"], self.params["W2"], self.params["v"]
        self.grads["v"] += _flat(z).T @ dscores.reshape(-1)
        dp = (dscores[..., None] * v) * (1 - z * z)  # (N, T, S, A)
        de = dp.sum(axis=1)  # (N, S, A)
        dd = dp.sum(axis=2)  # (N, T, A)
        self.grads["W1"] += _flat(enc_hs).T @ _flat(de)
        self.grads["W2"] += _flat(dec_hs).T @ _flat(dd)
        return de @ W1.T, dd @ W2.T

    def prepare(self, enc_hs):
        return enc_hs @ self.params["W1"]

    def step(self, enc_hs, h, prepared=None):
        e = self.prepare(enc_hs) if prepared is None else prepared  # (N, S, A)
        z = array_module(e).tanh(e + (h @ self.params["W2"])[:, None, :])  # (N, S, A)
        return z @ self.params["v"]


def _same_width(enc_hs, dec):
    if enc_hs.shape[-1] != dec.shape[-1]:
        raise ValueError(
            f"dot scores need equal encoder and decoder widths, got {enc_hs.shape[-1]} and "
            f"{dec.shape[-1]}; use 'general' or 'additive'"
        )


def make_score(name, dec_dim, enc_dim, rng, dtype=np.float32):
    """The score module called `name` (one of SCORES) for decoder width `dec_dim` and
    encoder width `enc_dim`; parameters drawn from the numpy Generator `rng`."""
    if name in ("dot", "scaled-dot"):
        if dec_dim != enc_dim:
            raise ValueError(
                f"attention score {name!r} needs dec_dim == enc_dim, got {dec_dim} and {enc_dim}; "
                "use 'general' or 'additive'"
            )
        return DotScore() if name == "dot" else ScaledDotScore()
    if name == "general":
        return GeneralScore(dec_dim, enc_dim, rng, dtype=dtype)
    if name == "additive":
        return AdditiveScore(dec_dim, enc_dim, rng, dtype=dtype)
    raise ValueError(f"unknown attention score {name!r}; choose one of {', '.join(SCORES)}")
