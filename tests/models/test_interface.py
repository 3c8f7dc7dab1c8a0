"""The model interface (`jumok.models.interface`) tested by behaviour, for every entry of
`jumok.models.MODELS` under several settings (each built by `checks.tiny_model`), the
chapter's step-by-step reference model and the two-map test model (tests/two_maps.py), in
float64, on batches with padding:

- decoding one step at a time (`start`, `step`) gives the teacher-forced scores and
  cross-attention;
- `state.select(index)` then `step` equals `step` then taking rows `index`;
- every map is named in `map_names`, and a cross-attention map is a distribution over the
  real source positions, exactly 0 on padding;
- `state_dict` → `load_state_dict` into a freshly built model is exact.
"""

import numpy as np
import pytest
from checks import teacher_forced, tiny_config, tiny_model
from two_maps import SECOND, TwoMapsSeq2seq, sharpened

from jumok.chapter.reference import ReferenceAttentionSeq2seq
from jumok.layers.base import evaluating
from jumok.layers.scores import SCORES
from jumok.layers.stack import reversal_index
from jumok.maps import cross_names
from jumok.models import MODELS
from jumok.models.interface import DecodingState, Seq2seqNetwork
from jumok.models.seq2seq import LSTM_MODELS

V_SRC, V_TGT = 9, 8
PAD, BOS, EOS = 0, 1, 2

SETTINGS = {  # every model: Config settings
    "plain": {},
    "2-layers-dropout": {"layers": 2, "dropout": 0.3},
}
LSTM_SETTINGS = {  # the LSTM models; the score only matters to the attention model
    "reversed": {"reverse": True},
    "2-layers-bidirectional": {"layers": 2, "bidirectional": True},
    "2-layers-bidirectional-reversed-dropout": {"layers": 2, "bidirectional": True, "reverse": True, "dropout": 0.3},
}
SCORE_SETTINGS = {f"{score}-reversed": {"attention": score, "reverse": True} for score in SCORES}
SCORE_SETTINGS["additive-2-layers"] = {"attention": "additive", "layers": 2}
TRANSFORMER_SETTINGS = {"4-heads-attention-dropout": {"hidden_size": 8, "heads": 4, "attention_dropout": 0.2}}


def reference(config, rng):
    """The chapter's step-by-step attention model of an attention model's `config`."""
    return ReferenceAttentionSeq2seq(V_SRC, V_TGT, config.embed_size, config.hidden_size, rng=rng,
                                     reverse_source=config.reverse)


def two_maps(config, rng):
    """The two-map test model of an attention model's `config`."""
    return TwoMapsSeq2seq.from_config(config, V_SRC, V_TGT, rng)


def cases():
    """{case: (the model's kind, the builder `make(config, rng)`, Config settings)}."""
    found = {}
    for name in sorted(MODELS):
        extra = LSTM_SETTINGS if name in LSTM_MODELS else TRANSFORMER_SETTINGS
        if name == "attention":
            extra = {**extra, **SCORE_SETTINGS}
        for label, settings in {**SETTINGS, **extra}.items():
            found[f"{name}-{label}"] = (name, None, settings)
    for label in ("plain", "reversed"):
        found[f"attention-reference-{label}"] = ("attention", reference, {**SETTINGS, **LSTM_SETTINGS}[label])
    for label in ("reversed", "2-layers-bidirectional"):
        found[f"two-maps-{label}"] = ("attention", two_maps, LSTM_SETTINGS[label])
    return found


CASES = cases()


def build(case, seed=0, **changes):
    """The model of `case` (its settings with `changes`) in float64, with larger weights than
    the default init (so that the attention is far from uniform and every path matters)."""
    name, make, settings = CASES[case]
    rng = np.random.default_rng(seed)
    if make is None:
        model = tiny_model(name, V_SRC, V_TGT, rng, np.float64, **{**settings, **changes})
    else:
        model = make(tiny_config(name, **{**settings, **changes}), rng).astype(np.float64)
    for _, p, _ in model.named_parameters():
        p[...] = rng.standard_normal(p.shape) * 0.6
    return model


