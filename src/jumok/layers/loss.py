"""Softmax cross-entropy over a sequence, ignoring padded positions (optionally label-smoothed)."""

from jumok.backend import array_module
from jumok.functional import log_softmax


class SoftmaxCrossEntropy:
    """L = −(1/M) Σ_{(n,t) real} log softmax(x[n, t])[y[n, t]],  M = number of real targets.

    Backward (with dL = 1): dx[n, t] = (softmax(x[n, t]) − onehot(y[n, t])) / M at real
    positions and exactly 0 at padding, so padded targets never reach the model.

    `count` overrides M: data-parallel training gives each worker a slice of the batch and
    M = the real targets of the *whole* batch (`jumok.parallel`), so that the workers'
    losses and gradients add up to the whole batch's. By default M counts the `mask` given,
    max(M, 1) either way.

    Label smoothing ε (`smoothing`, 0 by default) trains towards q = (1 − ε) onehot(y) + ε/V
    instead of onehot(y), so a model is never pushed to make one output certain:

        L = −(1/M) Σ_{(n,t) real} [ (1 − ε) log p_y + (ε/V) Σ_v log p_v ],   dx = (p − q) / M.

    Shapes: scores (N, T, V), targets (N, T) int, mask (N, T) bool → scalar.
    """

    def __init__(self, smoothing=0.0):
        self.smoothing = smoothing

    def forward(self, scores, targets, mask=None, count=None):
        xp = array_module(scores)
        if mask is None:
            mask = xp.ones(targets.shape, dtype=bool)
        logp = log_softmax(scores)  # (N, T, V)
        picked = xp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]  # (N, T)
        if self.smoothing:
            picked = (1 - self.smoothing) * picked + self.smoothing * logp.mean(axis=-1)
        self.count = max(int(mask.sum()) if count is None else int(count), 1)
        self.cache = (logp, targets, mask)
        return -float((picked * mask).sum()) / self.count

    def backward(self, dloss=1.0):
        logp, targets, mask = self.cache
        xp = array_module(logp)
        dx = xp.exp(logp)  # softmax, (N, T, V)
        rows = dx.reshape(-1, dx.shape[-1])  # (N·T, V) view
        if self.smoothing:
            rows -= self.smoothing / rows.shape[1]  # − ε/V
        rows[xp.arange(rows.shape[0]), targets.reshape(-1)] -= 1 - self.smoothing  # − (1 − ε) onehot(y)
        dx *= (mask * (dloss / self.count))[..., None].astype(dx.dtype)
        return dx
