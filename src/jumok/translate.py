"""Turn sources into predictions with a trained model, a batch at a time."""

from dataclasses import dataclass

import numpy as np

from jumok.data.batching import pad
from jumok.decoding import greedy_decode


@dataclass
class Prediction:
    """One output: its tokens (without the end token) and, for attention models, the
    weights (len(tokens) + 1, S) — one row per produced token plus the end token."""

    tokens: list
    weights: np.ndarray | None


def predict_ids(model, src_ids, src_vocab, tgt_vocab, max_len, batch_size=256):
    """Greedy predictions for encoded sources (lists of ids), decoded in batches."""
    predictions = []
    for start in range(0, len(src_ids), batch_size):
        chunk = src_ids[start : start + batch_size]
        src, src_mask = pad(chunk, src_vocab.pad_id)
        out = greedy_decode(model, src, src_mask, tgt_vocab.bos_id, tgt_vocab.eos_id, max_len)
        for n, ids in enumerate(chunk):
            length = int(out.lengths[n])
            tokens = tgt_vocab.decode(out.tokens[n, :length])
            weights = None
            if out.weights is not None:
                weights = out.weights[n, : length + 1, : len(ids)]
            predictions.append(Prediction(tokens, weights))
    return predictions
