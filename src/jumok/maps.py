"""Attention maps by name: the one naming scheme every model hands its attention back in
(`jumok.models.interface`), and what readers that draw or send maps do with the names.

A map is an array whose rows are distributions: each sums to 1 over what that row may see,
and is 0 elsewhere (padding; later steps in causal self-attention). Names, by kind:

    cross            the chapter's decoder: where each output step looks in the source
    cross/L/H        layer L's head H attending from the decoder to the encoder
    enc-self/L/H     the encoder's self-attention (source positions down and across)
    dec-self/L/H     the decoder's causal self-attention (output steps down, the tokens
                     fed at those steps across: row t over steps 0..t, 0 after)

Shapes, for one output of `steps` steps over a source of S real tokens: cross maps
(steps, S), enc-self maps (S, S), dec-self maps (steps, steps). Layers and heads count from 0.
A model computes no means: `cross_attention` gives the mean of the cross maps for whoever
wants one picture, and a `Choice` one layer's or head's map, or a mean over layers or heads.

Decoding hands back only the kinds asked for (`kinds`): the cross maps with ``maps=True``,
the self-attention when named.
"""

import re
from dataclasses import dataclass

import numpy as np

CROSS = "cross"
ENC_SELF = "enc-self"
DEC_SELF = "dec-self"
KINDS = (CROSS, ENC_SELF, DEC_SELF)
TITLES = {CROSS: "cross-attention", ENC_SELF: "encoder self-attention", DEC_SELF: "decoder self-attention"}
START = "<s>"  # the label of the start token, the first input of the decoder
LAYERED = re.compile(r"^(?P<kind>[a-z-]+)/(?P<layer>\d+)/(?P<head>\d+)$")


def kind_of(name):
    """The kind of the map `name`: ``cross``, ``enc-self`` or ``dec-self``."""
    return name.split("/", 1)[0]


def kinds(maps):
    """The kinds of map that `maps` asks for, as a frozenset: nothing for False or None, the
    cross maps for True, else the kinds named (one name or several). `ValueError` naming an
    unknown kind."""
    if maps is None or maps is False:
        return frozenset()
    if maps is True:
        return frozenset({CROSS})
    asked = frozenset([maps] if isinstance(maps, str) else maps)
    unknown = sorted(asked - set(KINDS))
    if unknown:
        raise ValueError(f"no kind of attention map named {unknown[0]!r}; the kinds are {', '.join(KINDS)}")
    return asked


def cross_names(names):
    """The names of the cross-attention maps among `names`: ``cross`` or ``cross/L/H``."""
    return [name for name in names if kind_of(name) == CROSS]


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
    """(labels across, labels down) of the map `name`: the source across and down for an
    encoder self-attention map; for a decoder self-attention map the tokens fed at each step
    across (the start token, then each step's output but the last) and the output steps
    down; for every other map the source across, output steps down."""
    if kind_of(name) == ENC_SELF:
        return source_tokens, source_tokens
    if kind_of(name) == DEC_SELF:
        return [START, *steps[:-1]], steps
    return source_tokens, steps


def pick(maps, names):
    """{name: map} of the `names` asked for (all of `maps` when `names` is empty), in the order
    asked; `KeyError` naming the first unknown one and the names there are."""
    names = list(names) or list(maps)
    unknown = [name for name in names if name not in maps]
    if unknown:
        raise KeyError(f"no attention map named {unknown[0]!r}; this model has {', '.join(maps) or 'none'}")
    return {name: maps[name] for name in names}


def layers_and_heads(names, kind):
    """{layer: [heads]} of the ``kind/L/H`` names among `names`, both in increasing order."""
    found = {}
    for name in names:
        match = LAYERED.match(name)
        if match and match["kind"] == kind:
            found.setdefault(int(match["layer"]), []).append(int(match["head"]))
    return {layer: sorted(found[layer]) for layer in sorted(found)}


@dataclass(frozen=True)
class Choice:
    """One picture of the maps of one kind: layer `layer`'s head `head`; without `head` the
    mean over that layer's heads; without `layer` the mean of head `head` over the layers;
    with neither the mean over every layer and head of the kind (for ``cross`` of the
    chapter's decoder, its one map)."""

    kind: str = CROSS
    layer: int | None = None
    head: int | None = None

    def __post_init__(self):
        kinds(self.kind)  # a ValueError for an unknown kind

    @property
    def default(self):
        """Whether this is the plain picture: the cross-attention, every layer and head."""
        return (self.kind, self.layer, self.head) == (CROSS, None, None)

    def names(self, names):
        """(the names among `names` this choice averages, what it is: e.g. "cross-attention,
        layer 1, head 2" or "cross-attention, mean over the 4 heads of layer 0"). `LookupError`
        (one line) for a kind, layer or head that `names` lacks, or for a layer or head asked
        of a kind that is one map without them (the chapter's ``cross``)."""
        kind, layer, head = self.kind, self.layer, self.head
        title, grid = TITLES[kind], layers_and_heads(names, kind)
        if not grid:
            if kind in names and layer is None and head is None:
                return [kind], title
            if kind in names:
                raise LookupError(f"this model's {title} is one map ({kind!r}), without layers or heads to choose")
            raise LookupError(f"this model has no {title} maps; it has {', '.join(names) or 'none'}")
        if layer is not None and layer not in grid:
            raise LookupError(f"no layer {layer}: this model's {title} has layers 0 to {max(grid)}")
        heads = grid[layer] if layer is not None else sorted({h for hs in grid.values() for h in hs})
        if head is not None and head not in heads:
            raise LookupError(f"no head {head}: this model's {title} has heads 0 to {max(heads)}")
        layers = [layer] if layer is not None else list(grid)
        chosen = [f"{kind}/{l}/{h}" for l in layers for h in grid[l] if head is None or h == head]
        return chosen, self._what(title, chosen, len(layers))

    def _what(self, title, chosen, layers):
        if len(chosen) == 1:
            _, layer, head = chosen[0].split("/")
            return f"{title}, layer {layer}, head {head}"
        if self.layer is not None:
            return f"{title}, mean over the {len(chosen)} heads of layer {self.layer}"
        if self.head is not None:
            return f"{title}, head {self.head}, mean over the {len(chosen)} layers"
        return f"{title}, mean over the {len(chosen)} heads of the {layers} layers"

    def mean(self, maps):
        """(the chosen map of `maps`, or the mean of the chosen ones; what it is) (`names`)."""
        chosen, what = self.names(maps)
        return (maps[chosen[0]] if len(chosen) == 1 else np.mean([maps[name] for name in chosen], axis=0)), what
