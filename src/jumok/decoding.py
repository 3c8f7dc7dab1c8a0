"""Batched decoding: greedy and beam search; the whole batch advances one step at a time.

Both run on the device of the sources they are given (see `jumok.backend`), which must be
the model's: `jumok.translate.predict_ids` copies them there. Each step's tokens (and, for
beam search, scores and attention) come back to the host, where the search bookkeeping
happens, and every result is a NumPy array.

What they ask of `model.decoder` is its decoding protocol (`jumok.models.decoders`):
`start(enc)` → state, `step(tokens, state)` → (scores, state, attention or None), and, for
beam search, `state.select(index)` → the state of the rows `index`, which the decoder's
state implements itself (gathering what is per row, keeping what is not).
"""

from dataclasses import dataclass

import numpy as np

from jumok.backend import array_module, to_device, to_numpy
from jumok.functional import log_softmax


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
    xp = array_module(src)
    model.eval()
    try:
        enc = model.encode(src, src_mask)
        state = model.decoder.start(enc)
        N = src.shape[0]
        tokens = xp.full(N, bos_id, dtype=np.int64)  # on the device, fed to the next step
        lengths = np.full(N, max_len, dtype=np.int64)
        finished = np.zeros(N, dtype=bool)
        out, weights = [], []
        for step in range(max_len):
            scores, state, a = model.decoder.step(tokens, state)
            tokens = scores.argmax(axis=1)
            out.append(to_numpy(tokens))
            weights.append(to_numpy(a))
            ended_now = (out[-1] == eos_id) & ~finished
            lengths[ended_now] = step
            finished |= ended_now
            if finished.all():
                break
    finally:
        model.train()
    all_weights = None
    if weights[0] is not None:
        all_weights = model.in_reading_order(np.stack(weights, axis=1), to_numpy(src_mask))  # (N, L, S)
    return Decoded(np.stack(out, axis=1), lengths, all_weights)


# ----------------------------------------------------------------------------------------
# Beam search
# ----------------------------------------------------------------------------------------


@dataclass
class Hypothesis:
    """One beam-search output.

    tokens (L,) int, without the end token; `ended` says whether an end token was produced
    (False only for hypotheses cut at `max_len`); log_prob = Σ_t log p(y_t | y_<t, x) over
    every produced token, the end token included; score = log_prob / length^α with
    length = L + 1 if ended else L (see `beam_search`); weights (length, S) attention in
    reading order, one row per produced token (the end token's included), or None for
    models without attention.
    """

    tokens: np.ndarray
    score: float
    log_prob: float
    weights: np.ndarray | None
    ended: bool = True

    @property
    def length(self):
        """Number of produced tokens, the end token included."""
        return len(self.tokens) + int(self.ended)


@dataclass
class BeamResult:
    """hypotheses[n]: the n-best list of source n, best (highest score) first, at most
    `nbest` long (shorter only when fewer than `nbest` distinct hypotheses exist)."""

    hypotheses: list

    @property
    def best(self):
        """The top hypothesis of every source."""
        return [hyps[0] for hyps in self.hypotheses]

    def __len__(self):
        return len(self.hypotheses)

    def __getitem__(self, n):
        return self.hypotheses[n]


def _top_k(x, k):
    """Indices (R, k) of the k largest entries of each row of x (R, C), sorted by value,
    highest first, ties broken by the lower index (like `argmax`); linear time per row.

    `argpartition` alone picks arbitrarily among entries tied with the k-th value; here all
    entries strictly above the k-th value are kept, then the lowest-index ties fill up.
    """
    kth = -np.partition(-x, k - 1, axis=1)[:, k - 1 : k]  # (R, 1) the k-th largest value
    above = x > kth
    tied = x == kth
    room = k - above.sum(axis=1, keepdims=True)  # ≥ 1
    keep = above | (tied & (np.cumsum(tied, axis=1) <= room))  # exactly k per row
    idx = np.nonzero(keep)[1].reshape(x.shape[0], k)  # ascending index in each row
    order = np.argsort(-np.take_along_axis(x, idx, axis=1), axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1)


def _normalise(log_prob, length, length_penalty):
    """score = log_prob / length^α."""
    return log_prob / float(length) ** length_penalty


