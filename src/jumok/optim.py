"""Optimizers and gradient clipping. They work on a model's named parameters, in place."""

import numpy as np


def clip_grad_norm(named_grads, max_norm):
    """Scale all gradients together so that their global L2 norm is at most `max_norm`.

        ‖g‖ = sqrt(Σ_k ‖g_k‖²);  if ‖g‖ > max_norm:  g_k ← g_k · max_norm / ‖g‖

    Returns the norm before clipping (useful to log, and to spot NaN).
    """
    grads = [g for _, g in named_grads]
    norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads)))
    if max_norm and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads:
            g *= scale
    return norm


class SGD:
    """θ ← θ − lr · g."""

    def __init__(self, model, lr=0.1):
        self.model = model
        self.lr = lr
        self.step_count = 0

    def step(self):
        for _, p, g in self.model.named_parameters():
            p -= self.lr * g
        self.step_count += 1

    def state(self):
        return {}

    def load_state(self, arrays):
        pass


class Adam:
    """Adam (Kingma & Ba, 2015), with bias correction folded into the step size:

        m ← β₁ m + (1 − β₁) g          v ← β₂ v + (1 − β₂) g²
        θ ← θ − lr · sqrt(1 − β₂ᵗ) / (1 − β₁ᵗ) · m / (sqrt(v) + ε)
    """

    def __init__(self, model, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.model = model
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.step_count = 0
        self.m = {name: np.zeros_like(p) for name, p, _ in model.named_parameters()}
        self.v = {name: np.zeros_like(p) for name, p, _ in model.named_parameters()}
        self._scratch = {}  # one work array per parameter, so a step allocates nothing big

    def step(self):
        self.step_count += 1
        t = self.step_count
        lr_t = float(self.lr * np.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t))
        for name, p, g in self.model.named_parameters():
            m, v = self.m[name], self.v[name]
            scratch = self._scratch.get(name)
            if scratch is None or scratch.shape != g.shape or scratch.dtype != g.dtype:
                scratch = self._scratch[name] = g.copy()
            m *= self.beta1  # m ← β₁ m + (1 − β₁) g, in place
            m += (1 - self.beta1) * g
            v *= self.beta2  # v ← β₂ v + (1 − β₂) g²
            np.multiply(g, g, out=scratch)
            scratch *= 1 - self.beta2
            v += scratch
            np.sqrt(v, out=scratch)  # θ ← θ − lr_t · m / (√v + ε)
            scratch += self.eps
            np.divide(m, scratch, out=scratch)
            scratch *= lr_t
            p -= scratch

    def state(self):
        """Moments by parameter name, for checkpoints."""
        return {**{f"m.{k}": a for k, a in self.m.items()}, **{f"v.{k}": a for k, a in self.v.items()}}

    def load_state(self, arrays):
        """Copy saved moments back in place; every name and shape must match."""
        own = self.state()
        if set(arrays) != set(own):
            raise ValueError(f"optimizer state names differ: {sorted(set(own) ^ set(arrays))[:5]}")
        for name, a in own.items():
            if arrays[name].shape != a.shape:
                raise ValueError(f"optimizer state {name}: shape {arrays[name].shape}, expected {a.shape}")
            a[...] = arrays[name]


OPTIMIZERS = {"adam": Adam, "sgd": SGD}
