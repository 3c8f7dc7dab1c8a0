"""Pure math shared by the layers: no state, no caching."""

from jumok.backend import array_module


def sigmoid(x):
    """σ(x) = 1 / (1 + e^{-x}), written so that large |x| does not overflow."""
    return 0.5 * (array_module(x).tanh(0.5 * x) + 1.0)


def softmax(x, mask=None, axis=-1):
    """softmax(x)_i = exp(x_i - max x) / Σ_j exp(x_j - max x).

    `mask` (bool, broadcastable to x, True = real) gives masked entries weight exactly 0:
    they are set to -inf before the exponential, and exp(-inf) = 0. Every row must keep at
    least one real entry.
    """
    xp = array_module(x)
    if mask is not None:
        x = xp.where(mask, x, -xp.inf)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(y, dy, axis=-1):
    """Given y = softmax(x) and dL/dy, return dL/dx = y ⊙ (dy − Σ_j dy_j y_j)."""
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


def log_softmax(x, axis=-1):
    """log softmax(x) = x − max x − log Σ exp(x − max x)."""
    xp = array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
