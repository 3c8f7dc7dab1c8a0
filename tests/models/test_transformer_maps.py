"""The Transformer's attention as named maps, by behaviour: every layer's and head's
cross-attention, and when asked the encoder's and the decoder's self-attention.

- each self map's rows are distributions over what they may see (the real source positions;
  for the decoder, the steps so far) and 0 elsewhere;
- the maps greedy decoding and beam search hand back are those of a teacher-forced forward
  pass over the decoded tokens (float64, to 1e-10);
- asking for nothing gathers nothing, and asking for one kind hands back that kind alone;
- a source's beams share its cross keys and values, with the numbers of gathered ones.
"""

from dataclasses import replace

import numpy as np
import pytest

from jumok.decoding import Search, beam_search, decode, greedy_decode
from jumok.layers.base import evaluating
from jumok.maps import kinds
from jumok.models import MODELS
from jumok.models.transformer import Sizes, TransformerSeq2seq

V_SRC, V_TGT = 9, 8
PAD, BOS, EOS = 0, 1, 2
SIZES = Sizes(width=8, heads=2, ff_width=12, layers=2, dropout=0.0, max_len=16)
ALL = ("cross", "enc-self", "dec-self")


def build(seed=0, eos_bias=0.0):
    """A small model in float64, its weights moved from the start (attention far from
    uniform); `eos_bias` is taken from the end token's score (longer outputs)."""
    rng = np.random.default_rng(seed)
    model = TransformerSeq2seq(V_SRC, V_TGT, SIZES, rng=rng).astype(np.float64)
    for _, p, _ in model.named_parameters():
        p[...] += rng.standard_normal(p.shape) * 0.4
    model.out.params["b"][EOS] -= eos_bias
    return model


def sources(seed=1, N=4, S=6):
    rng = np.random.default_rng(seed)
    lengths = np.array([S, 2, S - 1, 4])[:N]
    src_mask = np.arange(S) < lengths[:, None]
    return np.where(src_mask, rng.integers(3, V_SRC, (N, S)), PAD), src_mask


def test_the_model_names_its_self_attention_maps():
    model = build()
    assert model.map_names == ("cross/0/0", "cross/0/1", "cross/1/0", "cross/1/1")
    assert model.self_map_names == ("enc-self/0/0", "enc-self/0/1", "enc-self/1/0", "enc-self/1/1",
                                    "dec-self/0/0", "dec-self/0/1", "dec-self/1/0", "dec-self/1/1")
    assert model.max_positions == 16
    assert MODELS["attention"].self_map_names == () and MODELS["attention"].max_positions is None


def test_self_maps_are_distributions_over_what_each_row_may_see():
    model = build().eval()
    src, src_mask = sources()
    memory = model.encode(src, src_mask)
    enc = model.source_maps(memory)
    assert set(enc) == {n for n in model.self_map_names if n.startswith("enc-self")}
    for name, a in enc.items():  # (N, S, S): rows of real positions over the real positions
        assert a.shape == (4, 6, 6)
        allowed = src_mask[:, :, None] & src_mask[:, None, :]
        assert np.all(a[~allowed] == 0), name
        np.testing.assert_allclose(a.sum(axis=2), src_mask.astype(float), atol=1e-12, err_msg=name)
    state = model.start(memory)
    for t in range(5):
        _, state, found = model.step(np.full(4, 3 + t), state, maps=("dec-self",))
        assert set(found) == {n for n in model.self_map_names if n.startswith("dec-self")}
        for name, a in found.items():  # step t: over the steps 0..t written so far
            assert a.shape == (4, t + 1), name
            np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-12, err_msg=name)
            assert np.all(a >= 0)


def test_asking_for_nothing_gathers_nothing_and_each_kind_alone(monkeypatch):
    model = build().eval()
    src, src_mask = sources()
    state = model.start(model.encode(src, src_mask))
    tokens = np.full(4, BOS)
    plain = model.step(tokens, state)
    assert plain[2] == {}
    for maps, expected in [(True, model.map_names), (("cross",), model.map_names),
                           (("dec-self",), model.self_map_names[4:]),
                           (("cross", "dec-self"), model.map_names + model.self_map_names[4:])]:
        scores, _, found = model.step(tokens, state, maps=maps)
        assert set(found) == set(expected), maps
        np.testing.assert_array_equal(scores, plain[0])  # asking changes nothing else

    def refuse(*args):
        raise AssertionError("source_maps read without being asked")

    monkeypatch.setattr(model, "source_maps", refuse)
    for search in (Search(BOS, EOS, 5), Search(BOS, EOS, 5, beam=3, nbest=2)):
        for maps in (False, True, ("dec-self",)):
            found = decode(model, [list(s[m]) for s, m in zip(src, src_mask)], PAD, search, maps=maps)
            names = {name for hyps in found for h in hyps for name in h.maps}
            assert names == {n for n in (*model.map_names, *model.self_map_names)
                             if n.split("/")[0] in kinds(maps)}, (search.beam, maps)