def beam_search(model, src, src_mask, bos_id, eos_id, max_len, beam_size, nbest=1, length_penalty=1.0):
    """Batched beam search: the N sources × K beams advance together as one (N·K)-row batch.

    Scoring. A hypothesis y_1..y_T is ranked during the search by its log-probability
        log_prob(y) = Σ_{t=1..T} log softmax(scores_t)[y_t]
    and a finished one by its length-normalised score
        score(y) = log_prob(y) / T^α,        α = `length_penalty`,
    where T counts every produced token, the end token included (a hypothesis cut at
    `max_len` has T = max_len and no end token). α = 0 ranks by the raw sum (which favours
    short outputs), α = 1 by the mean log-probability per token.

    Each step. Every live hypothesis k of source n is extended by every token v, with
    log_prob(n, k) + log p(v); of those K·V candidates the top 2K are taken, best first.
    An end-token candidate ranked among the first K moves to source n's finished list and
    is never extended again; the first K candidates that are not the end token become the
    next K live hypotheses (at most K of the 2K end in `eos_id`, so there are always K).
    At the first step the K beams are copies of the start state, so only beam 0 is live
    (the others start at −∞) and the K starting hypotheses are distinct.

    Stopping rule. Source n is done when
      * it has at least K finished hypotheses and no live hypothesis scores higher,
        normalised at its current length t, than the K-th best finished one:
        max_live log_prob / t^α ≤ K-th best finished score; or
      * it has no live hypothesis with a finite log-probability left (tiny vocabularies); or
      * `max_len` steps have been taken: the live hypotheses are then added, unended, to
        its finished list, so there is always an answer.
    So it never stops merely because the best hypothesis ended: until K hypotheses have
    finished, K live ones keep being extended. With α = 0 the first condition is exact
    (a log-probability only decreases as tokens are added, so no live hypothesis can
    overtake any more); with α > 0 it is the usual heuristic (a long continuation could in
    principle still overtake, as normalisation rewards length). With K = 1 it reproduces
    `greedy_decode` exactly: the single live hypothesis is always the argmax continuation
    and the search ends with the first end token.

    The decoder state follows the beams through `state.select(rows)`: once to expand the N
    start states to N·K rows (row r belongs to source r // K), then after every step to
    give each surviving hypothesis its parent's state. Sources that are done leave the
    batch (their rows are left out of that selection); the loop stops when all are done.

    src (N, S), src_mask (N, S) → BeamResult, `nbest` (≤ `beam_size`) hypotheses per source.
    """
    K = int(beam_size)
    if K < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    if not 1 <= nbest <= K:
        raise ValueError(f"nbest must be between 1 and beam_size={K}, got {nbest}")
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")
    N = src.shape[0]
    finished = [[] for _ in range(N)]  # per source: Hypothesis, unsorted
    xp, host_mask = array_module(src), to_numpy(src_mask)

    def finish(n, tokens, log_prob, weights, ended):
        length = len(tokens) + int(ended)
        if weights is not None:
            weights = model.in_reading_order(weights[None], host_mask[n : n + 1])[0]  # (length, S)
        score = _normalise(float(log_prob), length, length_penalty)
        finished[n].append(Hypothesis(np.asarray(tokens, dtype=np.int64), score, float(log_prob), weights, ended))

    model.eval()
    try:
        enc = model.encode(src, src_mask)
        state = model.decoder.start(enc).select(to_device(np.repeat(np.arange(N), K), xp))  # N·K rows
        active = np.arange(N)  # the sources still searching; row r belongs to active[r // K]
        log_prob = np.full((N, K), -np.inf)  # (n_active, K)
        log_prob[:, 0] = 0.0
        history = np.zeros((N * K, 0), dtype=np.int64)  # (rows, t) tokens of each live hypothesis
        weight_history = None  # (rows, t, S) their attention, for models that have it
        tokens = np.full(N * K, bos_id, dtype=np.int64)
        for t in range(1, max_len + 1):  # t = number of tokens after this step
            scores, state, a = model.decoder.step(to_device(tokens, xp), state)  # (rows, V), (rows, S) or None
            scores, a = to_numpy(scores), to_numpy(a)  # the search itself runs on the host
            R, V = active.size, scores.shape[1]
            logp = log_softmax(scores.astype(np.float64, copy=False), axis=1)  # (rows, V)
            candidates = (log_prob.reshape(-1, 1) + logp).reshape(R, K * V)
            top = _top_k(candidates, min(2 * K, K * V))  # (R, 2K) flat candidate index, best first
            top_lp = np.take_along_axis(candidates, top, axis=1)
            origin = top // V + (np.arange(R) * K)[:, None]  # (R, 2K) row of the parent hypothesis
            token = top % V
            is_eos = token == eos_id
            if a is not None:
                weight_history = a[:, None, :] if weight_history is None else \
                    np.concatenate([weight_history, a[:, None, :]], axis=1)  # (rows, t, S)

            # end-token candidates among the first K go to the finished lists
            ends = is_eos & (np.arange(top.shape[1]) < K) & np.isfinite(top_lp)
            for r, j in zip(*np.nonzero(ends)):
                row = origin[r, j]
                finish(active[r], history[row], top_lp[r, j],
                       None if weight_history is None else weight_history[row], ended=True)

            # the first K non-end candidates stay live
            live = np.argsort(is_eos, axis=1, kind="stable")[:, :K]  # (R, K) positions within the 2K
            rows = np.take_along_axis(origin, live, axis=1).reshape(-1)  # (R·K,)
            tokens = np.take_along_axis(token, live, axis=1).reshape(-1)
            log_prob = np.take_along_axis(top_lp, live, axis=1)  # (R, K)
            history = np.concatenate([history[rows], tokens[:, None]], axis=1)  # (R·K, t)
            if weight_history is not None:
                weight_history = weight_history[rows]

            # which sources are done (see the stopping rule above)
            done = np.zeros(R, dtype=bool)
            for r in range(R):
                n, alive = active[r], np.isfinite(log_prob[r])
                if t == max_len:
                    for k in np.nonzero(alive)[0]:
                        row = r * K + k
                        finish(n, history[row], log_prob[r, k],
                               None if weight_history is None else weight_history[row], ended=False)
                    done[r] = True
                elif not alive.any():
                    done[r] = True
                elif len(finished[n]) >= K:
                    kth_best = sorted((h.score for h in finished[n]), reverse=True)[K - 1]
                    done[r] = _normalise(log_prob[r].max(), t, length_penalty) <= kth_best
            if done.all():
                break
            if done.any():  # drop the rows of the finished sources
                keep = np.nonzero(~done)[0]
                active, log_prob = active[keep], log_prob[keep]
                keep_rows = (keep[:, None] * K + np.arange(K)).reshape(-1)
                rows = rows[keep_rows]
                tokens, history = tokens[keep_rows], history[keep_rows]
                if weight_history is not None:
                    weight_history = weight_history[keep_rows]
            state = state.select(to_device(rows, xp))  # reorder (and shrink) the decoder state
    finally:
        model.train()
    return BeamResult([sorted(hyps, key=lambda h: -h.score)[:nbest] for hyps in finished])
