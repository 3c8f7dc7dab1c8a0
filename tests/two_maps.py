"""A test model that hands back two named attention maps: proof that training, decoding, the
API, `jumok attention` and the explorer need no change for a model with several maps.

`TwoMapsSeq2seq` is `AttentionSeq2seq` (same parameters, same training) whose `step` with
``maps=True`` hands back, besides the decoder's ``cross`` attention a, a second map
``cross/1/0``: the sharpened attention a² / Σ a² over the same source positions (a softmax
is > 0 on every real position and exactly 0 on padding, so this is a distribution over the
real positions too, 0 on padding, in reading order because a is). It depends on the
decoding state, so a wrong `select` or replay shows up in it as in ``cross``.

To train it through the CLI it must be in the model registry (the config validates `model`
against it): `registered(monkeypatch)` adds it under `NAME` for one test (or a
``pytest.MonkeyPatch.context()`` for a module).
"""

from jumok.models import registry
from jumok.models.seq2seq import AttentionSeq2seq

NAME = "two-maps"
SECOND = "cross/1/0"


def sharpened(a):
    """a² / Σ a², row by row: (N, S) → (N, S)."""
    squared = a * a
    return squared / squared.sum(axis=-1, keepdims=True)


class TwoMapsSeq2seq(AttentionSeq2seq):
    """`AttentionSeq2seq` with a second map, ``cross/1/0`` = `sharpened` ``cross``."""

    name = NAME
    map_names = ("cross", SECOND)

    def step(self, tokens, state, maps=False):
        scores, state, found = super().step(tokens, state, maps)
        if maps:
            found = {"cross": found["cross"], SECOND: sharpened(found["cross"])}
        return scores, state, found


def registered(monkeypatch):
    """Put `TwoMapsSeq2seq` in `jumok.models.MODELS` until `monkeypatch` undoes it."""
    monkeypatch.setitem(registry.MODELS, NAME, TwoMapsSeq2seq)
    return TwoMapsSeq2seq
