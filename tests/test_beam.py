"""Beam search: exact agreement with greedy at K = 1, hand-built cases where greedy is
suboptimal, end handling, length limit, every hypothesis's maps, the decoders' own
state selection, `decode` (padding and chunks)."""

import copy
import dataclasses
from dataclasses import dataclass, replace

import numpy as np
import pytest
from checks import if_lstm, teacher_forced, tiny_model

from jumok.data.vocab import Vocab
from jumok.decoding import Search, beam_search, decode, greedy_decode
from jumok.maps import cross_names
from jumok.models import MODELS
from jumok.models.seq2seq import LSTM_MODELS

V_SRC, V_TGT = 9, 7
PAD, BOS, EOS = 0, 1, 2


def make(name, seed=0, **settings):
    """A tiny float64 model of the MODELS entry `name` (`checks.tiny_model`) with Config
    `settings`, its weights redrawn larger than the default init (confident, distinct)."""
    rng = np.random.default_rng(seed)
    model = tiny_model(name, V_SRC, V_TGT, rng, np.float64, **settings)
    for _, p, _ in model.named_parameters():
        p[...] = rng.standard_normal(p.shape) * 0.8
    return model


def random_sources(rng, N=6, S=5):
    lengths = rng.integers(1, S + 1, N)
    lengths[0] = S
    src_mask = np.arange(S)[None] < lengths[:, None]
    return np.where(src_mask, rng.integers(3, V_SRC, (N, S)), PAD), src_mask


def search(max_len, beam=1, nbest=1, length_penalty=1.0):
    return Search(BOS, EOS, max_len, beam, nbest, length_penalty)


def fed_back(model, src, src_mask, n, tokens):
    """Σ log p of `tokens` (end token included) for source n, and the cross-attention maps
    {name: (T, S)} over the source's real tokens (none for a model without attention)."""
    tgt_in = np.concatenate([[BOS], tokens[:-1]])[None]
    _, logp, maps = teacher_forced(model, src[n : n + 1], src_mask[n : n + 1], tgt_in)
    real = int(src_mask[n].sum())
    for name, weights in maps.items():
        assert np.all(weights[0, :, real:] == 0), name  # padding gets none
    return logp[0, np.arange(len(tokens)), tokens].sum(), {name: a[0, :, :real] for name, a in maps.items()}


# ---------------------------------------------------------------------------- real models


CASES = {**{name: (name, {}) for name in sorted(MODELS)},
         **{f"{name}-reversed": (name, {"reverse": True}) for name in sorted(LSTM_MODELS)}}


@pytest.mark.parametrize("name, settings", CASES.values(), ids=CASES)
def test_beam_size_one_is_exactly_greedy(name, settings):
    rng = np.random.default_rng(5)
    src, src_mask = random_sources(rng, N=8)
    max_len = 8
    ended_somewhere = False
    for seed in range(5):
        model = make(name, seed, **settings)
        greedy = greedy_decode(model, src, src_mask, search(max_len), maps=True)
        beam = beam_search(model, src, src_mask, search(max_len, length_penalty=0.7), maps=True)
        assert len(beam) == len(greedy)
        for (g,), hyps in zip(greedy, beam, strict=True):
            assert len(hyps) == 1
            np.testing.assert_array_equal(hyps[0].tokens, g.tokens)
            assert hyps[0].ended == g.ended
            ended_somewhere |= hyps[0].ended
            assert set(hyps[0].maps) == set(g.maps) == set(model.map_names)
            for map_name in g.maps:
                # Beam search drops ended rows, so its products have other shapes than
                # greedy's, and BLAS may round the last bit differently on some CPUs.
                np.testing.assert_allclose(hyps[0].maps[map_name], g.maps[map_name], rtol=1e-12, atol=1e-15)
    assert ended_somewhere  # the case where greedy stops at the end token is covered


