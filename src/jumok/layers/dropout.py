"""Inverted dropout."""

import math

from jumok.backend import array_module
from jumok.layers.base import Module


class Dropout(Module):
    """Training: y = x ⊙ m / (1 − p) with m ~ Bernoulli(1 − p); evaluation: y = x.

    Scaling by 1/(1 − p) at training time keeps E[y] = x, so nothing changes at test time
    (Srivastava et al., 2014, "inverted" form). Backward: dx = dy ⊙ m / (1 − p).
    The mask compares 16-bit random integers u with the threshold t = round(p · 2¹⁶), keeping
    u ≥ t: four of them come from one 64-bit draw of the generator, a quarter of the draws of
    one float per entry. An entry is dropped with probability t / 2¹⁶, within 2⁻¹⁷ of p, so
    E[y] = x to a relative 2⁻¹⁷ / (1 − p).
    The random generator (a NumPy Generator) is passed in, so runs are reproducible; masks
    are drawn on the host and copied to the device of x, so a GPU run draws the same masks.

    x is batch-first, (N, ...). By default the mask is drawn for x's own N rows. With
    `rows = (total, start, stop)` x holds rows start:stop of a batch of `total` rows, and
    its mask is those rows of the whole batch's (`uniform_uint16_rows`: only they are drawn,
    the generator skipping the rest): data-parallel workers or threads (each with its slice
    of the batch and the same generator) then draw together exactly the masks one process
    draws for the whole batch, and each generator ends where that draw leaves it. With the
    slice 0:N of N rows that is the default draw, number for number. `set_rows` sets it on
    every Dropout of a model.
    """

    def __init__(self, p, rng):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng
        self.rows = None  # (total, start, stop): x is rows start:stop of a batch of total rows
        self.scale = None

    def forward(self, x):
        if not self.training or self.p == 0.0:
            self.scale = None
            return x
        total, start, stop = self.rows or (x.shape[0], 0, x.shape[0])
        if stop - start != x.shape[0]:
            raise ValueError(f"dropout expected rows {start}:{stop} of a batch of {total}, got {x.shape[0]} rows")
        keep = uniform_uint16_rows(self.rng, total, x.shape[1:], start, stop) >= round(self.p * 2**16)
        scale = keep.astype(x.dtype) / (1.0 - self.p)  # on the host
        self.scale = array_module(x).asarray(scale)  # the same array when x is a NumPy array
        return x * self.scale

    def backward(self, dy):
        return dy if self.scale is None else dy * self.scale


def uniform_uint16(rng, shape):
    """Integers uniform in [0, 2¹⁶), four to each 64-bit output of `rng`'s bit generator
    (read little-endian, so every machine draws the same ones)."""
    size = math.prod(shape)
    raw = rng.bit_generator.random_raw(-(-size // 4)).astype("<u8", copy=False)
    return raw.view("<u2")[:size].reshape(shape)


def uniform_uint16_rows(rng, total, shape, start, stop):
    """Rows start:stop of ``uniform_uint16(rng, (total, *shape))``, leaving `rng` where that
    whole draw leaves it, but drawing only the 64-bit outputs that hold those rows: the
    bit generator's `advance` (PCG64's, NumPy's default) skips the outputs before them and
    after. A bit generator without `advance` draws the whole batch and cuts it."""
    bits = rng.bit_generator
    if not hasattr(bits, "advance"):
        return uniform_uint16(rng, (total, *shape))[start:stop]
    row = math.prod(shape)
    first, last, outputs = start * row, stop * row, -(-total * row // 4)  # 16-bit numbers; 64-bit draws
    skip, drawn = first // 4, -(-last // 4) - first // 4
    if skip:
        bits.advance(skip)
    raw = bits.random_raw(drawn).astype("<u8", copy=False).view("<u2")
    if outputs - skip - drawn:
        bits.advance(outputs - skip - drawn)
    return raw[first - 4 * skip : last - 4 * skip].reshape(stop - start, *shape)


def set_rows(model, rows):
    """Tell every Dropout in `model` which rows of the batch its inputs hold: ``(total,
    start, stop)``, or None for the whole of x (see `Dropout`)."""
    for module in model.modules():
        if isinstance(module, Dropout):
            module.rows = rows
