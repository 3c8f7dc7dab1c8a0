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


def _mixed_lengths(n=300, seed=0):
    rng = np.random.default_rng(seed)
    letters = Vocab(list("abcdef"))
    pairs = [(list("a" * rng.integers(1, 30)), list("b" * rng.integers(1, 12))) for _ in range(n)]
    return Dataset(pairs, letters, letters)


def _padded_steps(ds, order, batch_size):
    """Σ over batches of batch size × (longest source + longest target): the LSTMs' work."""
    return sum(b.size * (b.src.shape[1] + b.tgt_in.shape[1]) for b in ds.batches_in(order, batch_size))


def test_bucketed_order_is_a_shuffled_permutation_of_length_sorted_batches():
    ds, batch_size, window = _mixed_lengths(), 8, 5
    order = ds.bucketed_order(np.random.default_rng(3), batch_size, window=window)
    assert sorted(order.tolist()) == list(range(len(ds)))  # every pair once
    np.testing.assert_array_equal(order, ds.bucketed_order(np.random.default_rng(3), batch_size, window=window))
    assert not np.array_equal(order, ds.bucketed_order(np.random.default_rng(4), batch_size, window=window))
    full = len(ds) // batch_size * batch_size  # 296: 37 full batches, then one of 4
    batches = order[:full].reshape(-1, batch_size)
    for batch in batches:  # inside a batch: sorted by source length, then target length
        keys = list(zip(ds.source_lengths[batch].tolist(), ds.target_lengths[batch].tolist()))
        assert keys == sorted(keys)
    starts = [int(batch[0]) for batch in batches]
    assert starts != sorted(starts, key=lambda i: ds.source_lengths[i])  # the batch order is random
    random_order = np.random.default_rng(3).permutation(len(ds))
    assert _padded_steps(ds, order, batch_size) < 0.8 * _padded_steps(ds, random_order, batch_size)


def test_bucketed_order_sorts_within_windows_only():
    ds, batch_size, window = _mixed_lengths(), 4, 2
    rng = np.random.default_rng(7)
    order = ds.bucketed_order(rng, batch_size, window=window)
    permutation = np.random.default_rng(7).permutation(len(ds))  # the first draw of the same rng
    size = batch_size * window
    groups = {frozenset(permutation[i : i + size].tolist()) for i in range(0, len(ds), size)}
    for batch in order[: len(ds) // batch_size * batch_size].reshape(-1, batch_size):
        assert any(set(batch.tolist()) <= group for group in groups)  # no batch mixes two windows
    small = ds.bucketed_order(rng, len(ds) + 1)  # no full batch: one short batch, sorted by length
    assert sorted(small.tolist()) == list(range(len(ds)))
    assert np.all(np.diff(ds.source_lengths[small]) >= 0)
    with pytest.raises(ValueError):
        ds.bucketed_order(rng, 0)


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