@pytest.mark.parametrize("name", sorted(MODELS))
def test_beam_hypotheses_agree_with_teacher_forcing(name):
    """Every returned hypothesis's log-probability and attention are those of feeding it back:
    the reordering of the real decoders' states (the encoder data they read included) and of
    the maps kept in the beam's history is right."""
    rng = np.random.default_rng(6)
    src, src_mask = random_sources(rng, N=5)
    model = make(name, seed=1, **if_lstm(name, reverse=True))
    alpha = 0.8
    out = beam_search(model, src, src_mask, search(5, beam=4, nbest=4, length_penalty=alpha), maps=True)
    for n, hyps in enumerate(out):
        assert 1 <= len(hyps) <= 4
        for rank, h in enumerate(hyps):
            produced = np.concatenate([h.tokens, [EOS] * h.ended]).astype(np.int64)
            assert EOS not in h.tokens
            logp, maps = fed_back(model, src, src_mask, n, produced)
            assert h.log_prob == pytest.approx(logp, rel=1e-10, abs=1e-12)
            assert h.score == pytest.approx(h.log_prob / len(produced) ** alpha, rel=1e-12)
            assert set(h.maps) == set(model.map_names) and set(cross_names(h.maps)) == set(maps)
            for map_name, weights in maps.items():
                assert h.maps[map_name].shape == (len(produced), src_mask[n].sum())
                np.testing.assert_allclose(h.maps[map_name], weights, rtol=1e-10, atol=1e-12, err_msg=map_name)
    assert all(h.maps == {} for hyps in beam_search(model, src, src_mask, search(5, beam=4, nbest=4)) for h in hyps)


@pytest.mark.parametrize("training", [True, False])
def test_decoding_restores_the_model_mode_and_leaves_the_inputs(training):
    rng = np.random.default_rng(7)
    src, src_mask = random_sources(rng)
    model = make("attention", dropout=0.3).train(training)
    src_copy, mask_copy = src.copy(), src_mask.copy()
    for decoder, beam in ((greedy_decode, 1), (beam_search, 3)):
        decoder(model, src, src_mask, search(4, beam=beam), maps=True)
        np.testing.assert_array_equal(src, src_copy)
        np.testing.assert_array_equal(src_mask, mask_copy)
        assert model.training is training


# ------------------------------------------------------------------- a hand-built model

A, B, C = 3, 4, 5  # ordinary tokens of the fake target vocabulary
V_FAKE = 6


def dist(**probs):
    """A next-token distribution over the fake vocabulary (pad and <s> impossible)."""
    p = np.zeros(V_FAKE)
    for name, value in probs.items():
        p[{"eos": EOS, "a": A, "b": B, "c": C}[name]] = value
    assert abs(p.sum() - 1) < 1e-12
    return p


DEFAULT = dist(eos=0.7, a=0.1, b=0.1, c=0.1)

# Scenario 0: greedy takes "a" (0.6) and then the best it can do is "a </s>" (0.6·0.4 = 0.24);
# the second choice "b" leads to "b </s>" with 0.4·0.9 = 0.36.
# Scenario 1: the best first candidate is the end token (0.5), but "a </s>" (0.45·0.99) scores
# higher per token: with length_penalty = 1, -0.808/2 > -0.693/1.
# Scenario 2: the end token is the *second* candidate at step 1 (0.45) and ends first, yet
# "a </s>" has the higher raw probability 0.5·0.99.
# Scenario 3: the end token is never likely, so the length limit cuts every hypothesis.
TABLES = [
    {(): dist(a=0.6, b=0.4), (A,): dist(eos=0.4, b=0.3, c=0.3), (B,): dist(eos=0.9, a=0.1)},
    {(): dist(eos=0.5, a=0.45, b=0.05), (A,): dist(eos=0.99, c=0.01)},
    {(): dist(a=0.5, eos=0.45, b=0.05), (A,): dist(eos=0.99, c=0.01)},
    {"default": dist(eos=0.01, a=0.5, b=0.29, c=0.2)},
]

