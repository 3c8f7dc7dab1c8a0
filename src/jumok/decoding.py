"""Batched decoding: greedy and beam search, and `decode`, the one path from id lists to
hypotheses that validation, the API, the CLI and the server all take.

Both searches ask only the decoding half of the model interface (`jumok.models.interface`):
`encode`, `start`, `step(tokens, state, maps)` and `state.select(index)`. They run on the
device of the sources they are given (the model's: `decode` copies them there); each step's
tokens (and, for beam search, its scores) come back to the host, where the bookkeeping
happens, so every result is NumPy. Both return, for every source, a list of `Hypothesis`,
best first: one for greedy decoding, up to `Search.nbest` for beam search.

Attention maps are gathered only when asked (``maps=True``): then both searches keep each
step's maps beside the tokens (beam search in its history, following the beams); without,
no step hands any back, so validation and a beam that is not asked gather none.
"""

from dataclasses import dataclass, field

import numpy as np

from jumok.backend import array_module, to_device, to_numpy
from jumok.data.batching import pad
from jumok.functional import log_softmax
from jumok.layers.base import evaluating


@dataclass(frozen=True)
class Search:
    """How to decode: the target vocabulary's start and end ids, the most tokens to write, the
    beam (1: greedy), the hypotheses kept per source (≤ beam), beam search's length penalty α
    (a finished hypothesis scores log p / length^α), and how many sources `decode` takes at
    once: at most `rows`, within `budget` padded tokens (`chunks`). Checked by `jumok.api`."""

    bos: int
    eos: int
    max_len: int
    beam: int = 1
    nbest: int = 1
    length_penalty: float = 1.0
    rows: int = 256
    budget: int | None = None

    def __post_init__(self):
        if self.max_len < 1:
            raise ValueError(f"max_len must be at least 1, got {self.max_len}")


@dataclass
class Hypothesis:
    """One output of a search.

    tokens (L,) int, without the end token; `ended`: an end token was produced (False only
    when cut at `max_len`); beam search only: log_prob = Σ_t log p(y_t | y_<t, x) over every
    produced token, the end token included, and score = log_prob / length^α (None for
    greedy decoding); maps: {name: (length, S)} attention in reading order, one row per
    produced token (the end token's included) over the source's real tokens — filled only
    when asked.
    """

    tokens: np.ndarray
    ended: bool = True
    log_prob: float | None = None
    score: float | None = None
    maps: dict = field(default_factory=dict)

    @property
    def length(self):
        """Number of produced tokens, the end token included."""
        return len(self.tokens) + int(self.ended)

    def steps(self, vocab):
        """The token written at each step, specials and the end token (where one was produced)
        included: one per row of the maps."""
        return [vocab.id_to_token(i) for i in self.tokens] + ([vocab.id_to_token(vocab.eos_id)] if self.ended else [])


def chunks(sources, beam=1, rows=256, budget=None):
    """Consecutive runs of `sources` (id lists), in order, decoded together: runs within
    `budget` padded tokens (rows × longest × `beam`; a source over it alone is a run), each
    cut into pieces of at most `rows` sources. No budget: pieces of `rows`."""
    for run in _budget_runs(sources, beam, budget):
        for start in range(0, len(run), rows):
            yield run[start : start + rows]


def _budget_runs(sources, beam, budget):
    if budget is None:
        yield sources
        return
    run, longest = [], 0
    for ids in sources:
        if run and (len(run) + 1) * max(longest, len(ids)) * beam > budget:
            yield run
            run, longest = [], 0
        run.append(ids)
        longest = max(longest, len(ids))
    if run:
        yield run


def decode(model, sources, pad_id, search, maps=False):
    """The hypotheses of every source (an id list), in order: greedy decoding for beam 1, else
    beam search; the sources padded and copied to the model's device a chunk at a time
    (`chunks` of `search.rows` and `search.budget`)."""
    results = []
    for chunk in chunks(sources, search.beam, search.rows, search.budget):
        src, src_mask = (to_device(a, model.xp) for a in pad(chunk, pad_id))
        searcher = greedy_decode if search.beam == 1 else beam_search
        results.extend(searcher(model, src, src_mask, search, maps))
    return results


