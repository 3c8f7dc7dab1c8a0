"""Padding, batches and datasets of encoded ``(source, target)`` pairs.

A `Batch` holds the arrays one training step needs. For a target ``y`` the decoder reads
``tgt_in = [BOS] + y`` and is scored against ``tgt_out = y + [EOS]`` (teacher forcing);
the source carries no specials.
"""

from dataclasses import dataclass

import numpy as np


def pad(seqs, pad_id: int, length: int | None = None):
    """Pad id lists to one length.

    Returns ``(ids, mask)``: ``ids`` int64 (N, L), ``mask`` bool (N, L) with True on real
    tokens, where L is the longest sequence or ``length`` (which must fit them all).
    """
    longest = max((len(s) for s in seqs), default=0)
    if length is None:
        length = longest
    elif length < longest:
        raise ValueError(f"length {length} is shorter than the longest sequence ({longest})")
    ids = np.full((len(seqs), length), pad_id, dtype=np.int64)  # (N, L)
    mask = np.zeros((len(seqs), length), dtype=bool)  # (N, L)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = True
    return ids, mask


@dataclass(frozen=True)
class Batch:
    """One batch of padded pairs; masks are True on real (non-pad) positions."""

    src: np.ndarray  # (N, S) int64
    src_mask: np.ndarray  # (N, S) bool
    tgt_in: np.ndarray  # (N, T) int64, BOS + y
    tgt_out: np.ndarray  # (N, T) int64, y + EOS
    tgt_mask: np.ndarray  # (N, T) bool

    @property
    def size(self) -> int:
        """Number of pairs N."""
        return self.src.shape[0]


def make_batch(src_seqs, tgt_seqs, src_vocab, tgt_vocab) -> Batch:
    """Build a `Batch` from id lists without specials (every source must be non-empty)."""
    if len(src_seqs) != len(tgt_seqs):
        raise ValueError(f"{len(src_seqs)} sources but {len(tgt_seqs)} targets")
    if not src_seqs:
        raise ValueError("cannot make an empty batch")
    for i, seq in enumerate(src_seqs):
        if len(seq) == 0:
            raise ValueError(f"source {i} of the batch is empty")
    src, src_mask = pad(src_seqs, src_vocab.pad_id)  # (N, S)
    tgt_in, tgt_mask = pad([[tgt_vocab.bos_id, *y] for y in tgt_seqs], tgt_vocab.pad_id)  # (N, T)
    tgt_out, _ = pad([[*y, tgt_vocab.eos_id] for y in tgt_seqs], tgt_vocab.pad_id)  # (N, T)
    return Batch(src, src_mask, tgt_in, tgt_out, tgt_mask)


BUCKET_WINDOW = 50  # batches sorted by length together by `Dataset.bucketed_order`


class Dataset:
    """Token-list pairs encoded once with the two vocabularies, served in batches."""

    def __init__(self, pairs, src_vocab, tgt_vocab, unknown: str = "error"):
        """``pairs``: list of ``(source_tokens, target_tokens)``; ``unknown`` as in `Vocab.encode`."""
        self.pairs = [(list(s), list(t)) for s, t in pairs]
        self.src_vocab = src_vocab
        self.tgt_vocab = tgt_vocab
        self.sources = [src_vocab.encode(s, unknown, where="source") for s, _ in self.pairs]
        self.targets = [tgt_vocab.encode(t, unknown, where="target") for _, t in self.pairs]
        for i, seq in enumerate(self.sources):
            if not seq:
                raise ValueError(f"pair {i} has an empty source")
        self.source_lengths = np.array([len(s) for s in self.sources], dtype=np.int64)
        self.target_lengths = np.array([len(t) for t in self.targets], dtype=np.int64)

    def __len__(self):
        return len(self.pairs)

    def batches(self, batch_size: int, rng: np.random.Generator | None = None):
        """Yield `Batch`es of ``batch_size`` pairs (the last may be smaller).

        With ``rng`` the order is ``rng.permutation(len(self))``, else the stored order.
        """
        order = np.arange(len(self)) if rng is None else rng.permutation(len(self))
        return self.batches_in(order, batch_size)

    def bucketed_order(self, rng: np.random.Generator, batch_size: int, window: int = BUCKET_WINDOW):
        """A random epoch order whose batches hold pairs of similar length (less padding).

        A random permutation is cut into windows of ``window × batch_size`` pairs; each
        window is sorted by source length, then target length, and cut into batches; the
        full batches of all windows are shuffled and the one short batch (if any) goes last,
        so that `batches_in` cuts the order into exactly these batches. Each pair still comes
        once per epoch, and the batches still come in a random order; only which pairs share
        a batch is less random. What this saves on the CMU dictionary's words:
        docs/speed.md#less-padding-batches-by-length---bucket.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        order = rng.permutation(len(self))
        size = window * batch_size
        windows = [order[i : i + size] for i in range(0, len(order), size)]
        by_length = np.concatenate([w[np.lexsort((self.target_lengths[w], self.source_lengths[w]))] for w in windows])
        full = len(by_length) // batch_size * batch_size
        batches = by_length[:full].reshape(-1, batch_size)[rng.permutation(full // batch_size)]
        return np.concatenate([batches.reshape(-1), by_length[full:]])

    def batches_in(self, order, batch_size: int, start: int = 0):
        """Yield the `Batch`es of the pairs in ``order`` (a permutation of the pair indices),
        ``batch_size`` each, from batch number ``start`` (0-based) on."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        for begin in range(start * batch_size, len(order), batch_size):
            picked = order[begin : begin + batch_size]
            yield make_batch([self.sources[i] for i in picked], [self.targets[i] for i in picked],
                             self.src_vocab, self.tgt_vocab)


def split_holdout(items, fraction: float, seed: int):
    """Split ``items`` into ``(train, held_out)`` by a seeded permutation.

    ``held_out`` has ``round(len * fraction)`` items; for ``0 < fraction < 1`` and two or
    more items both parts keep at least one. Each part keeps the original relative order.
    The same seed gives the same split.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    n = len(items)
    n_held = round(n * fraction)
    if 0 < fraction < 1 and n >= 2:
        n_held = min(max(n_held, 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    held = sorted(order[:n_held].tolist())
    train = sorted(order[n_held:].tolist())
    return [items[i] for i in train], [items[i] for i in held]