@dataclass
class FakeEncoderOutput:
    hs: np.ndarray
    h: np.ndarray
    c: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class FakeState:
    """Per row: prefix (N, t), the tokens produced so far (<s> not included), and table (N,),
    the scenario of each row's source, so that a wrong reordering shows up as wrong
    probabilities. Fixed: `tables` (must reach every step as the very same object) and
    `selections`, where `select` records every index it is given."""

    prefix: np.ndarray
    table: np.ndarray
    tables: list
    selections: list

    def select(self, index):
        self.selections.append(index.copy())
        return replace(self, prefix=self.prefix[index], table=self.table[index])


class FakeModel:
    """Speaks the decoding half of the model interface. Source n = [scenario id, ...]; no real
    encoder; next-token distributions looked up by prefix; the "cross" map of a step records
    (number of tokens so far, token fed, 0, ...) to check that each hypothesis's maps follow
    the tokens it was fed."""

    map_names = ("cross",)
    xp = np

    def __init__(self):
        self.selections = []
        self.training = True

    def encode(self, src, src_mask):
        h = src[:, :1].astype(np.float64)
        return FakeEncoderOutput(np.zeros(src.shape + (1,)), h, h.copy(), src_mask)

    def start(self, enc):
        N = enc.h.shape[0]
        return FakeState(np.zeros((N, 0), dtype=np.int64), enc.h[:, 0].astype(np.int64), TABLES, self.selections)

    def step(self, tokens, state, maps=False):
        N = tokens.shape[0]
        assert state.tables is TABLES and state.table.shape == (N,)
        prefix = state.prefix
        if not np.all(tokens == BOS):
            prefix = np.concatenate([prefix, tokens[:, None]], axis=1)
        scores = np.empty((N, V_FAKE))
        attention = np.zeros((N, 4))
        for i in range(N):
            table = state.tables[state.table[i]]
            key = tuple(int(t) for t in prefix[i])
            with np.errstate(divide="ignore"):
                scores[i] = np.log(table.get(key, table.get("default", DEFAULT))) + 1.5  # logits
            attention[i, :2] = len(key), tokens[i]
        return scores, replace(state, prefix=prefix), {"cross": attention} if maps else {}

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)


def fake_batch(*scenarios):
    src = np.array([[s, 7, 7, 7] for s in scenarios])
    return src, np.ones_like(src, dtype=bool)


def probability(scenario, produced):
    table, p = TABLES[scenario], 1.0
    for t, token in enumerate(produced):
        p *= table.get(tuple(produced[:t]), table.get("default", DEFAULT))[token]
    return p


def test_greedy_is_suboptimal_and_beam_finds_the_better_sequence():
    model = FakeModel()
    src, src_mask = fake_batch(0)
    (greedy,), = greedy_decode(model, src, src_mask, search(5))
    np.testing.assert_array_equal(greedy.tokens, [A])
    assert greedy.ended and greedy.log_prob is None and greedy.score is None
    for alpha in (0.0, 1.0):
        (best,), = beam_search(model, src, src_mask, search(5, beam=2, length_penalty=alpha))
        np.testing.assert_array_equal(best.tokens, [B])
        assert best.ended
        assert best.log_prob == pytest.approx(np.log(0.4 * 0.9), rel=1e-12)
        assert best.score == pytest.approx(np.log(0.36) / 2**alpha, rel=1e-12)
        assert best.log_prob > np.log(0.6 * 0.4)  # better than greedy's sequence


