"""Attention maps by name: the one naming scheme every model hands its attention back in
(`jumok.models.interface`), and what readers that draw or send maps do with the names.

A map is an (output steps, source positions) array whose rows each sum to 1 over the real
source positions. Names:

    cross            the chapter's decoder: where each output step looks in the source
    cross/L/H        layer L's head H attending from the decoder to the encoder
    enc-self/L/H     the encoder's self-attention (source positions down and across)
    dec-self/L/H     the decoder's causal self-attention (output steps down and across)

Layers and heads count from 0. A model computes no means: `cross_attention` gives the mean
of the cross maps for whoever wants one picture.
"""

import numpy as np

CROSS = "cross"


def cross_names(names):
    """The names of the cross-attention maps among `names`: ``cross`` or ``cross/L/H``."""
    return [name for name in names if name == CROSS or name.startswith(CROSS + "/")]


def cross_attention(maps):
    """One (steps, S) map of where the output looked: ``maps["cross"]`` itself, or the mean of
    the ``cross/L/H`` maps; None when `maps` holds no cross-attention."""
    names = cross_names(maps)
    if not names:
        return None
    if names == [CROSS]:
        return maps[CROSS]
    return np.mean([maps[name] for name in names], axis=0)


def map_axes(name, source_tokens, steps):
    """(labels across, labels down) of the map `name`: a self-attention map has the source (or
    the output steps) both across and down; every other map the source across, output steps
    down."""
    if name.startswith("enc-self"):
        return source_tokens, source_tokens
    if name.startswith("dec-self"):
        return steps, steps
    return source_tokens, steps


def pick(maps, names):
    """{name: map} of the `names` asked for (all of `maps` when `names` is empty), in the order
    asked; `KeyError` naming the first unknown one and the names there are."""
    names = list(names) or list(maps)
    unknown = [name for name in names if name not in maps]
    if unknown:
        raise KeyError(f"no attention map named {unknown[0]!r}; this model has {', '.join(maps) or 'none'}")
    return {name: maps[name] for name in names}
