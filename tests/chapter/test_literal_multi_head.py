"""The literal multi-head attention (the chapter's AttentionWeight + WeightSum, one head and one
query step at a time) equals the batched MultiHeadAttention, forward and backward."""

import numpy as np
import pytest

from jumok.chapter.multi_head import LiteralMultiHeadAttention
from jumok.layers.multi_head import MultiHeadAttention

N, T, S, D, HEADS = 3, 4, 5, 12, 3
TOL = dict(rtol=1e-12, atol=1e-12)


def lengths_mask(lengths, length):
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]


def make_pair(kind, masks, seed=0):
    """A float64 MultiHeadAttention with random biases, the literal form sharing its
    parameters, and forward's arguments: queries padded to 4, 2, 3 (with `masks` =
    "padded"), and for cross-attention keys padded to 5, 1, 3; with "empty", row 1 has
    no real key at all (and, in self-attention, no real query either)."""
    rng = np.random.default_rng(seed)
    layer = MultiHeadAttention(D, HEADS, rng, np.float64, causal=kind == "causal")
    for name in ("bq", "bk", "bv", "bo"):
        layer.params[name][...] = rng.standard_normal(D)
    x = rng.standard_normal((N, T, D))
    memory = rng.standard_normal((N, S, D)) if kind == "cross" else None
    query_mask = key_mask = None
    if masks != "none":
        query_mask = lengths_mask([4, 2, 3], T)
        key_mask = lengths_mask([5, 1, 3], S) if kind == "cross" else query_mask
    if masks == "empty":
        key_mask = key_mask.copy()
        key_mask[1] = False
        if kind != "cross":
            query_mask = key_mask
    args = dict(x=x, memory=memory, key_mask=key_mask, query_mask=query_mask)
    return layer, LiteralMultiHeadAttention.from_layer(layer), args


@pytest.mark.parametrize("masks", ["none", "padded", "empty"])
@pytest.mark.parametrize("kind", ["self", "causal", "cross"])
def test_literal_equals_batched_forward_and_backward(kind, masks):
    layer, literal, args = make_pair(kind, masks)
    assert all(literal.params[name] is layer.params[name] for name in layer.params)
    out = layer.forward(**args)
    np.testing.assert_allclose(literal.forward(**args), out, **TOL)
    np.testing.assert_allclose(literal.weights, layer.weights, **TOL)

    dout = np.random.default_rng(1).standard_normal(out.shape)
    layer.zero_grad()
    batched = layer.backward(dout)
    by_step = literal.backward(dout)
    assert (batched[1] is None) == (by_step[1] is None) == (kind != "cross")
    for got, want in zip(by_step, batched):
        if want is not None:
            np.testing.assert_allclose(got, want, **TOL)
    assert set(literal.grads) == set(layer.grads)
    for name in layer.grads:
        np.testing.assert_allclose(literal.grads[name], layer.grads[name], err_msg=name, **TOL)
    assert np.abs(layer.grads["Wq"]).max() > 0.1  # not two zeros agreeing


def test_literal_refuses_causal_cross_attention():
    layer, literal, args = make_pair("causal", "none")
    with pytest.raises(ValueError, match="causal"):
        literal.forward(args["x"], np.zeros((N, S, D)))