def test_nbest_is_sorted_distinct_and_scored_consistently():
    model = FakeModel()
    src, src_mask = fake_batch(0, 1, 2, 3)
    alpha = 0.5
    out = beam_search(model, src, src_mask, search(4, beam=3, nbest=3, length_penalty=alpha), maps=True)
    for scenario, hyps in enumerate(out):
        assert len(hyps) == 3
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({(tuple(h.tokens), h.ended) for h in hyps}) == 3
        for h in hyps:
            produced = [int(t) for t in h.tokens] + [EOS] * h.ended
            assert h.log_prob == pytest.approx(np.log(probability(scenario, produced)), rel=1e-12)
            assert h.score == pytest.approx(h.log_prob / h.length**alpha, rel=1e-12)
        for h in hyps:  # each one's maps: row t was computed after t tokens, fed the previous token (<s> first)
            produced = [int(t) for t in h.tokens] + [EOS] * h.ended
            assert h.maps["cross"].shape == (h.length, 4)
            np.testing.assert_array_equal(h.maps["cross"][:, 0], np.arange(h.length))
            np.testing.assert_array_equal(h.maps["cross"][:, 1], [BOS] + produced[:-1])
    # scenario 0, K = 3: b </s> (0.36), a </s> (0.24), then a b ... or a c ...
    np.testing.assert_array_equal(out[0][0].tokens, [B])
    np.testing.assert_array_equal(out[0][1].tokens, [A])


def test_an_early_end_does_not_stop_the_search():
    model = FakeModel()
    src, src_mask = fake_batch(1, 2)
    greedy = greedy_decode(model, src, src_mask, search(5))
    assert len(greedy[0][0].tokens) == 0 and greedy[0][0].ended  # greedy ends at once on scenario 1
    # scenario 1: the top candidate ends at step 1, the longer one wins after normalisation
    out = beam_search(model, src, src_mask, search(5, beam=2, nbest=2, length_penalty=1.0))
    np.testing.assert_array_equal(out[0][0].tokens, [A])
    assert out[0][0].score == pytest.approx(np.log(0.45 * 0.99) / 2, rel=1e-12)
    np.testing.assert_array_equal(out[0][1].tokens, [])
    assert out[0][1].score == pytest.approx(np.log(0.5), rel=1e-12)
    # scenario 2: the end token (second candidate) ends first; "a </s>" wins on raw score
    for alpha in (0.0, 1.0):
        out = beam_search(model, src, src_mask, search(5, beam=2, nbest=2, length_penalty=alpha))
        np.testing.assert_array_equal(out[1][0].tokens, [A])
        assert out[1][0].log_prob == pytest.approx(np.log(0.5 * 0.99), rel=1e-12)
        np.testing.assert_array_equal(out[1][1].tokens, [])
        assert out[1][1].log_prob == pytest.approx(np.log(0.45), rel=1e-12)
    # with the raw sum, scenario 1's one-step answer is the best one
    best = [hyps[0] for hyps in beam_search(model, src, src_mask, search(5, beam=2, length_penalty=0.0))]
    np.testing.assert_array_equal(best[0].tokens, [])


def test_length_limit_returns_the_cut_hypotheses():
    model = FakeModel()
    src, src_mask = fake_batch(3, 0)
    out = beam_search(model, src, src_mask, search(3, beam=2, nbest=2, length_penalty=0.0), maps=True)
    for h in out[0]:
        assert not h.ended and len(h.tokens) == 3 and h.length == 3
    assert out[0][0].maps["cross"].shape == out[0][1].maps["cross"].shape == (3, 4)
    np.testing.assert_array_equal(out[0][0].tokens, [A, A, A])
    assert out[0][0].log_prob == pytest.approx(3 * np.log(0.5), rel=1e-12)
    np.testing.assert_array_equal(out[1][0].tokens, [B])  # the other source is unaffected
    # a one-step limit still answers, with ended and cut hypotheses alike
    out = beam_search(model, src, src_mask, search(1, beam=2, nbest=2))
    assert [len(h.tokens) for h in out[1]] == [1, 1] and not any(h.ended for h in out[1])
    assert [h.ended for h in out[0]] == [False, False]


