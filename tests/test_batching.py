"""Padding, batch layout, dataset iteration and the held-out split."""

import numpy as np
import pytest

from jumok.data import Batch, Dataset, Vocab, make_batch, pad, split_holdout
from jumok.errors import UnknownTokenError


def test_pad_shapes_values_and_mask():
    ids, mask = pad([[5, 6, 7], [8], []], pad_id=0)
    assert ids.dtype == np.int64 and mask.dtype == bool
    np.testing.assert_array_equal(ids, [[5, 6, 7], [8, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(mask, [[1, 1, 1], [1, 0, 0], [0, 0, 0]])


def test_pad_to_fixed_length_and_too_short_length():
    ids, mask = pad([[1, 2]], pad_id=9, length=4)
    np.testing.assert_array_equal(ids, [[1, 2, 9, 9]])
    assert mask.sum() == 2
    with pytest.raises(ValueError):
        pad([[1, 2, 3]], pad_id=0, length=2)


def test_make_batch_teacher_forcing_layout():
    src_vocab, tgt_vocab = Vocab(list("abc")), Vocab(list("xyz"))
    b = make_batch([[4, 5, 6], [6]], [[4], [5, 6, 4]], src_vocab, tgt_vocab)
    assert isinstance(b, Batch) and b.size == 2
    np.testing.assert_array_equal(b.src, [[4, 5, 6], [6, 0, 0]])
    np.testing.assert_array_equal(b.src_mask, [[1, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(b.tgt_in, [[1, 4, 0, 0], [1, 5, 6, 4]])
    np.testing.assert_array_equal(b.tgt_out, [[4, 2, 0, 0], [5, 6, 4, 2]])
    np.testing.assert_array_equal(b.tgt_mask, [[1, 1, 0, 0], [1, 1, 1, 1]])
    assert b.tgt_in.dtype == np.int64 and b.tgt_mask.dtype == bool
    last_real = b.tgt_mask.sum(axis=1) - 1  # (N,) where each EOS must sit
    np.testing.assert_array_equal(np.argwhere(b.tgt_out == tgt_vocab.eos_id)[:, 1], last_real)
    with pytest.raises(AttributeError):
        b.src = None  # frozen


def test_make_batch_empty_target_still_predicts_eos():
    v = Vocab(["a"])
    b = make_batch([[4]], [[]], v, v)
    np.testing.assert_array_equal(b.tgt_in, [[1]])
    np.testing.assert_array_equal(b.tgt_out, [[2]])
    np.testing.assert_array_equal(b.tgt_mask, [[True]])


def test_make_batch_rejects_empty_source():
    v = Vocab(["a"])
    with pytest.raises(ValueError, match="empty"):
        make_batch([[4], []], [[4], [4]], v, v)


def _dataset(n=7):
    pairs = [(list(str(i)), list(str(i * 3))) for i in range(n)]
    digits = Vocab(list("0123456789"))
    return Dataset(pairs, digits, digits)


def test_dataset_encodes_once_and_batches_in_order():
    ds = _dataset()
    assert len(ds) == 7
    assert ds.sources[2] == [6] and ds.targets[4] == [5, 6]
    assert ds.pairs[4] == (["4"], ["1", "2"])
    batches = list(ds.batches(3))
    assert [b.size for b in batches] == [3, 3, 1]
    first_column = np.concatenate([b.src[:, 0] for b in batches])
    np.testing.assert_array_equal(first_column, np.arange(7) + 4)


def test_dataset_shuffle_follows_rng_permutation():
    ds = _dataset()
    batches = list(ds.batches(4, rng=np.random.default_rng(5)))
    order = np.random.default_rng(5).permutation(7)
    np.testing.assert_array_equal(np.concatenate([b.src[:, 0] for b in batches]), order + 4)
    with pytest.raises(ValueError):
        next(ds.batches(0))


def test_dataset_unknown_tokens():
    v = Vocab(list("ab"))
    pairs = [(["a", "q"], ["b"]), (["a"], ["r"])]
    with pytest.raises(UnknownTokenError) as info:
        Dataset(pairs, v, v)
    assert info.value.tokens == ["q"]
    ds = Dataset(pairs, v, v, unknown="unk")
    assert ds.sources[0] == [4, 3] and ds.targets[1] == [3]


def test_split_holdout_sizes_determinism_and_disjointness():
    items = list(range(100))
    train, held = split_holdout(items, 0.1, seed=3)
    assert len(held) == 10 and len(train) == 90
    assert sorted(train + held) == items
    assert split_holdout(items, 0.1, seed=3) == (train, held)
    assert split_holdout(items, 0.1, seed=4)[1] != held
    assert held == sorted(held)  # each part keeps the original order


def test_split_holdout_edge_sizes():
    assert len(split_holdout([1, 2], 0.01, seed=0)[1]) == 1
    assert len(split_holdout([1, 2, 3], 0.9, seed=0)[0]) == 1
    assert split_holdout([1, 2, 3], 0.0, seed=0) == ([1, 2, 3], [])
    assert split_holdout([7], 0.5, seed=0)[0] + split_holdout([7], 0.5, seed=0)[1] == [7]
    with pytest.raises(ValueError):
        split_holdout([1, 2], 1.5, seed=0)
