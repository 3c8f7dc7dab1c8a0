"""Seq2seqModel's `embed_scale` option: the embeddings' initial standard deviation."""

import numpy as np
import pytest

from jumok.models import MODELS


def build(name, **options):
    return MODELS[name](23, 17, 8, 12, rng=np.random.default_rng(5), **options)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_default_is_the_chapters_scale_bit_for_bit(name):
    default, explicit = build(name).state_dict(), build(name, embed_scale=0.01).state_dict()
    assert all(np.array_equal(default[k], explicit[k]) for k in default)
    assert abs(default["encoder.embed.W"].std() - 0.01) < 0.002


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_larger_scale_rescales_the_same_draws_and_nothing_else(name):
    default, unit = build(name).state_dict(), build(name, embed_scale=1.0).state_dict()
    for key in default:
        if key.endswith("embed.W"):
            np.testing.assert_allclose(unit[key], default[key] * 100, rtol=1e-6)
        else:
            assert np.array_equal(unit[key], default[key]), key
    assert abs(unit["decoder.embed.W"].std() - 1.0) < 0.2
