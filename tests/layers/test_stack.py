"""LSTMStack and BiLSTM: gradients, masks, naming, decoding steps, dropout."""

import numpy as np
import pytest

from jumok.gradcheck import gradcheck, gradients_of, parameters_of
from jumok.layers.lstm import LSTM
from jumok.layers.stack import BiLSTM, LSTMStack, reversal_index

N, T, D, H = 3, 5, 3, 4
LENGTHS = np.array([5, 2, 4])
MASK = np.arange(T)[None] < LENGTHS[:, None]


def randomise(module, rng, scale=0.5):
    for _, p, _ in module.named_parameters():  # larger than the default init: every path matters
        p[...] = rng.standard_normal(p.shape) * scale
    return module


@pytest.mark.parametrize("dropout", [0.0, 0.4])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_stack_gradient_with_mask_and_initial_state(bidirectional, dropout):
    rng = np.random.default_rng(0)
    drop_rng = np.random.default_rng(1)
    stack = randomise(LSTMStack(D, H, 2, rng, np.float64, bidirectional=bidirectional, dropout=dropout,
                                dropout_rng=drop_rng), rng)
    xs = rng.standard_normal((N, T, D))
    h0 = [rng.standard_normal((N, H)) for _ in range(2)]
    c0 = [rng.standard_normal((N, H)) for _ in range(2)]
    saved = drop_rng.bit_generator.state

    def forward():
        drop_rng.bit_generator.state = saved  # the same dropout masks at every evaluation
        hs, (h, c) = stack.forward(xs, h0, c0, MASK)
        return (hs, *h, *c)

    def backward(dhs, dh1, dh2, dc1, dc2):
        stack.zero_grad()
        dxs, dh0, dc0 = stack.backward(dhs, [dh1, dh2], [dc1, dc2])
        return {"xs": dxs, "h0_0": dh0[0], "h0_1": dh0[1], "c0_0": dc0[0], "c0_1": dc0[1], **gradients_of(stack)}

    wrt = {"xs": xs, "h0_0": h0[0], "h0_1": h0[1], "c0_0": c0[0], "c0_1": c0[1], **parameters_of(stack)}
    errors = gradcheck(forward, backward, wrt, rng)
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-6, f"{worst}: {errors[worst]:.2e}"
    inner = "fwd.Wx" if bidirectional else "Wx"
    assert f"layers.0.{inner}" in errors and f"layers.1.{inner}" in errors
    if dropout:  # the check ran with dropout really active between the layers
        assert stack.drops[0].scale is not None and np.any(stack.drops[0].scale == 0)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_initial_state_may_be_omitted_per_layer(bidirectional):
    rng = np.random.default_rng(2)
    stack = randomise(LSTMStack(D, H, 2, rng, np.float64, bidirectional=bidirectional), rng)
    xs = rng.standard_normal((N, T, D))
    zeros = [np.zeros((N, H)), np.zeros((N, H))]
    hs, (h, c) = stack.forward(xs, mask=MASK)
    hs2, (h2, c2) = stack.forward(xs, [None, zeros[1]], zeros, MASK)
    np.testing.assert_array_equal(hs, hs2)
    for a, b in zip(h + c, h2 + c2):
        np.testing.assert_array_equal(a, b)
    dxs, dh0, dc0 = stack.backward(np.ones_like(hs))  # no final-state gradients: zeros
    assert len(dh0) == len(dc0) == 2 and dxs.shape == xs.shape


def test_one_layer_stack_is_an_lstm_with_the_same_names():
    stack = LSTMStack(D, H, 1, np.random.default_rng(3))
    lstm = LSTM(D, H, np.random.default_rng(3))
    assert list(parameters_of(stack)) == ["Wx", "Wh", "b"]
    rng = np.random.default_rng(4)
    xs = rng.standard_normal((N, T, D)).astype(np.float32)
    h0 = rng.standard_normal((N, H)).astype(np.float32)
    hs, (h, c) = stack.forward(xs, [h0], None, MASK)
    hs_ref, (h_ref, c_ref) = lstm.forward(xs, h0, None, MASK)
    np.testing.assert_array_equal(hs, hs_ref)
    np.testing.assert_array_equal(h[0], h_ref)
    np.testing.assert_array_equal(c[0], c_ref)
    dhs = rng.standard_normal(hs.shape).astype(np.float32)
    dxs, dh0, _ = stack.backward(dhs)
    dxs_ref, dh0_ref, _ = lstm.backward(dhs)
    np.testing.assert_array_equal(dxs, dxs_ref)
    np.testing.assert_array_equal(dh0[0], dh0_ref)
    grads = gradients_of(stack)
    for key in ("Wx", "Wh", "b"):
        np.testing.assert_array_equal(grads[key], lstm.grads[key])


