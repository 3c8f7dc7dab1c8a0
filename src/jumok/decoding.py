"""Batched greedy decoding: the whole batch advances one step at a time."""

from dataclasses import dataclass

import numpy as np


@dataclass
class Decoded:
    """tokens (N, L) int including the end token where one was produced; lengths (N,) the
    number of tokens before the end token; weights (N, L, S) attention in reading order,
    or None for models without attention."""

    tokens: np.ndarray
    lengths: np.ndarray
    weights: np.ndarray | None


def greedy_decode(model, src, src_mask, bos_id, eos_id, max_len):
    """Pick the most likely token at every step, for every sequence of the batch at once.

    Decoding stops as soon as every sequence has produced `eos_id`, or after `max_len`
    steps. Tokens after a sequence's end token are ignored (lengths say where it ended).
    """
    model.eval()
    try:
        enc = model.encode(src, src_mask)
        state = model.decoder.start(enc)
        N = src.shape[0]
        tokens = np.full(N, bos_id, dtype=np.int64)
        lengths = np.full(N, max_len, dtype=np.int64)
        finished = np.zeros(N, dtype=bool)
        out, weights = [], []
        for step in range(max_len):
            scores, state, a = model.decoder.step(tokens, state)
            tokens = scores.argmax(axis=1)
            out.append(tokens)
            weights.append(a)
            ended_now = (tokens == eos_id) & ~finished
            lengths[ended_now] = step
            finished |= ended_now
            if finished.all():
                break
    finally:
        model.train()
    all_weights = None
    if weights[0] is not None:
        all_weights = model.in_reading_order(np.stack(weights, axis=1), src_mask)  # (N, L, S)
    return Decoded(np.stack(out, axis=1), lengths, all_weights)
