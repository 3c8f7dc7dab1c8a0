"""Turn sources into predictions with a trained model, a batch at a time."""

from dataclasses import dataclass

import numpy as np

from jumok.data.batching import pad
from jumok.decoding import greedy_decode


@dataclass
class Prediction:
    """One output: its tokens (specials removed); `steps`, the token chosen at each decoding
    step, the end token `</s>` included where one was produced; and for attention models
    the weights (len(steps), S), one row per step."""

    tokens: list
    steps: list
    weights: np.ndarray | None


def predict_ids(model, src_ids, src_vocab, tgt_vocab, max_len, batch_size=256):
    """Greedy predictions for encoded sources (lists of ids), decoded in batches."""
    predictions = []
    for start in range(0, len(src_ids), batch_size):
        chunk = src_ids[start : start + batch_size]
        src, src_mask = pad(chunk, src_vocab.pad_id)
        out = greedy_decode(model, src, src_mask, tgt_vocab.bos_id, tgt_vocab.eos_id, max_len)
        for n, ids in enumerate(chunk):
            step_ids = out.tokens[n, : int(out.lengths[n]) + 1]  # up to and including the end token
            steps = [tgt_vocab.id_to_token(i) for i in step_ids]
            weights = None if out.weights is None else out.weights[n, : len(steps), : len(ids)]
            predictions.append(Prediction(tgt_vocab.decode(step_ids), steps, weights))
    return predictions