def test_parameter_names_of_deeper_and_bidirectional_stacks():
    names = list(parameters_of(LSTMStack(D, H, 3, np.random.default_rng(0))))
    assert names == [f"layers.{l}.{k}" for l in range(3) for k in ("Wx", "Wh", "b")]
    names = list(parameters_of(LSTMStack(D, H, 2, np.random.default_rng(0), bidirectional=True)))
    assert names == [f"layers.{l}.{d}.{k}" for l in range(2) for d in ("fwd", "bwd") for k in ("Wx", "Wh", "b")]
    assert list(parameters_of(LSTMStack(D, H, 1, np.random.default_rng(0), bidirectional=True)))[0] == "fwd.Wx"
    p = parameters_of(LSTMStack(D, H, 2, np.random.default_rng(0), bidirectional=True))
    assert p["layers.0.fwd.Wx"].shape == (D, 4 * H // 2) and p["layers.1.bwd.Wx"].shape == (H, 4 * H // 2)


def test_step_matches_forward():
    rng = np.random.default_rng(5)
    stack = randomise(LSTMStack(D, H, 3, rng, np.float64, dropout=0.5, dropout_rng=rng), rng).eval()
    xs = rng.standard_normal((N, T, D))
    h0 = [rng.standard_normal((N, H)) for _ in range(3)]
    c0 = [rng.standard_normal((N, H)) for _ in range(3)]
    hs, (h_last, c_last) = stack.forward(xs, h0, c0)
    h, c = h0, c0
    for t in range(T):
        h, c = stack.step(xs[:, t], h, c)
        np.testing.assert_allclose(h[-1], hs[:, t], rtol=1e-12, atol=1e-14)
    for a, b in zip(h + c, h_last + c_last):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_bilstm_row_s_reads_token_s_from_both_sides():
    """Each direction equals its own LSTM run on each sequence alone (no padding): forwards,
    and backwards over the reversed real tokens; the final state is both directions' last."""
    rng = np.random.default_rng(6)
    bi = randomise(BiLSTM(D, H, rng, np.float64), rng)
    xs = rng.standard_normal((N, T, D))
    xs[~MASK] = 1e3  # garbage in the padding changes nothing
    hs, (h, c) = bi.forward(xs, mask=MASK)
    H2 = H // 2
    for n, L in enumerate(LENGTHS):
        x = xs[n : n + 1, :L]
        f_hs, (f_h, f_c) = bi.fwd.forward(x)
        b_hs, (b_h, b_c) = bi.bwd.forward(x[:, ::-1])
        np.testing.assert_allclose(hs[n, :L, :H2], f_hs[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(hs[n, :L, H2:], b_hs[0, ::-1], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(h[n], np.concatenate([f_h[0], b_h[0]]), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(c[n], np.concatenate([f_c[0], b_c[0]]), rtol=1e-12, atol=1e-14)
        # the rule in words: forward half = forward state at the last real token,
        # backward half = backward state at the first token
        np.testing.assert_array_equal(h[n, :H2], hs[n, L - 1, :H2])
        np.testing.assert_array_equal(h[n, H2:], hs[n, 0, H2:])


def test_bilstm_without_mask_reverses_the_whole_sequence():
    rng = np.random.default_rng(7)
    bi = randomise(BiLSTM(D, H, rng, np.float64), rng)
    xs = rng.standard_normal((N, T, D))
    hs, _ = bi.forward(xs)
    np.testing.assert_allclose(hs[:, :, H // 2 :], bi.bwd.forward(xs[:, ::-1])[0][:, ::-1], rtol=1e-12)


def test_bilstm_needs_an_even_size_and_has_no_step():
    with pytest.raises(ValueError, match="even"):
        BiLSTM(D, 5, np.random.default_rng(0))
    stack = LSTMStack(D, H, 2, np.random.default_rng(0), bidirectional=True)
    with pytest.raises(NotImplementedError):
        stack.step(np.zeros((N, D)), [np.zeros((N, H))] * 2, [np.zeros((N, H))] * 2)
    with pytest.raises(NotImplementedError):
        stack.step_weights()


def test_dropout_between_layers_only_in_training():
    rng = np.random.default_rng(8)
    drop_rng = np.random.default_rng(9)
    stack = randomise(LSTMStack(D, H, 2, rng, np.float64, dropout=0.5, dropout_rng=drop_rng), rng)
    plain = LSTMStack(D, H, 2, np.random.default_rng(0), np.float64)
    plain.load_state_dict(parameters_of(stack))
    plain.eval()  # the same inference arithmetic as stack.eval() below, so equal to the last bit
    xs = rng.standard_normal((N, T, D))
    reference, _ = plain.forward(xs, mask=MASK)
    a, _ = stack.forward(xs, mask=MASK)
    b, _ = stack.forward(xs, mask=MASK)
    assert not np.allclose(a, reference) and not np.allclose(a, b)  # fresh masks each time
    stack.eval()
    for _ in range(2):
        np.testing.assert_array_equal(stack.forward(xs, mask=MASK)[0], reference)
    state = drop_rng.bit_generator.state
    stack.forward(xs, mask=MASK)
    assert drop_rng.bit_generator.state == state  # evaluation draws nothing
    stack.train()
    drop_rng.bit_generator.state = state
    c, _ = stack.forward(xs, mask=MASK)
    drop_rng.bit_generator.state = state
    np.testing.assert_array_equal(stack.forward(xs, mask=MASK)[0], c)  # same stream, same masks


def test_dropout_needs_a_generator_and_layers_must_be_positive():
    with pytest.raises(ValueError, match="dropout_rng"):
        LSTMStack(D, H, 2, np.random.default_rng(0), dropout=0.2)
    with pytest.raises(ValueError, match="layer"):
        LSTMStack(D, H, 0, np.random.default_rng(0))


def test_reversal_index_with_full_rows():
    np.testing.assert_array_equal(reversal_index(np.ones((2, 3), dtype=bool)), [[2, 1, 0], [2, 1, 0]])
