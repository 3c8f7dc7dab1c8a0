"""Turn sources into predictions with a trained model, a batch at a time."""

from dataclasses import dataclass, field

import numpy as np

from jumok.backend import to_device
from jumok.data.batching import pad
from jumok.decoding import beam_search, greedy_decode


@dataclass
class Prediction:
    """One output: its tokens (specials removed); `steps`, the token chosen at each decoding
    step, the end token `</s>` included where one was produced; and for attention models
    the weights (len(steps), S), one row per step.

    With beam search, `score` is the length-normalised score of this (the best) hypothesis
    (see `jumok.decoding.beam_search`), and when more than one hypothesis was asked for,
    `alternatives` is the whole n-best list as (tokens, score) pairs, best first, so
    `alternatives[0]` is this prediction itself. Greedy decoding leaves `score` None and
    `alternatives` empty.
    """

    tokens: list
    steps: list
    weights: np.ndarray | None
    score: float | None = None
    alternatives: list = field(default_factory=list)


def predict_ids(model, src_ids, src_vocab, tgt_vocab, max_len, batch_size=256, beam_size=1, nbest=1,
                length_penalty=1.0):
    """Predictions for encoded sources (lists of ids), decoded in batches.

    beam_size = 1 (and nbest = 1) decodes greedily; a larger beam uses `beam_search`, and
    `nbest` (≤ beam_size) hypotheses per source then come back as `alternatives`.
    `length_penalty` is the α of beam search's score log p / length^α. The padded sources
    are copied to the model's device; the predictions are on the host.
    """
    if not 1 <= nbest <= beam_size:
        raise ValueError(f"nbest must be between 1 and beam_size={beam_size}, got {nbest}")
    predictions = []
    for start in range(0, len(src_ids), batch_size):
        chunk = src_ids[start : start + batch_size]
        src, src_mask = (to_device(a, model.xp) for a in pad(chunk, src_vocab.pad_id))
        if beam_size == 1:
            predictions.extend(_greedy_predictions(model, chunk, src, src_mask, tgt_vocab, max_len))
        else:
            out = beam_search(model, src, src_mask, tgt_vocab.bos_id, tgt_vocab.eos_id, max_len, beam_size,
                              nbest=nbest, length_penalty=length_penalty)
            for ids, hyps in zip(chunk, out.hypotheses):
                best = hyps[0]
                step_ids = list(best.tokens) + ([tgt_vocab.eos_id] if best.ended else [])
                steps = [tgt_vocab.id_to_token(i) for i in step_ids]
                weights = None if best.weights is None else best.weights[:, : len(ids)]  # (len(steps), S)
                alternatives = [(tgt_vocab.decode(h.tokens), h.score) for h in hyps] if nbest > 1 else []
                predictions.append(Prediction(tgt_vocab.decode(best.tokens), steps, weights, best.score,
                                              alternatives))
    return predictions


def _greedy_predictions(model, chunk, src, src_mask, tgt_vocab, max_len):
    out = greedy_decode(model, src, src_mask, tgt_vocab.bos_id, tgt_vocab.eos_id, max_len)
    for n, ids in enumerate(chunk):
        step_ids = out.tokens[n, : int(out.lengths[n]) + 1]  # up to and including the end token
        steps = [tgt_vocab.id_to_token(i) for i in step_ids]
        weights = None if out.weights is None else out.weights[n, : len(steps), : len(ids)]
        yield Prediction(tgt_vocab.decode(step_ids), steps, weights)