def batch(seed=1, N=4, S=6, T=5):
    """Padded (src, src_mask, tgt_in, tgt_out, tgt_mask); rows of several lengths, the first
    full, and padding on both sides."""
    rng = np.random.default_rng(seed)
    src_len, tgt_len = np.array([S, 2, S - 1, 1]), np.array([T, 3, 1, T - 1])
    src_mask = np.arange(S) < src_len[:N, None]
    tgt_mask = np.arange(T) < tgt_len[:N, None]
    src = np.where(src_mask, rng.integers(4, V_SRC, (N, S)), PAD)
    tgt_out = np.where(tgt_mask, rng.integers(3, V_TGT, (N, T)), PAD)
    tgt_out[np.arange(N), tgt_len[:N] - 1] = EOS
    tgt_in = np.where(tgt_mask, np.concatenate([np.full((N, 1), BOS), tgt_out[:, :-1]], axis=1), PAD)
    assert not src_mask.all() and not tgt_mask.all()
    return src, src_mask, tgt_in, tgt_out, tgt_mask


def step_by_step(model, src, src_mask, tgt_in):
    """Feed tgt_in's tokens one step at a time: scores (N, T, V), {name: maps (N, T, S)}."""
    state = model.start(model.encode(src, src_mask))
    scores, maps = [], []
    for t in range(tgt_in.shape[1]):
        s, state, m = model.step(tgt_in[:, t], state, maps=True)
        assert isinstance(state, DecodingState)
        scores.append(s)
        maps.append(m)
    return np.stack(scores, axis=1), {name: np.stack([m[name] for m in maps], axis=1) for name in maps[0]}