def teacher_forced(model, src_row, tokens):
    """Every layer's weights of a forward pass over one source (no padding) and the decoder
    fed [<s>, tokens but the last]: {name: map} in the naming of `jumok.maps`."""
    tokens = np.asarray(tokens, dtype=np.int64)
    tgt_in = np.concatenate([[BOS], tokens[:-1]])[None]
    tgt_out = np.asarray(tokens)[None]
    with evaluating(model):
        model.forward(src_row[None], np.ones((1, len(src_row)), bool), tgt_in, tgt_out, np.ones_like(tgt_out, bool))
    found = {}
    for kind, layers, attr in (("enc-self", model.encoder, "attention"), ("dec-self", model.decoder, "self_attention"),
                               ("cross", model.decoder, "cross_attention")):
        for layer, module in enumerate(layers):
            for head in range(SIZES.heads):
                found[f"{kind}/{layer}/{head}"] = getattr(module, attr).weights[0, head]
    return found


@pytest.mark.parametrize("eos_bias", [0.0, 1.5], ids=["short", "long"])  # long: some cut at max_len
@pytest.mark.parametrize("search", [Search(BOS, EOS, 7), Search(BOS, EOS, 7, beam=3, nbest=3)], ids=["greedy", "beam"])
def test_decoded_maps_are_the_teacher_forced_weights(search, eos_bias):
    model = build(eos_bias=eos_bias)
    src, src_mask = sources()
    decoder = greedy_decode if search.beam == 1 else beam_search
    found = decoder(model, src, src_mask, search, maps=ALL)
    for n, hyps in enumerate(found):
        real = int(src_mask[n].sum())
        assert len(hyps) == search.nbest
        for h in hyps:
            steps = list(h.tokens) + ([EOS] if h.ended else [])
            forced = teacher_forced(model, src[n, :real], steps)
            assert set(h.maps) == set(forced)
            for name, a in h.maps.items():
                expected = {"enc-self": (real, real), "dec-self": (h.length, h.length), "cross": (h.length, real)}
                assert a.shape == expected[name.split("/")[0]], name
                np.testing.assert_allclose(a, forced[name], rtol=0, atol=1e-10, err_msg=name)
            for name in model.self_map_names[4:]:  # causal: nothing above the diagonal
                assert np.all(np.triu(h.maps[name], k=1) == 0)


def test_beams_share_their_sources_cross_keys_with_the_numbers_of_gathered_ones():
    model = build().eval()
    src, src_mask = sources()
    state = model.start(model.encode(src, src_mask))
    _, state, _ = model.step(np.full(4, BOS), state)
    grouped = state.select(np.repeat(np.arange(4), 3))  # each source's 3 rows in turn
    assert grouped.group == 3 and grouped.cross[0][0].shape[0] == 4  # nothing copied per row
    gathered = replace(grouped, group=None)  # the same rows, keys gathered row by row
    tokens = np.arange(12) % 5 + 3
    a, b = model.step(tokens, grouped, maps=ALL), model.step(tokens, gathered, maps=ALL)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[2].keys() == b[2].keys()
    for name in a[2]:
        np.testing.assert_array_equal(a[2][name], b[2][name], err_msg=name)
    fewer = grouped.select(np.array([3, 4, 5, 9, 10, 11]))  # sources 1 and 3 are left
    assert fewer.group == 3 and fewer.cross[1][1].shape[0] == 2 and fewer.mask.shape[0] == 2
    c = model.step(tokens[[3, 4, 5, 9, 10, 11]], fewer)
    np.testing.assert_allclose(c[0], a[0][[3, 4, 5, 9, 10, 11]], rtol=1e-12, atol=1e-13)


def test_start_lets_go_of_the_encoders_caches():
    model = build()
    src, src_mask = sources()
    memory = model.encode(src, src_mask)
    assert model.encoder[0].attention.weights is memory.weights[0]  # the arrays themselves
    model.start(memory)
    assert all(layer.attention.weights is None and layer.attention.cache is None for layer in model.encoder)
    assert all(layer.feed_forward.cache is None and layer.norm1.cache is None for layer in model.encoder)
    assert memory.weights[1].shape == (4, 2, 6, 6)  # still there while the memory is kept


def test_an_lstm_model_asked_for_self_attention_hands_back_its_cross_map_alone():
    rng = np.random.default_rng(0)
    model = MODELS["attention"](V_SRC, V_TGT, 4, 6, rng=rng, dtype=np.float64)
    src, src_mask = sources()
    ids = [list(s[m]) for s, m in zip(src, src_mask)]
    for search in (Search(BOS, EOS, 5), Search(BOS, EOS, 5, beam=2)):
        plain, every = decode(model, ids, PAD, search, maps=True), decode(model, ids, PAD, search, maps=ALL)
        for p, e in zip(plain, every):
            assert set(e[0].maps) == {"cross"}
            np.testing.assert_array_equal(e[0].maps["cross"], p[0].maps["cross"])
            np.testing.assert_array_equal(e[0].tokens, p[0].tokens)


def test_an_unknown_kind_is_refused():
    assert kinds(False) == kinds(None) == frozenset() and kinds(True) == {"cross"}
    assert kinds("dec-self") == {"dec-self"}
    with pytest.raises(ValueError, match=r"^no kind of attention map named 'self'; the kinds are cross, enc-self, "
                                         r"dec-self$"):
        kinds(["cross", "self"])