def greedy_decode(model, src, src_mask, search, maps=False):
    """Pick the most likely token at every step, for every source of the batch at once.

    Stops as soon as every source has produced `search.eos`, or after `search.max_len` steps.
    src (N, S), src_mask (N, S) → [[Hypothesis]] one per source.
    """
    xp, N = array_module(src), src.shape[0]
    with evaluating(model):
        state = model.start(model.encode(src, src_mask))
        tokens = xp.full(N, search.bos, dtype=np.int64)  # on the device, fed to the next step
        lengths = np.full(N, search.max_len, dtype=np.int64)  # tokens before the end token
        finished = np.zeros(N, dtype=bool)
        out, step_maps = [], []
        for step in range(search.max_len):
            scores, state, this_step = model.step(tokens, state, maps)
            tokens = scores.argmax(axis=1)
            out.append(to_numpy(tokens))
            step_maps.append({name: to_numpy(a) for name, a in this_step.items()})
            ended_now = (out[-1] == search.eos) & ~finished
            lengths[ended_now] = step
            finished |= ended_now
            if finished.all():
                break
    out = np.stack(out, axis=1)  # (N, L)
    stacked = {name: np.stack([m[name] for m in step_maps], axis=1) for name in step_maps[0]}  # (N, L, S)
    real = to_numpy(src_mask).sum(axis=1)
    return [[_greedy_hypothesis(out[n], int(lengths[n]), search.max_len,
                                {name: a[n, :, : real[n]] for name, a in stacked.items()})]
            for n in range(N)]


def _greedy_hypothesis(tokens, length, max_len, maps):
    ended = length < max_len
    produced = length + int(ended)
    return Hypothesis(tokens[:length].copy(), ended, maps={name: a[:produced].copy() for name, a in maps.items()})


# ----------------------------------------------------------------------------------------
# Beam search
# ----------------------------------------------------------------------------------------


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


def beam_search(model, src, src_mask, search, maps=False):
    """Batched beam search: the N sources × K beams advance together as one (N·K)-row batch;
    `Beams` keeps the bookkeeping and says how hypotheses are scored, extended and finished.

    The decoder state follows the beams through `state.select(rows)`: once to expand the N
    start states to N·K rows (row r belongs to source r // K), then after every step to
    give each surviving hypothesis its parent's state. Sources that are done leave the
    batch (their rows are left out of that selection); the loop stops when all are done.

    src (N, S), src_mask (N, S) → for every source its `search.nbest` best hypotheses, best
    first, each with its attention maps when `maps` asks for them.
    """
    xp, N = array_module(src), src.shape[0]
    with evaluating(model):
        state = model.start(model.encode(src, src_mask)).select(to_device(np.repeat(np.arange(N), search.beam), xp))
        beams = Beams(N, search, to_numpy(src_mask).sum(axis=1))  # N·K rows above
        for t in range(1, search.max_len + 1):  # t = number of tokens after this step
            scores, state, step_maps = model.step(to_device(beams.tokens, xp), state, maps)  # (rows, V)
            rows = beams.advance(to_numpy(scores), {name: to_numpy(a) for name, a in step_maps.items()}, t)
            if rows is None:
                break
            state = state.select(to_device(rows, xp))  # reorder (and shrink) the decoder state
    return beams.results()


