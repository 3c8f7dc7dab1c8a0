"""Optimizers and gradient clipping. They work on a model's named parameters, in place, on
the parameters' device; their checkpoint state goes in and out as NumPy arrays."""

import numpy as np

from jumok.backend import array_module, to_device, to_numpy


def clip_grad_norm(named_grads, max_norm):
    """Scale all gradients together so that their global L2 norm is at most `max_norm`.

        ‖g‖ = sqrt(Σ_k ‖g_k‖²);  if ‖g‖ > max_norm:  g_k ← g_k · max_norm / ‖g‖

    Returns the norm before clipping (useful to log, and to spot NaN). The squares are summed
    in float64 on the gradients' device; only the norm itself comes to the host.
    """
    grads = [g for _, g in named_grads]
    xp = array_module(*grads[:1])
    norm = float(xp.sqrt(sum(xp.vdot(g, g).astype(np.float64) for g in grads)))
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

    def step(self, lr=None):
        """One step at rate `lr` (default `self.lr`: a per-step schedule passes its own)."""
        lr = self.lr if lr is None else lr
        for _, p, g in self.model.named_parameters():
            p -= lr * g
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
        # the moments live beside the parameters, on their device: move the model first
        self.m = {name: array_module(p).zeros_like(p) for name, p, _ in model.named_parameters()}
        self.v = {name: array_module(p).zeros_like(p) for name, p, _ in model.named_parameters()}
        self._scratch = {}  # one work array per parameter, so a step allocates nothing big

    def step(self, lr=None):
        """One step at rate `lr` (default `self.lr`: a per-step schedule passes its own)."""
        self.step_count += 1
        t = self.step_count
        lr = self.lr if lr is None else lr
        lr_t = float(lr * np.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t))
        for name, p, g in self.model.named_parameters():
            xp = array_module(p)
            m, v = self.m[name], self.v[name]
            scratch = self._scratch.get(name)
            if scratch is None or scratch.shape != g.shape or scratch.dtype != g.dtype:
                scratch = self._scratch[name] = g.copy()
            m *= self.beta1  # m ← β₁ m + (1 − β₁) g, in place
            xp.multiply(g, 1 - self.beta1, out=scratch)
            m += scratch
            v *= self.beta2  # v ← β₂ v + (1 − β₂) g²
            xp.multiply(g, g, out=scratch)
            scratch *= 1 - self.beta2
            v += scratch
            xp.sqrt(v, out=scratch)  # θ ← θ − lr_t · m / (√v + ε)
            scratch += self.eps
            xp.divide(m, scratch, out=scratch)
            scratch *= lr_t
            p -= scratch

    def _moments(self):
        return {**{f"m.{k}": a for k, a in self.m.items()}, **{f"v.{k}": a for k, a in self.v.items()}}

    def state(self):
        """Moments by parameter name, for checkpoints, as NumPy arrays (host copies on a GPU)."""
        return {name: to_numpy(a) for name, a in self._moments().items()}

    def load_state(self, arrays):
        """Copy saved moments (host arrays) back in place, onto the moments' device; every
        name and shape must match."""
        own = self._moments()
        if set(arrays) != set(own):
            raise ValueError(f"optimizer state names differ: {sorted(set(own) ^ set(arrays))[:5]}")
        for name, a in own.items():
            if arrays[name].shape != a.shape:
                raise ValueError(f"optimizer state {name}: shape {arrays[name].shape}, expected {a.shape}")
            a[...] = to_device(arrays[name], array_module(a))


OPTIMIZERS = {"adam": Adam, "sgd": SGD}
"""The optimizers by `Config.optimizer`."""


def optimizer_for(config, model):
    """The optimizer `config` names for `model`'s parameters, at rate `config.lr` (Adam with β₂
    `config.beta2`)."""
    if config.optimizer == "adam":
        return Adam(model, lr=config.lr, beta2=config.beta2)
    return OPTIMIZERS[config.optimizer](model, lr=config.lr)

LR_SCHEDULES = {
    "epoch": "decay after every epoch",
    "plateau": "decay after lr_patience epochs without a better validation score",
    "stall": "decay after every lr_patience epochs in a row in which validation improved in no score (exact match, "
             "token error rate or loss, as patience counts them)",
    "linear": "lower it a little every step, in a straight line from lr after the warm-up to lr × lr_decay at the "
              "run's planned end: the last epoch, or with a time budget the last that fits at the first epoch's pace",
}
"""The learning-rate schedules by `Config.lr_schedule`: each but ``linear`` multiplies the rate by
`Config.lr_decay` at the end of an epoch when its rule says so (`jumok.schedule.next_lr`);
``linear`` and `Config.warmup_steps` scale it step by step (`jumok.schedule.step_lr`)."""