def test_wide_beam_on_a_tiny_vocabulary():
    """More beams than possible continuations: impossible (−∞) hypotheses never come back."""
    model = FakeModel()
    src, src_mask = fake_batch(0, 1, 2, 3)
    out = beam_search(model, src, src_mask, search(3, beam=9, nbest=9, length_penalty=1.0))
    for hyps in out:
        assert 1 <= len(hyps) <= 9
        assert all(np.isfinite(h.score) for h in hyps)
        assert len({(tuple(h.tokens), h.ended) for h in hyps}) == len(hyps)


# ------------------------------------------------------------------ selecting state rows


def test_beam_search_expands_then_follows_the_parents():
    """The state is expanded to N·K rows (source n's beams next to each other), then every
    selection picks rows of the batch before it, K per source still searching."""
    model = FakeModel()
    src, src_mask = fake_batch(0, 3, 1)
    beam_search(model, src, src_mask, search(4, beam=2))
    first, *later = model.selections
    np.testing.assert_array_equal(first, [0, 0, 1, 1, 2, 2])
    rows = len(first)
    assert later
    for index in later:
        assert len(index) % 2 == 0 and 0 < len(index) <= rows and index.min() >= 0 and index.max() < rows
        rows = len(index)
    assert len(later[-1]) < len(first)  # sources that are done have left the batch


DECODER_STATES = {  # model options → the fields of its decoder's state, "weights" the fixed one
    "seq2seq": ({"name": "seq2seq"}, {"h", "c", "weights"}),
    "peeky": ({"name": "peeky"}, {"h", "c", "weights", "peek"}),
    "attention-dot": ({"name": "attention"}, {"h", "c", "weights", "hs", "mask", "prepared"}),
    "attention-additive": ({"name": "attention", "attention": "additive"},
                           {"h", "c", "weights", "hs", "mask", "prepared"}),
}


def decoder_start(options, N=3):
    """(model in eval mode, its encoder output and decoder start state) for N random sources."""
    options = dict(options, layers=2)
    model = make(options.pop("name"), **options).eval()
    src, src_mask = random_sources(np.random.default_rng(4), N=N)
    enc = model.encode(src, src_mask)
    return model, enc, model.decoder.start(enc)


@pytest.mark.parametrize("kind", DECODER_STATES)
def test_select_gathers_exactly_the_rows_asked_and_keeps_the_fixed_part(kind):
    """Every per-row part (h and c per layer, and what the step reads of the encoder: the
    peek, or hs, mask and prepared keys) is gathered row for row; the step weights are kept
    as the same object; nothing else of the encoder output rides along."""
    options, fields = DECODER_STATES[kind]
    model, enc, state = decoder_start(options)
    assert {f.name for f in dataclasses.fields(state)} == fields
    if "hs" in fields:
        assert state.hs is enc.hs and state.mask is enc.mask
        assert (state.prepared is None) == (options.get("attention", "dot") != "additive")
    weights, snapshot = state.weights, {name: copy.deepcopy(getattr(state, name)) for name in fields - {"weights"}}
    for index in (np.array([2, 2, 0, 1, 0]), np.array([1]), np.repeat(np.arange(3), 4)):
        moved = state.select(index)
        assert type(moved) is type(state)
        assert moved.weights is state.weights and len(moved.weights) == 2  # fixed: one per layer
        for name in fields - {"weights"}:
            value, new = getattr(state, name), getattr(moved, name)
            if value is None:
                assert new is None, name
            elif isinstance(value, list):
                assert len(new) == len(value) == 2, name
                for a, b in zip(value, new, strict=True):
                    np.testing.assert_array_equal(b, a[index], err_msg=name)
            else:
                np.testing.assert_array_equal(new, value[index], err_msg=name)
        # a step on the selected rows is the selected rows of a step on them all
        tokens = np.array([BOS, 5, 6])
        scores, after, attention = model.decoder.step(tokens, state)
        moved_scores, moved_after, moved_attention = model.decoder.step(tokens[index], moved)
        np.testing.assert_allclose(moved_scores, scores[index], rtol=1e-12, atol=1e-14)
        for a, b in zip(after.h + after.c, moved_after.h + moved_after.c, strict=True):
            np.testing.assert_allclose(b, a[index], rtol=1e-12, atol=1e-14)
        if attention is not None:
            np.testing.assert_allclose(moved_attention, attention[index], rtol=1e-12, atol=1e-14)
    assert state.weights is weights  # the input is untouched
    for name, value in snapshot.items():
        np.testing.assert_equal(getattr(state, name), value, err_msg=name)


