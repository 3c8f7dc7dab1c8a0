"""Attention for every decoder step at once, as batched matrix products, with a selectable
score function (jumok.layers.scores)."""


from jumok.functional import softmax, softmax_backward
from jumok.layers.base import Module
from jumok.layers.scores import DotScore


class TimeAttention(Module):
    """With teacher forcing every decoder state is known up front, so the chapter's
    Repeat → Hadamard → Sum chain for all T steps collapses into batched products:

        scores = score(enc_hs, dec_hs)          (N, T, S)   dot: dec_hs @ enc_hsᵀ
        a      = softmax_S(scores, mask)        (N, T, S)   padding gets weight exactly 0
        c      = a @ enc_hs                     (N, T, He)

    Backward:
        da       = dc @ enc_hsᵀ                 dscores = a ⊙ (da − Σ_S da ⊙ a)
        denc_s, ddec_hs = score.backward(dscores)     (dot: dscoresᵀ @ dec_hs, dscores @ enc_hs)
        denc_hs  = aᵀ @ dc + denc_s             (the two uses of enc_hs added)

    `score` is a module from jumok.layers.scores (default DotScore(), the chapter's); it is
    kept as `self.score`, so its parameters are named "score.W" etc.

    Shapes: enc_hs (N, S, He), dec_hs (N, T, Hd), mask (N, S) bool → c (N, T, He);
    `weights` keeps a (N, T, S) for drawing.
    """

    def __init__(self, score=None):
        super().__init__()
        if score is not None and not isinstance(score, Module):
            raise TypeError(f"score must be a score module (jumok.layers.scores), got {score!r}")
        self.score = DotScore() if score is None else score

    def forward(self, enc_hs, dec_hs, mask=None):
        scores = self.score.forward(enc_hs, dec_hs)  # (N, T, S)
        a = softmax(scores, mask=None if mask is None else mask[:, None, :])
        self.cache = (enc_hs, a)
        self.weights = a
        return a @ enc_hs  # (N, T, He)

    def prepare(self, enc_hs):
        """Per-row cache (N, ...) for `step` (the score's; None where it has none)."""
        return self.score.prepare(enc_hs)

    def step(self, enc_hs, h, mask=None, prepared=None):
        """One decoder step for decoding (no cache): h (N, Hd) → c (N, He), a (N, S).

        `prepared` is `self.prepare(enc_hs)`, computed once per source batch (optional)."""
        scores = self.score.step(enc_hs, h, prepared=prepared)  # (N, S)
        a = softmax(scores, mask=mask)
        return (a[:, None, :] @ enc_hs)[:, 0, :], a

    def backward(self, dc):
        enc_hs, a = self.cache
        da = dc @ enc_hs.transpose(0, 2, 1)  # (N, T, S)
        dscores = softmax_backward(a, da)
        denc_scores, ddec_hs = self.score.backward(dscores)
        denc_hs = a.transpose(0, 2, 1) @ dc + denc_scores  # (N, S, He)
        return denc_hs, ddec_hs