def log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("case", CASES)
def test_step_by_step_decoding_equals_teacher_forcing(case):
    """At every real target position, scores and cross-attention maps alike; and the loss of
    the step-by-step scores is forward's."""
    model = build(case)
    assert isinstance(model, Seq2seqNetwork)
    src, src_mask, tgt_in, tgt_out, tgt_mask = batch()
    loss, forced, forced_maps = teacher_forced(model, src, src_mask, tgt_in, tgt_out, tgt_mask)
    if isinstance(model, TwoMapsSeq2seq):  # its second map is the first sharpened
        forced_maps[SECOND] = sharpened(forced_maps["cross"])
    with evaluating(model):  # no dropout: decoding never applies it
        stepped, maps = step_by_step(model, src, src_mask, tgt_in)
    assert model.training  # the mode it was in
    assert stepped.shape == forced.shape == tgt_in.shape + (V_TGT,)
    np.testing.assert_allclose(log_softmax(stepped)[tgt_mask], forced[tgt_mask], rtol=0, atol=1e-10)
    logp = np.take_along_axis(log_softmax(stepped), tgt_out[..., None], axis=2)[..., 0]  # (N, T)
    assert -logp[tgt_mask].mean() == pytest.approx(float(loss), rel=1e-10)
    assert forced_maps.keys() == set(cross_names(maps)) == set(cross_names(model.map_names))
    for name, a in forced_maps.items():
        np.testing.assert_allclose(maps[name][tgt_mask], a[tgt_mask], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("case", CASES)
def test_select_then_step_equals_step_then_rows(case):
    """`select` repeats and reorders rows: a step (and the step after) on the selected state is
    the same rows of a step on the whole state, scores and maps alike."""
    model = build(case).eval()
    src, src_mask, tgt_in, *_ = batch()
    state = model.start(model.encode(src, src_mask))
    _, state, _ = model.step(tgt_in[:, 0], state)  # a state past the start, each row its own
    index = np.array([2, 0, 2, 3, 1, 1, 0])
    moved = state.select(index)
    for t in (1, 2):
        tokens = tgt_in[:, t]
        scores, state, maps = model.step(tokens, state, maps=True)
        moved_scores, moved, moved_maps = model.step(tokens[index], moved, maps=True)
        assert moved_scores.shape == (len(index), V_TGT)
        np.testing.assert_allclose(moved_scores, scores[index], rtol=1e-12, atol=1e-13)
        assert moved_maps.keys() == maps.keys() == set(model.map_names)
        for name, a in maps.items():
            np.testing.assert_allclose(moved_maps[name], a[index], rtol=1e-12, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("case", CASES)
def test_maps_are_named_and_cross_maps_are_distributions_over_the_real_source(case):
    model = build(case).eval()
    src, src_mask, tgt_in, *_ = batch()
    state = model.start(model.encode(src, src_mask))
    for t in range(tgt_in.shape[1]):
        without = model.step(tgt_in[:, t], state)
        scores, next_state, maps = model.step(tgt_in[:, t], state, maps=True)
        assert without[2] == {}  # nothing gathered unless asked
        np.testing.assert_array_equal(without[0], scores)  # asking changes nothing else
        assert set(maps) == set(model.map_names) and len(model.map_names) == len(set(model.map_names))
        for name in cross_names(maps):
            a = maps[name]
            assert a.shape == src.shape, name
            assert np.all(a[~src_mask] == 0), name  # exactly 0 on padding
            assert np.all(a >= 0), name
            np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=0, atol=1e-12, err_msg=name)
        state = next_state
    assert bool(model.map_names) == bool(cross_names(model.map_names))  # models with attention name its maps


@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][0] == "attention" and CASES[c][2].get("reverse")])
def test_a_reversed_models_maps_are_in_reading_order(case):
    """A model that reverses its source decodes as the same model without reversal fed the
    reversed source, and hands back that model's maps read backwards over the real tokens."""
    model, plain = build(case).eval(), build(case, reverse=False).eval()
    src, src_mask, tgt_in, *_ = batch()
    backwards = np.take_along_axis(src, reversal_index(src_mask), axis=1)
    scores, maps = step_by_step(model, src, src_mask, tgt_in)
    plain_scores, plain_maps = step_by_step(plain, backwards, src_mask, tgt_in)
    np.testing.assert_allclose(scores, plain_scores, rtol=1e-12, atol=1e-13)
    assert maps.keys() == plain_maps.keys() == set(model.map_names)
    for name, a in maps.items():
        for n, real in enumerate(src_mask.sum(axis=1)):
            np.testing.assert_allclose(a[n, :, :real], plain_maps[name][n, :, :real][:, ::-1], rtol=1e-12,
                                       atol=1e-14, err_msg=name)
        assert not np.allclose(a, plain_maps[name])  # the check has teeth: the source is not a palindrome


@pytest.mark.parametrize("case", CASES)
def test_state_dict_round_trip_into_a_fresh_model_is_exact(case):
    model, fresh = build(case, seed=0), build(case, seed=7)
    batch_ = batch()
    assert any(not np.array_equal(p, q) for p, q in zip(model.state_dict().values(), fresh.state_dict().values()))
    fresh.load_state_dict(model.state_dict())
    saved, loaded = model.state_dict(), fresh.state_dict()
    assert list(loaded) == list(saved)  # the same names, in the same order
    for name, a in saved.items():
        assert loaded[name].dtype == a.dtype == np.float64, name
        np.testing.assert_array_equal(loaded[name], a, err_msg=name)
    model.eval(), fresh.eval()
    assert fresh.forward(*batch_) == model.forward(*batch_)
    src, src_mask, tgt_in, *_ = batch_
    a, b = step_by_step(model, src, src_mask, tgt_in), step_by_step(fresh, src, src_mask, tgt_in)
    np.testing.assert_array_equal(a[0], b[0])
    for name in a[1]:
        np.testing.assert_array_equal(a[1][name], b[1][name])
