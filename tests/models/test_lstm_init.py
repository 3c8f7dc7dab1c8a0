"""`lstm_init`: the chapter's LSTM weights, or PyTorch's U(±1/√H) (`jumok.layers.lstm.LSTM_INITS`)."""

import numpy as np
import pytest

from jumok.layers.lstm import LSTM
from jumok.models.seq2seq import LSTM_MODELS


def build(name, **options):
    return LSTM_MODELS[name](23, 17, 8, 12, rng=np.random.default_rng(5), **options)


def lstm_keys(state):
    return [key for key in state if ".lstm." in key]


@pytest.mark.parametrize("name", sorted(LSTM_MODELS))
def test_the_default_is_the_chapters_weights_bit_for_bit(name):
    default, explicit = build(name).state_dict(), build(name, lstm_init="chapter").state_dict()
    assert all(np.array_equal(default[k], explicit[k]) for k in default)
    assert all(not default[k].any() for k in lstm_keys(default) if k.endswith(".b"))  # the chapter's b = 0


def test_the_chapters_weights_are_the_draws_the_lstm_always_made():
    """Wx then Wh from the same stream, N(0, 1)/√fan-in in float32, as before `LSTM_INITS`."""
    D, H = 5, 6
    lstm, rng = LSTM(D, H, np.random.default_rng(4)), np.random.default_rng(4)
    np.testing.assert_array_equal(lstm.params["Wx"], (rng.standard_normal((D, 4 * H)) / np.sqrt(D)).astype(np.float32))
    np.testing.assert_array_equal(lstm.params["Wh"], (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(np.float32))


@pytest.mark.parametrize("options", [{}, {"bidirectional": True, "layers": 2}])
@pytest.mark.parametrize("name", sorted(LSTM_MODELS))
def test_uniform_redraws_every_lstm_tensor_within_its_bound_and_nothing_else(name, options):
    chapter, uniform = build(name, **options).state_dict(), build(name, lstm_init="uniform", **options).state_dict()
    keys = lstm_keys(uniform)
    assert len(keys) >= 6  # Wx, Wh, b of the encoder's and the decoder's LSTMs at least
    for key in uniform:
        if key in keys:
            H = uniform[key].shape[-1] // 4  # units of this LSTM (of one direction when two-way)
            assert np.abs(uniform[key]).max() <= 1 / np.sqrt(H) and np.abs(uniform[key]).max() > 0.8 / np.sqrt(H), key
            assert not np.array_equal(uniform[key], chapter[key]), key
        else:
            assert np.array_equal(uniform[key], chapter[key]), key  # embeddings, output layer, attention


def test_with_unit_inputs_the_gates_input_share_is_sqrt_d_over_3h_not_one():
    """The finding of docs/results.md#defaults-for-a-users-file as a property of the code: a
    gate's share x Wx from unit-variance inputs has standard deviation 1 with the chapter's
    Wx = N(0, 1)/√D, and √(D / 3H) with U(±1/√H): 0.20 at D = 16, H = 128."""
    D, H = 16, 128
    x = np.random.default_rng(1).standard_normal((4000, D))
    share = {}
    for scheme in ("chapter", "uniform"):
        lstm = LSTM(D, H, np.random.default_rng(2)).astype(np.float64)
        if scheme != "chapter":
            lstm.initialise(scheme, np.random.default_rng(3))
        share[scheme] = (x @ lstm.params["Wx"]).std()
    assert abs(share["chapter"] - 1) < 0.05
    assert abs(share["uniform"] - np.sqrt(D / (3 * H))) < 0.01


def test_initialise_keeps_the_parameters_dtype_and_arrays():
    lstm = LSTM(5, 6, np.random.default_rng(0))
    before = dict(lstm.params)
    lstm.initialise("uniform", np.random.default_rng(1))
    assert all(lstm.params[k] is before[k] and lstm.params[k].dtype == np.float32 for k in before)
