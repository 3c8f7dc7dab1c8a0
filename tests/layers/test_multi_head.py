"""MultiHeadAttention: gradient checks of every input and parameter, masks, causality, the
three gradients of self-attention, attention dropout, and the PyTorch twin."""

import math

import numpy as np
import pytest
from checks import assert_gradients_close

from jumok.gradcheck import gradcheck, gradients_of, parameters_of
from jumok.layers.multi_head import MultiHeadAttention

N, T, S, D, HEADS = 3, 4, 5, 8, 2
KINDS = ("self", "causal", "cross")
PARAMS = ("Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo")


def lengths_mask(lengths, length):
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]


def make_case(kind, seed=0, dropout=0.0, dtype=np.float64):
    """A layer with random biases (so that their gradients are checked on something) and its
    call: x (N, T, D) with queries padded to lengths 4, 1, 3; for cross-attention a memory
    (N, S, D) padded to 5, 2, 4, for self-attention the keys are x's positions (key_mask is
    query_mask). Returns layer, dict of forward's arguments."""
    rng = np.random.default_rng(seed)
    drop_rng = np.random.default_rng(seed + 100) if dropout else None
    layer = MultiHeadAttention(D, HEADS, rng, dtype, causal=kind == "causal", dropout=dropout, dropout_rng=drop_rng)
    for name in ("bq", "bk", "bv", "bo"):
        layer.params[name][...] = rng.standard_normal(D)
    query_mask = lengths_mask([4, 1, 3], T)
    args = dict(x=rng.standard_normal((N, T, D)).astype(dtype), memory=None, key_mask=query_mask,
                query_mask=query_mask)
    if kind == "cross":
        args.update(memory=rng.standard_normal((N, S, D)).astype(dtype), key_mask=lengths_mask([5, 2, 4], S))
    return layer, args


def run_backward(layer, dout):
    """{name: gradient} for x, memory (cross only) and every parameter, from zeroed grads."""
    layer.zero_grad()
    dx, dmemory = layer.backward(dout)
    return {"x": dx, **({} if dmemory is None else {"memory": dmemory}), **gradients_of(layer)}


def inputs_and_parameters(layer, args):
    wrt = {"x": args["x"], **parameters_of(layer)}
    if args["memory"] is not None:
        wrt["memory"] = args["memory"]
    return wrt


def check_gradients(layer, args, forward, seed):
    """Gradient-check every input and parameter. bk's true gradient is exactly 0 (q·bk is one
    shift of a whole row of scores, which the softmax ignores), so there both sides are
    rounding noise and a relative error means nothing: its gradient must be ~0 instead."""
    analytic = {}

    def backward(dout):
        analytic.update(run_backward(layer, dout))
        return analytic

    errors = gradcheck(forward, backward, inputs_and_parameters(layer, args), np.random.default_rng(seed))
    assert set(errors) >= {"x", *PARAMS}
    assert np.abs(analytic["bk"]).max() < 1e-12 * np.abs(analytic["bq"]).max()
    del errors["bk"]
    assert_gradients_close(errors)


# ---- gradients ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_every_input_and_parameter_with_padding(kind):
    layer, args = make_case(kind)
    check_gradients(layer, args, lambda: layer.forward(**args), seed=1)


def test_backward_returns_a_pair_and_none_for_self_attention():
    layer, args = make_case("self")
    dx, dmemory = layer.backward(np.ones_like(layer.forward(**args)))
    assert dx.shape == (N, T, D) and dmemory is None
    layer, args = make_case("cross")
    dx, dmemory = layer.backward(np.ones_like(layer.forward(**args)))
    assert dx.shape == (N, T, D) and dmemory.shape == (N, S, D)