@pytest.mark.parametrize("kind", DECODER_STATES)
def test_a_step_with_the_prebuilt_step_weights_equals_one_that_rebuilds_them(kind):
    """The LSTM step weights, built once per decode, give the step that building them at
    every step (weights None) gives, to the last bit."""
    model, _, state = decoder_start(DECODER_STATES[kind][0])
    tokens = np.array([BOS, 5, 6])
    cached, cached_state, _ = model.decoder.step(tokens, state)
    rebuilt, rebuilt_state, _ = model.decoder.step(tokens, replace(state, weights=None))  # None: built by the step
    np.testing.assert_array_equal(cached, rebuilt)
    for a, b in zip(cached_state.h + cached_state.c, rebuilt_state.h + rebuilt_state.c, strict=True):
        np.testing.assert_array_equal(a, b)
    assert cached_state.weights is state.weights


# ------------------------------------------------------------------------------ decode


def test_decode_in_chunks_equals_one_batch_greedy_and_beam():
    """`decode` pads, cuts into chunks of `rows` and dispatches: greedy (beam 1) or beam search,
    each hypothesis's maps cut to its source's real length."""
    vocab_tgt = Vocab(["x", "y", "z"])
    assert (vocab_tgt.pad_id, vocab_tgt.bos_id, vocab_tgt.eos_id, len(vocab_tgt)) == (PAD, BOS, EOS, V_TGT)
    model = make("attention", seed=2, reverse=True, hidden_size=5)  # one whose outputs hold no padding id
    rng = np.random.default_rng(8)
    sources = [list(rng.integers(4, V_SRC, rng.integers(1, 5))) for _ in range(7)]
    greedy = decode(model, sources, PAD, replace(search(6), rows=3), maps=True)
    beam1 = beam_search(model, *_padded(sources), search(6), maps=True)
    assert len(greedy) == len(sources)
    for (g,), (h,), ids in zip(greedy, beam1, sources, strict=True):
        assert g.score is None and g.log_prob is None
        np.testing.assert_array_equal(g.tokens, h.tokens)
        assert g.ended == h.ended
        assert g.maps["cross"].shape == (g.length, len(ids)) == (len(g.steps(vocab_tgt)), len(ids))
        # other batches (3 rows against 7): BLAS may round the last bit differently
        np.testing.assert_allclose(g.maps["cross"], h.maps["cross"], rtol=1e-12, atol=1e-15)
    beam = decode(model, sources, PAD, replace(search(6, beam=3, nbest=2), rows=3), maps=True)
    assert len(beam) == len(sources)
    for hyps, ids in zip(beam, sources, strict=True):
        assert len(hyps) == 2
        assert hyps[0].score >= hyps[1].score
        best, steps = hyps[0], hyps[0].steps(vocab_tgt)
        assert best.maps["cross"].shape == (len(steps), len(ids))
        assert hyps[1].maps["cross"].shape == (hyps[1].length, len(ids))
        assert vocab_tgt.decode(best.tokens) == [s for s in steps if s != "</s>"]
        assert "</s>" not in steps[:-1] and (steps[-1:] == ["</s>"]) == best.ended
    single = decode(model, sources, PAD, search(6, beam=3))
    assert all(len(s) == 1 and s[0].maps == {} for s in single)
    assert all(np.array_equal(s[0].tokens, b[0].tokens) for s, b in zip(single, beam, strict=True))


def _padded(sources):
    from jumok.data.batching import pad

    return pad(sources, PAD)
