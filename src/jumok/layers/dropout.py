"""Inverted dropout."""

from jumok.backend import array_module
from jumok.layers.base import Module


class Dropout(Module):
    """Training: y = x ⊙ m / (1 − p) with m ~ Bernoulli(1 − p); evaluation: y = x.

    Scaling by 1/(1 − p) at training time keeps E[y] = x, so nothing changes at test time
    (Srivastava et al., 2014, "inverted" form). Backward: dx = dy ⊙ m / (1 − p).
    The random generator (a NumPy Generator) is passed in, so runs are reproducible; masks
    are drawn on the host and copied to the device of x, so a GPU run draws the same masks.
    """

    def __init__(self, p, rng):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng
        self.scale = None

    def forward(self, x):
        if not self.training or self.p == 0.0:
            self.scale = None
            return x
        keep = self.rng.random(x.shape) >= self.p
        scale = keep.astype(x.dtype) / (1.0 - self.p)  # on the host
        self.scale = array_module(x).asarray(scale)  # the same array when x is a NumPy array
        return x * self.scale

    def backward(self, dy):
        return dy if self.scale is None else dy * self.scale
