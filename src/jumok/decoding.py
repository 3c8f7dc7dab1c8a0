"""Batched decoding: greedy and beam search, and `decode`, the one path from id lists to
hypotheses that validation, the API, the CLI and the server all take.

Both searches ask only the decoding half of the model interface (`jumok.models.interface`):
`encode`, `start`, `step(tokens, state, maps)` and `state.select(index)`. They run on the
device of the sources they are given (the model's: `decode` copies them there); each step's
tokens (and, for beam search, its scores) come back to the host, where the bookkeeping
happens, so every result is NumPy. Both return, for every source, a list of `Hypothesis`,
best first: one for greedy decoding, up to `Search.nbest` for beam search.

Attention maps are gathered only when asked: ``maps=True`` for the cross-attention, or the
kinds wanted (`jumok.maps.kinds`: ``enc-self`` and ``dec-self`` add a Transformer's
self-attention). Then greedy decoding keeps each step's maps beside the tokens, and beam
search each step's maps with each row's parent row, following a hypothesis back through its
parents when it is handed out; the encoder's maps are read once per source. Without, no
step hands any back, so validation and a beam that is not asked gather none.

A model with positions (`max_positions`) writes at most that many steps, whatever
`Search.max_len` says, and a longer source is a `DataError` before anything is decoded.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from jumok.backend import array_module, to_device, to_numpy
from jumok.data.batching import pad
from jumok.errors import DataError
from jumok.functional import log_softmax
from jumok.layers.base import evaluating
from jumok.maps import CROSS, DEC_SELF, ENC_SELF, kind_of, kinds
from jumok.threads import map_with_replicas, one_blas_thread


@dataclass(frozen=True)
class Search:
    """How to decode: the target vocabulary's start and end ids, the most tokens to write, the
    beam (1: greedy), the hypotheses kept per source (≤ beam), beam search's length penalty α
    (a finished hypothesis scores log p / length^α), and how many sources `decode` takes at
    once: at most `rows`, within `budget` bytes of the model's `row_cost` (`chunks`; None:
    no budget), and how many such chunks at once, each in a thread of its own (`threads`,
    `jumok.threads`; each holds its chunk's bytes). Checked by `jumok.api`."""

    bos: int
    eos: int
    max_len: int
    beam: int = 1
    nbest: int = 1
    length_penalty: float = 1.0
    rows: int = 256
    budget: int | None = None
    threads: int = 1

    def __post_init__(self):
        if self.max_len < 1:
            raise ValueError(f"max_len must be at least 1, got {self.max_len}")


@dataclass
class Hypothesis:
    """One output of a search.

    tokens (L,) int, without the end token; `ended`: an end token was produced (False only
    when cut at `max_len`); beam search only: log_prob = Σ_t log p(y_t | y_<t, x) over every
    produced token, the end token included, and score = log_prob / length^α (None for
    greedy decoding); maps, filled only when asked: {name: map} attention in reading order
    (`jumok.maps`), a cross map (length, S) with one row per produced token (the end token's
    included) over the source's real tokens, a decoder self-attention map (length, length),
    an encoder self-attention map (S, S) over the real tokens (the same arrays for every
    hypothesis of a source).
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


def chunks(sources, beam=1, rows=256, budget=None, cost=None):
    """Consecutive runs of `sources` (id lists), in order, decoded together: runs within
    `budget` (a source over it alone is a run), each cut into pieces of at most `rows`
    sources. A run of n sources padded to the longest, L, costs cost(n, L): by default
    n × L × `beam`, padded source tokens; `decode` passes the bytes decoding them holds (the
    model's `row_cost`). No budget: pieces of `rows`."""
    cost = cost or (lambda n, longest: n * longest * beam)
    for run in _budget_runs(sources, cost, budget):
        for start in range(0, len(run), rows):
            yield run[start : start + rows]


def _budget_runs(sources, cost, budget):
    if budget is None:
        yield sources
        return
    run, longest = [], 0
    for ids in sources:
        if run and cost(len(run) + 1, max(longest, len(ids))) > budget:
            yield run
            run, longest = [], 0
        run.append(ids)
        longest = max(longest, len(ids))
    if run:
        yield run


def offered(model, maps):
    """The kinds of map `maps` asks for (`jumok.maps.kinds`) that `model` has."""
    has = {kind_of(name) for name in (*model.map_names, *getattr(model, "self_map_names", ()))}
    return kinds(maps) & has


def decode(model, sources, pad_id, search, maps=False):
    """The hypotheses of every source (an id list), in order: greedy decoding for beam 1, else
    beam search; the sources padded and copied to the model's device a chunk at a time
    (`chunks` of `search.rows` sources within `search.budget` bytes, a run of sources costing
    the model's `row_cost`), on the CPU `search.threads` chunks at once (`jumok.threads`).
    `maps`: False, True (the cross maps) or kinds (`jumok.maps.kinds`). A source longer than
    the model's positions is a `DataError` before anything is decoded."""
    check_lengths(model, sources)
    asked, steps = offered(model, maps), within_positions(model, search).max_len
    cost = None if search.budget is None else (lambda n, L: model.row_cost(L, steps, search.beam, asked, n))
    pieces = list(chunks(sources, search.beam, search.rows, search.budget, cost))
    searcher = greedy_decode if search.beam == 1 else beam_search

    def run(chunk, network):
        src, src_mask = (to_device(a, network.xp) for a in pad(chunk, pad_id))
        return searcher(network, src, src_mask, search, asked)

    threads = min(search.threads, len(pieces)) if model.xp is np else 1  # a GPU: one stream
    if threads > 1:
        with one_blas_thread() as told:
            if told:
                return [h for found in map_with_replicas(run, pieces, model, threads) for h in found]
    return [h for chunk in pieces for h in run(chunk, model)]


def check_lengths(model, sources):
    """`DataError` naming the first source (counted from 1) longer than the model's positions
    (`max_positions`) allow."""
    limit = getattr(model, "max_positions", None)
    if limit is None:
        return
    for number, ids in enumerate(sources, start=1):
        if len(ids) > limit:
            raise DataError(f"source {number} has {len(ids):,} tokens; this model reads at most {limit:,} "
                            f"(its positions)")


def within_positions(model, search):
    """`search` with its output limit cut to the steps the model's positions allow."""
    limit = getattr(model, "max_positions", None)
    return search if limit is None or search.max_len <= limit else replace(search, max_len=limit)


def _begin(model, src, src_mask, asked):
    """Encode and start: (the decoding state, the encoder's maps {name: (N, S, S)} on the host
    when ``enc-self`` is asked, else {}). The encoder's output is not kept past `start`."""
    enc = model.encode(src, src_mask)
    found = model.source_maps(enc) if ENC_SELF in asked else {}
    return model.start(enc), {name: to_numpy(a) for name, a in found.items()}


def _step_maps(asked):
    """What `step` is asked: True for the cross maps alone (what every model understands),
    else the kinds a step hands back (False for none)."""
    per_step = asked & {CROSS, DEC_SELF}
    return True if per_step == {CROSS} else tuple(sorted(per_step)) or False


def greedy_decode(model, src, src_mask, search, maps=False):
    """Pick the most likely token at every step, for every source of the batch at once.

    Stops as soon as every source has produced `search.eos`, or after `search.max_len` steps
    (at most the model's positions). `maps`: as `decode`.
    src (N, S), src_mask (N, S) → [[Hypothesis]] one per source.
    """
    xp, N, asked = array_module(src), src.shape[0], offered(model, maps)
    search = within_positions(model, search)
    with evaluating(model):
        state, source_maps = _begin(model, src, src_mask, asked)
        per_step = _step_maps(asked)
        tokens = xp.full(N, search.bos, dtype=np.int64)  # on the device, fed to the next step
        lengths = np.full(N, search.max_len, dtype=np.int64)  # tokens before the end token
        finished = np.zeros(N, dtype=bool)
        out, step_maps = [], []
        for step in range(search.max_len):
            scores, state, this_step = model.step(tokens, state, per_step)
            tokens = scores.argmax(axis=1)
            out.append(to_numpy(tokens))
            step_maps.append({name: to_numpy(a) for name, a in this_step.items()})
            ended_now = (out[-1] == search.eos) & ~finished
            lengths[ended_now] = step
            finished |= ended_now
            if finished.all():
                break
    out = np.stack(out, axis=1)  # (N, L)
    stacked = _stacked(step_maps)  # {name: (N, L, width)}
    real = to_numpy(src_mask).sum(axis=1)
    hypotheses = []
    for n in range(N):
        ended = lengths[n] < search.max_len
        produced = int(lengths[n]) + int(ended)
        found = {name: _cut(name, a[n], produced, real[n]) for name, a in stacked.items()}
        found.update({name: a[n, : real[n], : real[n]].copy() for name, a in source_maps.items()})
        hypotheses.append([Hypothesis(out[n, : lengths[n]].copy(), bool(ended), maps=found)])
    return hypotheses


def _stacked(step_maps):
    """Each step's maps {name: (N, width at that step)} → {name: (N, steps, widest)}, a step's
    row padded with 0 (a dec-self row t has t + 1 entries)."""
    stacked = {}
    for name in step_maps[0] if step_maps else ():
        N, widest = step_maps[0][name].shape[0], max(m[name].shape[1] for m in step_maps)
        stacked[name] = a = np.zeros((N, len(step_maps), widest), dtype=step_maps[0][name].dtype)
        for t, m in enumerate(step_maps):
            a[:, t, : m[name].shape[1]] = m[name]
    return stacked


def _cut(name, a, produced, real):
    """One output's map of `produced` steps: (produced, real source tokens) for a cross map,
    (produced, produced) for a decoder self-attention map."""
    return a[:produced, : produced if kind_of(name) == DEC_SELF else real].copy()


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
    first, each with the attention maps `maps` asks for (as `decode`).
    """
    xp, N, asked = array_module(src), src.shape[0], offered(model, maps)
    search = within_positions(model, search)
    with evaluating(model):
        state, source_maps = _begin(model, src, src_mask, asked)
        state = state.select(to_device(np.repeat(np.arange(N), search.beam), xp))
        beams, per_step = Beams(N, search, to_numpy(src_mask).sum(axis=1), source_maps), _step_maps(asked)  # N·K rows
        for t in range(1, search.max_len + 1):  # t = number of tokens after this step
            scores, state, step_maps = model.step(to_device(beams.tokens, xp), state, per_step)  # (rows, V)
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

    def __init__(self, N, search, real, source_maps=None):
        self.search, self.K, self.real = search, search.beam, real  # real (N,): each source's real length
        self.finished = [[] for _ in range(N)]  # per source: (Hypothesis, where its maps end), unsorted
        self.active = np.arange(N)  # the sources still searching; row r belongs to active[r // K]
        self.log_prob = np.full((N, self.K), -np.inf)  # (n_active, K)
        self.log_prob[:, 0] = 0.0
        self.history = np.zeros((N * self.K, 0), dtype=np.int64)  # (rows, t) tokens of each live hypothesis
        self.tokens = np.full(N * self.K, search.bos, dtype=np.int64)  # the tokens fed to the next step
        self.trail = []  # per step: {name: (rows, width)} that step's maps, when asked for
        self.parents = []  # per step after the first: (rows,) each row's row at the step before
        self.chosen = None  # this step's row of each row of the next step, before sources leave
        self.source_maps = source_maps or {}  # {name: (N, S, S)} once per source

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
        if step_maps:
            self.trail.append(step_maps)  # kept as they come: a hypothesis follows its parents back
        ends = is_eos & (np.arange(top.shape[1]) < K) & np.isfinite(top_lp)  # end candidates among the first K
        for r, j in zip(*np.nonzero(ends)):
            self._finish(self.active[r], origin[r, j], top_lp[r, j], ended=True)
        live = np.argsort(is_eos, axis=1, kind="stable")[:, :K]  # (R, K) the first K non-end candidates
        rows = np.take_along_axis(origin, live, axis=1).reshape(-1)  # (R·K,)
        self.tokens = np.take_along_axis(token, live, axis=1).reshape(-1)
        self.log_prob = np.take_along_axis(top_lp, live, axis=1)  # (R, K)
        self.history = np.concatenate([self.history[rows], self.tokens[:, None]], axis=1)  # (R·K, t)
        self.chosen = rows
        done = self._done(t)
        if done.all():
            return None
        rows = rows[self._drop(done)] if done.any() else rows
        if self.trail:
            self.parents.append(rows)
        return rows

    def _finish(self, n, row, log_prob, ended):
        """Source n's hypothesis in history row `row` is finished: ended (its parent's tokens,
        then the end token; `row` counts this step's rows) or cut at max_len (the row's own
        tokens; `row` counts the next step's rows). Its maps are gathered in `results`."""
        tokens = self.history[row]
        length = len(tokens) + int(ended)
        score = _normalise(float(log_prob), length, self.search.length_penalty)
        last = row if ended else self.chosen[row]  # its row at this step, where its maps end
        hypothesis = Hypothesis(np.asarray(tokens, dtype=np.int64), ended, float(log_prob), score)
        self.finished[n].append((hypothesis, (len(self.trail), last)))

    def _maps(self, n, end):
        """The maps of source n's hypothesis whose last step `step` is at row `row` (`end`): one
        row per step, followed back through the parents, cut to the source's real tokens (a
        cross map) or to the steps (a dec-self map)."""
        step, row = end
        if not step:
            return {}
        path = [row]
        for parents in reversed(self.parents[: step - 1]):
            path.append(parents[path[-1]])
        path.reverse()  # the row at each step
        found = {}
        for name in self.trail[0]:
            a = np.zeros((step, self.trail[-1][name].shape[1]), dtype=self.trail[0][name].dtype)
            for t, r in enumerate(path):
                a[t, : self.trail[t][name].shape[1]] = self.trail[t][name][r]
            found[name] = a[:, : step if kind_of(name) == DEC_SELF else self.real[n]].copy()
        return found

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
                kth_best = sorted((h.score for h, _ in self.finished[n]), reverse=True)[self.K - 1]
                done[r] = _normalise(self.log_prob[r].max(), t, self.search.length_penalty) <= kth_best
        return done

    def _drop(self, done):
        """Leave out the rows of the sources that are done; → the rows kept."""
        keep = np.nonzero(~done)[0]
        self.active, self.log_prob = self.active[keep], self.log_prob[keep]
        keep_rows = (keep[:, None] * self.K + np.arange(self.K)).reshape(-1)
        self.tokens, self.history = self.tokens[keep_rows], self.history[keep_rows]
        return keep_rows

    def results(self):
        """Every source's `nbest` best finished hypotheses, best first, with their maps (and
        the source's own, the same arrays for each of its hypotheses)."""
        best = []
        for n, hyps in enumerate(self.finished):
            kept = sorted(hyps, key=lambda pair: -pair[0].score)[: self.search.nbest]
            source = {name: a[n, : self.real[n], : self.real[n]].copy() for name, a in self.source_maps.items()}
            for hypothesis, end in kept:
                hypothesis.maps = {**self._maps(n, end), **source}
            best.append([hypothesis for hypothesis, _ in kept])
        return best
