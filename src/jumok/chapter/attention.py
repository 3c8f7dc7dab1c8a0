"""Attention in the literal form of the chapter: Repeat → Hadamard → Sum, step by step.

These layers are the readable reference. `jumok.layers.time_attention.TimeAttention`
computes the same thing for every decoder step at once; tests/chapter/test_attention.py proves the
two agree in forward and backward.

Two facts make the backward passes short:
  * Repeat and Sum are each other's backward: repeating a vector over an axis sends back
    the *sum* of the gradients along that axis; summing over an axis sends back the
    gradient *repeated* along it.
  * A Hadamard product z = x ⊙ y sends back dx = dz ⊙ y and dy = dz ⊙ x.
"""

from jumok.backend import array_module
from jumok.functional import softmax, softmax_backward


class AttentionWeight:
    """Alignment of one decoder state with every encoder state.

        hr = repeat(h, S)          (N, S, H)   h copied to every source position
        t  = hs ⊙ hr               (N, S, H)
        s  = Σ_H t                 (N, S)      dot product h · hs[s]
        a  = softmax(s)            (N, S)      masked positions get exactly 0

    Backward: ds = softmax'(da); dt = repeat(ds, H); dhs = dt ⊙ hr; dhr = dt ⊙ hs;
    dh = Σ_S dhr.
    """

    def forward(self, hs, h, mask=None):
        N, S, H = hs.shape
        hr = array_module(hs).repeat(h[:, None, :], S, axis=1)  # (N, S, H)
        t = hs * hr
        s = t.sum(axis=2)  # (N, S)
        a = softmax(s, mask=mask)
        self.cache = (hs, hr, a)
        return a

    def backward(self, da):
        hs, hr, a = self.cache
        H = hs.shape[2]
        ds = softmax_backward(a, da)  # (N, S)
        dt = array_module(hs).repeat(ds[:, :, None], H, axis=2)  # Sum's backward is Repeat
        dhs = dt * hr  # Hadamard: each factor gets the other one
        dhr = dt * hs
        dh = dhr.sum(axis=1)  # Repeat's backward is Sum
        return dhs, dh


class WeightSum:
    """Context vector: the attention-weighted sum of the encoder states.

        ar = repeat(a, H)          (N, S, H)
        t  = hs ⊙ ar               (N, S, H)
        c  = Σ_S t                 (N, H)

    Backward: dt = repeat(dc, S); dhs = dt ⊙ ar; dar = dt ⊙ hs; da = Σ_H dar.
    """

    def forward(self, hs, a):
        N, S, H = hs.shape
        ar = array_module(hs).repeat(a[:, :, None], H, axis=2)  # (N, S, H)
        t = hs * ar
        c = t.sum(axis=1)  # (N, H)
        self.cache = (hs, ar)
        return c

    def backward(self, dc):
        hs, ar = self.cache
        S = hs.shape[1]
        dt = array_module(hs).repeat(dc[:, None, :], S, axis=1)  # (N, S, H)
        dhs = dt * ar
        dar = dt * hs
        da = dar.sum(axis=2)  # (N, S)
        return dhs, da


class Attention:
    """AttentionWeight followed by WeightSum for one decoder step.

        a = AttentionWeight(hs, h);  c = WeightSum(hs, a)

    `hs` feeds both branches, so its two gradients are added in backward.
    Shapes: hs (N, S, H), h (N, H), mask (N, S) → c (N, H); `weights` keeps a (N, S).
    """

    def __init__(self):
        self.weight_layer = AttentionWeight()
        self.sum_layer = WeightSum()
        self.weights = None

    def forward(self, hs, h, mask=None):
        a = self.weight_layer.forward(hs, h, mask)
        self.weights = a
        return self.sum_layer.forward(hs, a)

    def backward(self, dc):
        dhs_sum, da = self.sum_layer.backward(dc)
        dhs_weight, dh = self.weight_layer.backward(da)
        return dhs_sum + dhs_weight, dh


class StepwiseTimeAttention:
    """The chapter's TimeAttention: one `Attention` per decoder step, run in a loop.

    Kept as the plain reference that `TimeAttention` must equal exactly.
    Shapes: enc_hs (N, S, H), dec_hs (N, T, H), mask (N, S) → c (N, T, H).
    """

    def forward(self, enc_hs, dec_hs, mask=None):
        T = dec_hs.shape[1]
        self.layers = [Attention() for _ in range(T)]
        xp = array_module(dec_hs)
        out = xp.empty_like(dec_hs)
        for t, layer in enumerate(self.layers):
            out[:, t] = layer.forward(enc_hs, dec_hs[:, t], mask)
        self.weights = xp.stack([layer.weights for layer in self.layers], axis=1)  # (N, T, S)
        return out

    def backward(self, dc):
        denc_hs = 0
        ddec_hs = array_module(dc).empty_like(dc)
        for t, layer in enumerate(self.layers):
            dhs, dh = layer.backward(dc[:, t])
            denc_hs = denc_hs + dhs
            ddec_hs[:, t] = dh
        return denc_hs, ddec_hs