class Beams:
    """The bookkeeping of one batched beam search on the host (`beam_search`): the sources
    still searching, each one's K live hypotheses (their tokens and log-probabilities) and its
    finished ones.

    Scoring. A hypothesis y_1..y_T is ranked during the search by its log-probability
        log_prob(y) = Σ_{t=1..T} log softmax(scores_t)[y_t]
    and a finished one by its length-normalised score
        score(y) = log_prob(y) / T^α,        α = `search.length_penalty`,
    where T counts every produced token, the end token included (a hypothesis cut at
    `max_len` has T = max_len and no end token). α = 0 ranks by the raw sum (which favours
    short outputs), α = 1 by the mean log-probability per token.

    Each step. Every live hypothesis k of source n is extended by every token v, with
    log_prob(n, k) + log p(v); of those K·V candidates the top 2K are taken, best first.
    An end-token candidate ranked among the first K moves to source n's finished list and
    is never extended again; the first K candidates that are not the end token become the
    next K live hypotheses (at most K of the 2K end in the end token, so there are always K).
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
    """

    def __init__(self, N, search, real):
        self.search, self.K, self.real = search, search.beam, real  # real (N,): each source's real length
        self.finished = [[] for _ in range(N)]  # per source: Hypothesis, unsorted
        self.active = np.arange(N)  # the sources still searching; row r belongs to active[r // K]
        self.log_prob = np.full((N, self.K), -np.inf)  # (n_active, K)
        self.log_prob[:, 0] = 0.0
        self.history = np.zeros((N * self.K, 0), dtype=np.int64)  # (rows, t) tokens of each live hypothesis
        self.tokens = np.full(N * self.K, search.bos, dtype=np.int64)  # the tokens fed to the next step
        self.maps = {}  # {name: (rows, t, S)} the attention of each live hypothesis, when asked for

    def advance(self, scores, step_maps, t):
        """Take step t's scores (rows, V) and maps ({name: (rows, S)}, {} when not asked for):
        finish the candidates that end, keep K live ones per source, drop the sources that are
        done. → the parent row of each row of the next step, or None when every source is done."""
        K, R, V = self.K, self.active.size, scores.shape[1]
        logp = log_softmax(scores.astype(np.float64, copy=False), axis=1)  # (rows, V)
        candidates = (self.log_prob.reshape(-1, 1) + logp).reshape(R, K * V)
        top = _top_k(candidates, min(2 * K, K * V))  # (R, 2K) flat candidate index, best first
        top_lp = np.take_along_axis(candidates, top, axis=1)
        origin = top // V + (np.arange(R) * K)[:, None]  # (R, 2K) row of the parent hypothesis
        token = top % V
        is_eos = token == self.search.eos
        for name, a in step_maps.items():  # each row's maps so far, this step's added: (rows, t, S)
            kept = self.maps.get(name)
            self.maps[name] = a[:, None, :] if kept is None else np.concatenate([kept, a[:, None, :]], axis=1)
        ends = is_eos & (np.arange(top.shape[1]) < K) & np.isfinite(top_lp)  # end candidates among the first K
        for r, j in zip(*np.nonzero(ends)):
            self._finish(self.active[r], origin[r, j], top_lp[r, j], ended=True)
        live = np.argsort(is_eos, axis=1, kind="stable")[:, :K]  # (R, K) the first K non-end candidates
        rows = np.take_along_axis(origin, live, axis=1).reshape(-1)  # (R·K,)
        self.tokens = np.take_along_axis(token, live, axis=1).reshape(-1)
        self.log_prob = np.take_along_axis(top_lp, live, axis=1)  # (R, K)
        self.history = np.concatenate([self.history[rows], self.tokens[:, None]], axis=1)  # (R·K, t)
        self.maps = {name: a[rows] for name, a in self.maps.items()}
        done = self._done(t)
        if done.all():
            return None
        return rows[self._drop(done)] if done.any() else rows

    def _finish(self, n, row, log_prob, ended):
        """Source n's hypothesis in history row `row` is finished: ended (its parent's tokens,
        then the end token) or cut at max_len (the row's own tokens)."""
        tokens = self.history[row]
        length = len(tokens) + int(ended)
        score = _normalise(float(log_prob), length, self.search.length_penalty)
        maps = {name: a[row, :, : self.real[n]].copy() for name, a in self.maps.items()}  # (length, S real)
        self.finished[n].append(Hypothesis(np.asarray(tokens, dtype=np.int64), ended, float(log_prob), score, maps))

    def _done(self, t):
        """Which active sources are done after step t (see the stopping rule of `beam_search`)."""
        done = np.zeros(self.active.size, dtype=bool)
        for r, n in enumerate(self.active):
            alive = np.isfinite(self.log_prob[r])
            if t == self.search.max_len:
                for k in np.nonzero(alive)[0]:
                    self._finish(n, r * self.K + k, self.log_prob[r, k], ended=False)
                done[r] = True
            elif not alive.any():
                done[r] = True
            elif len(self.finished[n]) >= self.K:
                kth_best = sorted((h.score for h in self.finished[n]), reverse=True)[self.K - 1]
                done[r] = _normalise(self.log_prob[r].max(), t, self.search.length_penalty) <= kth_best
        return done

    def _drop(self, done):
        """Leave out the rows of the sources that are done; → the rows kept."""
        keep = np.nonzero(~done)[0]
        self.active, self.log_prob = self.active[keep], self.log_prob[keep]
        keep_rows = (keep[:, None] * self.K + np.arange(self.K)).reshape(-1)
        self.tokens, self.history = self.tokens[keep_rows], self.history[keep_rows]
        self.maps = {name: a[keep_rows] for name, a in self.maps.items()}
        return keep_rows

    def results(self):
        """Every source's `nbest` best finished hypotheses, best first."""
        return [sorted(hyps, key=lambda h: -h.score)[: self.search.nbest] for hyps in self.finished]
