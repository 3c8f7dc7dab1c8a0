"""Seq2seqModel's `embed_scale` option: the embeddings' initial standard deviation."""

import numpy as np
import pytest

from jumok.models.seq2seq import LSTM_MODELS


def build(name, **options):
    return LSTM_MODELS[name](23, 17, 8, 12, rng=np.random.default_rng(5), **options)


@pytest.mark.parametrize("name", sorted(LSTM_MODELS))
def test_the_default_is_the_chapters_scale_bit_for_bit(name):
    default, explicit = build(name).state_dict(), build(name, embed_scale=0.01).state_dict()
    assert all(np.array_equal(default[k], explicit[k]) for k in default)
    assert abs(default["encoder.embed.W"].std() - 0.01) < 0.002


@pytest.mark.parametrize("name", sorted(LSTM_MODELS))
def test_a_larger_scale_rescales_the_same_draws_and_nothing_else(name):
    default, unit = build(name).state_dict(), build(name, embed_scale=1.0).state_dict()
    for key in default:
        if key.endswith("embed.W"):
            np.testing.assert_allclose(unit[key], default[key] * 100, rtol=1e-6)
        else:
            assert np.array_equal(unit[key], default[key]), key
    assert abs(unit["decoder.embed.W"].std() - 1.0) < 0.2


def test_at_the_chapters_scale_the_encoder_hardly_reads_its_input():
    """docs/results.md#why-pytorch-learns-faster-on-the-same-maths: with LSTM input weights
    N(0, 1)/√D, a gate's input share has the embeddings' standard deviation, so at 0.01 the
    encoder's states barely tell the characters apart; at 1.0 they differ by order one."""
    spread = {}
    for scale in (0.01, 1.0):
        model = LSTM_MODELS["attention"](40, 20, 16, 64, rng=np.random.default_rng(0), embed_scale=scale)
        src = np.arange(40)[:, None].repeat(3, axis=1)  # every character, three times
        hs = model.encode(src, np.ones(src.shape, dtype=bool)).hs  # (40, 3, 64)
        spread[scale] = hs[:, -1].std(axis=0).mean()  # how much the last state depends on the character
    assert spread[0.01] < 0.01 and spread[1.0] > 0.1
    assert 30 < spread[1.0] / spread[0.01] < 300  # about the 100 × of the scales