def test_self_attention_adds_the_three_gradients_of_x():
    """Self-attention is cross-attention with memory = x: its dx is the cross call's dx (the
    queries' share) plus its dmemory (the keys' and values' shares), and the parameter
    gradients are the same."""
    layer, args = make_case("self")
    dout = np.random.default_rng(2).standard_normal((N, T, D))
    out_self = layer.forward(**args)
    self_grads = run_backward(layer, dout)
    out_cross = layer.forward(**dict(args, memory=args["x"]))
    cross_grads = run_backward(layer, dout)
    np.testing.assert_allclose(out_self, out_cross, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(self_grads["x"], cross_grads["x"] + cross_grads["memory"], rtol=1e-12, atol=1e-12)
    for name in PARAMS:
        np.testing.assert_allclose(self_grads[name], cross_grads[name], rtol=1e-12, atol=1e-12)


# ---- masks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_padded_keys_get_exactly_zero_weight(kind):
    layer, args = make_case(kind)
    layer.forward(**args)
    P = layer.weights  # (N, h, T, S)
    key_pad = ~args["key_mask"][:, None, None, :]
    real_query = args["query_mask"][:, None, :, None]
    assert P.shape == (N, HEADS, T, key_pad.shape[-1])
    assert np.all(P[np.broadcast_to(key_pad, P.shape)] == 0.0)
    np.testing.assert_allclose(P.sum(-1)[np.broadcast_to(real_query[..., 0], P.shape[:3])], 1.0, rtol=1e-12)
    assert np.all(P[np.broadcast_to(~real_query, P.shape)] == 0.0)  # padded queries: an empty map
    if kind == "causal":
        later = np.triu(np.ones((T, T), dtype=bool), k=1)  # s > t
        assert np.all(P[:, :, later] == 0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_what_stands_in_padding_changes_nothing(kind):
    """Garbage in padded positions (of x, and of memory) changes no output of a real query and
    no gradient; padded positions receive zero gradient."""
    layer, args = make_case(kind)
    dout = np.random.default_rng(3).standard_normal((N, T, D))
    out = layer.forward(**args)
    grads = run_backward(layer, dout)
    changed = dict(args, x=args["x"].copy())
    changed["x"][~args["query_mask"]] = 1e3
    if kind == "cross":
        changed["memory"] = args["memory"].copy()
        changed["memory"][~args["key_mask"]] = -1e3
    np.testing.assert_array_equal(layer.forward(**changed), out)
    for name, g in run_backward(layer, dout).items():
        np.testing.assert_array_equal(g, grads[name], err_msg=name)
    assert np.all(grads["x"][~args["query_mask"]] == 0.0)
    if kind == "cross":
        assert np.all(grads["memory"][~args["key_mask"]] == 0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_padded_queries_are_zero_and_pass_no_gradient(kind):
    layer, args = make_case(kind)
    q = args["query_mask"]
    out = layer.forward(**args)
    assert np.all(np.isfinite(out)) and np.all(out[~q] == 0.0)  # bo included
    dout = np.random.default_rng(4).standard_normal((N, T, D))
    grads = run_backward(layer, dout)
    dout_real = dout * q[:, :, None]  # the same upstream gradient with the padded rows cleared
    for name, g in run_backward(layer, dout_real).items():
        np.testing.assert_array_equal(g, grads[name], err_msg=name)
    assert np.all(grads["x"][~q] == 0.0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rows_with_no_key_to_see_stay_finite(kind, dtype):
    """Every key of row 1 padded (for self-attention: the whole row is padding): its scores
    are all masked, and the output and every gradient stay finite, with no NaN; a real query
    that sees no key attends to nothing (its output is bo)."""
    layer, args = make_case(kind, dtype=dtype)
    args["key_mask"] = args["key_mask"].copy()
    args["key_mask"][1] = False
    if kind != "cross":
        args["query_mask"] = args["key_mask"]
    out = layer.forward(**args)
    assert out.dtype == dtype and np.all(np.isfinite(out))
    assert np.all(layer.weights[1] == 0.0)
    if kind == "cross":
        real = args["query_mask"][1]
        np.testing.assert_array_equal(out[1, real], np.broadcast_to(layer.params["bo"], out[1, real].shape))
    grads = run_backward(layer, np.ones_like(out))
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_causal_later_positions_change_no_earlier_output():
    layer, args = make_case("causal")
    args.update(key_mask=None, query_mask=None)
    out = layer.forward(**args)
    for t in range(T - 1):
        changed = dict(args, x=args["x"].copy())
        changed["x"][:, t + 1:] = np.random.default_rng(t).standard_normal((N, T - t - 1, D))
        later = layer.forward(**changed)
        np.testing.assert_allclose(later[:, :t + 1], out[:, :t + 1], rtol=1e-13, atol=1e-13)
        assert not np.allclose(later[:, t + 1:], out[:, t + 1:])
        dout = np.zeros((N, T, D))
        dout[:, :t + 1] = 1.0  # a loss on the first t + 1 outputs only ...
        dx, _ = layer.backward(dout)
        assert np.all(dx[:, t + 1:] == 0.0)  # ... depends on no later input


def test_causal_cross_attention_and_bad_shapes_are_refused():
    rng = np.random.default_rng(0)
    x, memory = rng.standard_normal((2, 3, D)), rng.standard_normal((2, 4, D))
    with pytest.raises(ValueError, match="causal"):
        MultiHeadAttention(D, HEADS, rng, causal=True).forward(x, memory)
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(D, 3, rng)
    layer = MultiHeadAttention(D, HEADS, rng, np.float64)
    with pytest.raises(ValueError, match="key_mask"):
        layer.forward(x, memory, key_mask=np.ones((2, 3), dtype=bool))
    with pytest.raises(ValueError, match="query_mask"):
        layer.forward(x, memory, query_mask=np.ones((2, 4), dtype=bool))
    with pytest.raises(ValueError, match="memory"):
        layer.forward(x, memory[:, :, :4])
    with pytest.raises(ValueError, match="dropout_rng"):
        MultiHeadAttention(D, HEADS, rng, dropout=0.1)


def test_xavier_uniform_weights_zero_biases_and_dtype():
    layer = MultiHeadAttention(64, 4, np.random.default_rng(0))
    limit = math.sqrt(6 / (64 + 64))
    for name in ("Wq", "Wk", "Wv", "Wo"):
        W = layer.params[name]
        assert W.shape == (64, 64) and W.dtype == np.float32
        assert np.abs(W).max() <= limit and np.abs(W).max() > 0.95 * limit
        assert W.var() == pytest.approx(limit**2 / 3, rel=0.1)  # U(±a) has variance a²/3 = 1/D
    for name in ("bq", "bk", "bv", "bo"):
        assert layer.params[name].shape == (64,) and np.all(layer.params[name] == 0)
    x = np.random.default_rng(1).standard_normal((2, 3, 64)).astype(np.float32)
    out = layer.forward(x, key_mask=np.array([[1, 1, 0], [1, 1, 1]], dtype=bool))
    dx, _ = layer.backward(np.ones_like(out))
    assert out.dtype == dx.dtype == layer.weights.dtype == layer.grads["Wq"].dtype == np.float32


# ---- attention dropout -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_backward_uses_the_forward_mask(kind):
    """The gradient check passes with dropout when every forward draws the same mask (the
    generator restarted, as within one training step): backward used forward's mask."""
    layer, args = make_case(kind, dropout=0.3)

    def forward():
        layer.drop.rng = np.random.default_rng(7)
        return layer.forward(**args)

    forward()
    kept = layer.drop.scale
    assert kept.shape == layer.weights.shape and np.any(kept == 0) and np.any(kept > 0)
    check_gradients(layer, args, forward, seed=8)


def test_dropout_acts_on_the_weights_and_weights_are_kept_before_it():
    layer, args = make_case("cross", dropout=0.5)
    out = layer.forward(**args)
    P, scale = layer.weights, layer.drop.scale
    np.testing.assert_allclose(P.sum(-1)[np.broadcast_to(args["query_mask"][:, None], P.shape[:3])], 1.0)
    Vh = (args["memory"] @ layer.params["Wv"] + layer.params["bv"]).reshape(N, S, HEADS, -1).transpose(0, 2, 1, 3)
    C = ((P * scale) @ Vh).transpose(0, 2, 1, 3).reshape(N, T, D)
    expected = (C @ layer.params["Wo"] + layer.params["bo"]) * args["query_mask"][:, :, None]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    layer.eval()
    evaluated = layer.forward(**args)
    assert layer.drop.scale is None and not np.allclose(evaluated, out)


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_over_slices_draws_the_whole_batch_masks(kind):
    """Data-parallel ranks, each with rows start:stop and the same generator, draw the masks
    one process draws for the whole batch: outputs and input gradients equal the whole batch's
    rows, and the parameter gradients of the slices add up to the whole batch's."""
    layer, args = make_case(kind, dropout=0.4)
    dout = np.random.default_rng(9).standard_normal((N, T, D))
    layer.drop.rng = np.random.default_rng(11)
    whole = layer.forward(**args)
    whole_grads = run_backward(layer, dout)
    summed = {name: 0 for name in PARAMS}
    for start, stop in ((0, 2), (2, 3)):
        part = {k: None if v is None else v[start:stop] for k, v in args.items()}
        layer.drop.rng, layer.drop.rows = np.random.default_rng(11), (N, start, stop)
        np.testing.assert_array_equal(layer.forward(**part), whole[start:stop])
        grads = run_backward(layer, dout[start:stop])
        for name in grads:
            if name in summed:
                summed[name] = summed[name] + grads[name]
            else:
                np.testing.assert_allclose(grads[name], whole_grads[name][start:stop], rtol=1e-13, atol=1e-13)
    for name in PARAMS:
        np.testing.assert_allclose(summed[name], whole_grads[name], rtol=1e-12, atol=1e-12)
    layer.drop.rows = None


# ---- decoding helpers -------------------------------------------------------------------------


def test_attend_to_projected_memory_equals_cross_forward():
    layer, args = make_case("cross")
    out = layer.forward(**args)
    K, V = layer.project_keys_values(args["memory"])
    assert K.shape == V.shape == (N, HEADS, S, D // HEADS)
    got, P = layer.attend(args["x"], K, V, args["key_mask"])
    real = args["query_mask"]
    np.testing.assert_allclose(got[real], out[real], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(P[np.broadcast_to(real[:, None, :, None], P.shape)],
                               layer.weights[np.broadcast_to(real[:, None, :, None], P.shape)], rtol=1e-12, atol=1e-15)


def test_one_query_at_a_time_over_the_keys_so_far_equals_causal_forward():
    """What a decoding step will do: query t against the keys and values of positions ≤ t."""
    layer, args = make_case("causal")
    out = layer.forward(**args)
    K, V = layer.project_keys_values(args["x"])
    real = args["query_mask"]
    for t in range(T):
        got, _ = layer.attend(args["x"][:, t:t + 1], K[:, :, :t + 1], V[:, :, :t + 1], real[:, :t + 1])
        rows = real[:, t]
        np.testing.assert_allclose(got[rows, 0], out[rows, t], rtol=1e-12, atol=1e-12)


# ---- the PyTorch twin ----------------------------------------------------------------------


def torch_twin(layer):
    """nn.MultiheadAttention (batch_first, float64) holding `layer`'s weights: torch applies
    x Wᵀ with W (out, in), and stacks the input projections as in_proj_weight = [Wq; Wk; Wv]."""
    torch = pytest.importorskip("torch")
    p = {k: torch.from_numpy(v) for k, v in layer.params.items()}
    twin = torch.nn.MultiheadAttention(D, HEADS, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        twin.in_proj_weight.copy_(torch.cat([p["Wq"].T, p["Wk"].T, p["Wv"].T]))
        twin.in_proj_bias.copy_(torch.cat([p["bq"], p["bk"], p["bv"]]))
        twin.out_proj.weight.copy_(p["Wo"].T)
        twin.out_proj.bias.copy_(p["bo"])
    return twin


@pytest.mark.parametrize("kind", KINDS)
def test_equals_pytorch_forward_weights_and_every_gradient(kind):
    torch = pytest.importorskip("torch")
    layer, args = make_case(kind)
    twin = torch_twin(layer)
    real = args["query_mask"]
    dout = np.random.default_rng(5).standard_normal((N, T, D)) * real[:, :, None]  # torch keeps padded queries
    out = layer.forward(**args)
    grads = run_backward(layer, dout)

    x = torch.tensor(args["x"], requires_grad=True)
    memory = x if kind != "cross" else torch.tensor(args["memory"], requires_grad=True)
    causal = torch.from_numpy(np.triu(np.ones((T, T), dtype=bool), k=1)) if kind == "causal" else None  # True = barred
    torch_out, torch_P = twin(x, memory, memory, key_padding_mask=torch.from_numpy(~args["key_mask"]),  # True = padding
                              attn_mask=causal, need_weights=True, average_attn_weights=False)
    torch_out.backward(torch.from_numpy(dout))

    tol = dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(out[real], torch_out.detach().numpy()[real], **tol)
    rows = np.broadcast_to(real[:, None, :, None], layer.weights.shape)
    np.testing.assert_allclose(layer.weights[rows], torch_P.detach().numpy()[rows], **tol)
    np.testing.assert_allclose(grads["x"], x.grad.numpy(), **tol)
    if kind == "cross":
        np.testing.assert_allclose(grads["memory"], memory.grad.numpy(), **tol)
    in_weight, in_bias = twin.in_proj_weight.grad.numpy(), twin.in_proj_bias.grad.numpy()
    for i, name in enumerate("qkv"):
        np.testing.assert_allclose(grads["W" + name], in_weight[i * D:(i + 1) * D].T, **tol)
        np.testing.assert_allclose(grads["b" + name], in_bias[i * D:(i + 1) * D], **tol)
    np.testing.assert_allclose(grads["Wo"], twin.out_proj.weight.grad.numpy().T, **tol)
    np.testing.assert_allclose(grads["bo"], twin.out_proj.bias.grad.numpy(), **tol)
