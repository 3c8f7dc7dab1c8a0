"""Layer normalisation (Ba, Kiros and Hinton, 2016), the Transformer's normaliser.

Each position's D features are centred and scaled by their own mean and spread, so the
statistics depend on no other row of the batch (unlike batch normalisation): training and
decoding one token at a time compute the same thing, and padding rows never leak into real
ones.

In a pre-norm Transformer block (Xiong et al., 2020; what nn.Transformer calls
``norm_first=True``) every sub-layer f (attention, feed-forward) sits in a residual branch,
y = x + f(LN(x)). The residual connection needs no layer of its own: its backward is
dx = dy + (dy carried back through f and LN), the gradients of the two paths adding, so the
identity path hands every layer below an undamped gradient.
"""

import numpy as np

from jumok.backend import array_module
from jumok.layers.base import Module


class LayerNorm(Module):
    """y = γ ⊙ (x − μ) / s + β over the last axis, where
    μ = mean(x),  σ² = mean((x − μ)²),  s = √(σ² + ε)   (per row, over the D features).

    γ = 1 and β = 0 at the start, so the layer begins as a plain normaliser. The variance is
    the biased one (divide by D), and ε = 1e-5 by default: both as `torch.nn.LayerNorm`.

    Backward. Write x̂ = (x − μ)/s and g = dy ⊙ γ = ∂L/∂x̂. The features of a row meet only in
    the two reductions μ and σ², so
        ∂x̂_j/∂x_i = (δ_ij − 1/D)/s − x̂_j ∂s/∂x_i / s,   ∂s/∂x_i = (x_i − μ)/(D s) = x̂_i / D
    (the μ inside σ² contributes nothing: Σ_j (x_j − μ) = 0). Summing g_j over j:
        dx = (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)) / s
    — g itself, less its share through the mean (− mean(g)), less its share through the
    spread (− x̂ mean(g x̂)), all divided by s. Two row means: no D × D Jacobian is formed.
        dγ = Σ dy ⊙ x̂,   dβ = Σ dy        (sums over every leading position)

    Shapes: x (..., D) → y (..., D); γ, β (D,). Any leading shape: (N, T, D), (N, D).
    Parameters: "gamma", "beta".
    """

    def __init__(self, dim, dtype=np.float32, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.add_param("gamma", np.ones(dim, dtype=dtype))
        self.add_param("beta", np.zeros(dim, dtype=dtype))

    def forward(self, x):
        xp = array_module(x)
        mu = x.mean(axis=-1, keepdims=True)  # (..., 1)
        centred = x - mu  # (..., D)
        var = (centred * centred).mean(axis=-1, keepdims=True)  # (..., 1)
        inv_s = 1.0 / xp.sqrt(var + self.eps)  # (..., 1)  1/s: one division per row
        x_hat = centred * inv_s  # (..., D)
        self.cache = (x_hat, inv_s)
        return x_hat * self.params["gamma"] + self.params["beta"]  # (..., D)

    def backward(self, dy):
        x_hat, inv_s = self.cache
        D = x_hat.shape[-1]
        g = dy * self.params["gamma"]  # (..., D)  ∂L/∂x̂
        through_mean = g.mean(axis=-1, keepdims=True)  # (..., 1)
        through_var = (g * x_hat).mean(axis=-1, keepdims=True)  # (..., 1)
        dx = (g - through_mean - x_hat * through_var) * inv_s  # (..., D)
        dy2 = dy.reshape(-1, D)  # (N·T, D)
        self.grads["gamma"] += (dy2 * x_hat.reshape(-1, D)).sum(axis=0)  # (D,)
        self.grads["beta"] += dy2.sum(axis=0)  # (D,)
        return dx
