"""The Transformer encoder–decoder (`jumok.models.transformer`): the float64 gradient check of
every parameter with padding on both sides and label smoothing, padding invariance,
causality, and the model interface (step-by-step decoding equals teacher forcing, `select`,
the named cross-attention maps, greedy and beam search)."""

from dataclasses import dataclass, replace

import numpy as np
import pytest
from checks import assert_model_gradients

from jumok.decoding import Search, beam_search, greedy_decode
from jumok.gradcheck import gradients_of
from jumok.layers.base import evaluating
from jumok.layers.dropout import set_rows
from jumok.models.interface import Seq2seqNetwork
from jumok.models.transformer import Memory, Sizes, TransformerSeq2seq

V_SRC, V_TGT = 9, 8
PAD, BOS, EOS = 0, 1, 2
SMALL = Sizes(width=8, heads=2, ff_width=12, layers=2, dropout=0.0, max_len=16)


def build(seed=0, sizes=SMALL, **options):
    """A small model in float64 with larger weights than at the start (so attention is far
    from uniform and every path matters)."""
    rng = np.random.default_rng(seed)
    model = TransformerSeq2seq(V_SRC, V_TGT, sizes, rng=rng, **options).astype(np.float64)
    for _, p, _ in model.named_parameters():
        p[...] += rng.standard_normal(p.shape) * 0.3
    return model


def batch(rng, N=3, S=6, T=5):
    """Sources and targets with padding at the end of some rows (real lengths differ)."""
    src_len, tgt_len = [S, S - 2, 2][:N], [T, 3, T - 1][:N]
    src = np.full((N, S), PAD)
    tgt = np.full((N, T + 1), PAD)
    for n in range(N):
        src[n, : src_len[n]] = rng.integers(3, V_SRC, src_len[n])
        tgt[n, 0] = BOS
        tgt[n, 1 : tgt_len[n]] = rng.integers(3, V_TGT, tgt_len[n] - 1)
        tgt[n, tgt_len[n]] = EOS
    src_mask = src != PAD
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
    return src, src_mask, tgt_in, tgt_out, tgt_out != PAD


def test_speaks_the_model_interface():
    """Everything of the interface but `from_config`, which comes with its Config fields."""
    model = build()
    wanted = {name for name in dir(Seq2seqNetwork) if not name.startswith("_")} - {"from_config"}
    assert not [name for name in wanted if not hasattr(model, name)]
    assert model.map_names == ("cross/0/0", "cross/0/1", "cross/1/0", "cross/1/1")


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_gradient_check_of_every_parameter(smoothing):
    model = build(label_smoothing=smoothing)
    # bk shifts a query's whole row of scores by one number, which the softmax ignores: its
    # gradient is exactly 0, and central differences of it are rounding noise (MultiHeadAttention)
    assert_model_gradients(model, batch(np.random.default_rng(1)), np.random.default_rng(2), skip=(".bk",))
    largest = max(np.abs(g).max() for g in gradients_of(model).values())
    assert all(np.abs(g).max() < 1e-12 * largest for name, g in gradients_of(model).items() if name.endswith(".bk"))


def test_what_stands_in_the_padding_changes_nothing():
    model = build()
    src, src_mask, tgt_in, tgt_out, tgt_mask = batch(np.random.default_rng(3))
    loss = model.forward(src, src_mask, tgt_in, tgt_out, tgt_mask)
    model.zero_grad()
    model.backward()
    grads = gradients_of(model)
    other_src = np.where(src_mask, src, 5)  # another token in every padded source position
    other_in = np.where(tgt_mask, tgt_in, 6)  # and in every padded target position
    assert model.forward(other_src, src_mask, other_in, tgt_out, tgt_mask) == pytest.approx(loss, rel=1e-12)
    model.zero_grad()
    model.backward()
    for name, g in gradients_of(model).items():
        np.testing.assert_allclose(g, grads[name], rtol=1e-10, atol=1e-13, err_msg=name)


def test_no_position_reads_a_later_target_token():
    model = build()
    src, src_mask, tgt_in, _, tgt_mask = batch(np.random.default_rng(4))
    memory = model.encode(src, src_mask)
    before = model.decode_states(tgt_in, tgt_mask, memory)
    changed = tgt_in.copy()
    changed[:, 3] = 7
    after = model.decode_states(changed, tgt_mask, memory)
    np.testing.assert_array_equal(after[:, :3], before[:, :3])
    assert not np.allclose(after[:, 3], before[:, 3])


def teacher_forced_scores(model, src, src_mask, tgt_in, tgt_mask):
    return model.out.forward(model.decode_states(tgt_in, tgt_mask, model.encode(src, src_mask)))  # (N, T, V)


def test_step_by_step_decoding_equals_teacher_forcing_and_maps_are_distributions():
    model = build()
    src, src_mask, tgt_in, _, tgt_mask = batch(np.random.default_rng(5))
    with evaluating(model):
        forced = teacher_forced_scores(model, src, src_mask, tgt_in, tgt_mask)
        state = model.start(model.encode(src, src_mask))
        for t in range(tgt_in.shape[1]):
            scores, state, maps = model.step(tgt_in[:, t], state, maps=True)
            real = tgt_mask[:, t]
            np.testing.assert_allclose(scores[real], forced[real, t], rtol=1e-10, atol=1e-10)
            assert tuple(maps) == model.map_names
            for name, a in maps.items():
                assert np.all(a[~src_mask] == 0), name
                np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-12, err_msg=name)
        assert model.step(tgt_in[:, 0], model.start(model.encode(src, src_mask)))[2] == {}


def test_select_then_step_equals_step_then_rows():
    model = build()
    src, src_mask, tgt_in, _, _ = batch(np.random.default_rng(6))
    index = np.array([2, 0, 0, 1])
    with evaluating(model):
        state = model.start(model.encode(src, src_mask))
        _, state, _ = model.step(tgt_in[:, 0], state)
        whole, _, whole_maps = model.step(tgt_in[:, 1], state, maps=True)
        rows, _, rows_maps = model.step(tgt_in[index, 1], state.select(index), maps=True)
    np.testing.assert_allclose(rows, whole[index], rtol=1e-12, atol=1e-14)
    for name in whole_maps:
        np.testing.assert_allclose(rows_maps[name], whole_maps[name][index], rtol=1e-12, atol=1e-14)


def test_greedy_and_beam_search_run_and_agree_at_beam_one():
    model = build()
    src, src_mask, *_ = batch(np.random.default_rng(7))
    greedy = greedy_decode(model, src, src_mask, Search(BOS, EOS, 6), maps=True)
    beam = beam_search(model, src, src_mask, Search(BOS, EOS, 6, beam=1), maps=True)
    for (g,), (b,) in zip(greedy, beam, strict=True):
        np.testing.assert_array_equal(g.tokens, b.tokens)
        assert set(g.maps) == set(model.map_names)
    nbest = beam_search(model, src, src_mask, Search(BOS, EOS, 6, beam=3, nbest=3))
    assert all(len(hyps) == 3 for hyps in nbest)
    assert model.training  # decoding restores the mode it found


def test_positions_past_the_longest_are_a_clear_error():
    model = build(sizes=Sizes(width=8, heads=2, ff_width=12, layers=1, dropout=0.0, max_len=4))
    src, src_mask, tgt_in, tgt_out, tgt_mask = batch(np.random.default_rng(8))
    with pytest.raises(ValueError, match="past the longest this model has, 4"):
        model.forward(src, src_mask, tgt_in, tgt_out, tgt_mask)


def test_dropout_draws_from_one_generator_seeded_after_the_parameters():
    sizes = Sizes(width=8, heads=2, ff_width=12, layers=1, dropout=0.2, attention_dropout=0.1, max_len=16)
    with_dropout = TransformerSeq2seq(V_SRC, V_TGT, sizes, rng=np.random.default_rng(0))
    without = TransformerSeq2seq(V_SRC, V_TGT, replace(sizes, dropout=0.0, attention_dropout=0.0),
                                 rng=np.random.default_rng(0))
    for (name, p, _), (_, q, _) in zip(with_dropout.named_parameters(), without.named_parameters(), strict=True):
        np.testing.assert_array_equal(p, q, err_msg=name)  # the same weights with and without dropout
    assert len(with_dropout.dropout_generators()) == 1 and without.dropout_generators() == []


def test_initialisation_is_the_stated_one():
    """Embeddings N(0, 1/D); attention and feed-forward weights Xavier-uniform, biases 0;
    LayerNorm γ = 1, β = 0; the output layer N(0, 1/D)."""
    D = 64
    model = TransformerSeq2seq(40, 40, Sizes(width=D, heads=4, ff_width=128, layers=2, dropout=0.0),
                               rng=np.random.default_rng(0))
    for name, p, _ in model.named_parameters():
        if name.endswith("embed.W") or name == "out.W":
            assert abs(p.std() * np.sqrt(D) - 1) < 0.05, name
        elif ".W" in name:  # attention's Wq..Wo (D, D), the feed-forward's W1 (D, F), W2 (F, D)
            bound = np.sqrt(6 / sum(p.shape))
            assert np.abs(p).max() <= bound and np.abs(p).max() > 0.95 * bound, name
        elif name.endswith("gamma"):
            assert np.all(p == 1), name
        else:  # biases and β
            assert np.all(p == 0), name


def test_dropout_draws_for_the_whole_batch_so_two_slices_add_up_to_it():
    """With dropout and attention dropout on, the gradients of rows 0:2 and 2:4, each drawn
    as a slice of the whole batch's masks (`Dropout.rows`) and divided by the whole batch's
    token count, add up to the whole batch's: two workers train as one."""
    sizes = Sizes(width=8, heads=2, ff_width=12, layers=2, dropout=0.3, attention_dropout=0.2, max_len=16)
    model = build(sizes=sizes)
    arrays = batch(np.random.default_rng(9), N=3)
    arrays = tuple(np.concatenate([a, a[:1]]) for a in arrays)  # 4 rows
    count = int(arrays[4].sum())

    def gradients(start, stop):
        model.seed_dropout(5)  # each worker's generator starts where every other's does
        set_rows(model, (4, start, stop))
        loss = model.forward(*(a[start:stop] for a in arrays), count=count)
        model.zero_grad()
        model.backward()
        return loss, gradients_of(model)

    whole_loss, whole = gradients(0, 4)
    first_loss, first = gradients(0, 2)
    second_loss, second = gradients(2, 4)
    assert first_loss + second_loss == pytest.approx(whole_loss, rel=1e-12)
    for name, g in whole.items():
        np.testing.assert_allclose(first[name] + second[name], g, rtol=1e-9, atol=1e-12, err_msg=name)
    set_rows(model, None)


@dataclass(frozen=True)
class PrefixState:
    """The tokens fed so far (N, t) and the encoder's `Memory`, per row."""

    prefix: np.ndarray
    memory: Memory

    def select(self, index):
        return PrefixState(self.prefix[index], Memory(self.memory.states[index], self.memory.mask[index]))


class Uncached(TransformerSeq2seq):
    """The same model decoding without a cache: every step runs the decoder over the whole
    prefix (what the cache must agree with)."""

    def start(self, memory):
        return PrefixState(np.zeros((memory.states.shape[0], 0), dtype=np.int64), memory)

    def step(self, tokens, state, maps=False):
        prefix = np.concatenate([state.prefix, tokens[:, None]], axis=1)
        states = self.decode_states(prefix, np.ones(prefix.shape, dtype=bool), state.memory)
        return self.out.forward(states[:, -1]), PrefixState(prefix, state.memory), {}


def test_decoding_with_the_cache_writes_what_decoding_without_it_writes_in_float32():
    sizes = Sizes(width=16, heads=4, ff_width=32, layers=2, dropout=0.0, max_len=32)
    cached = TransformerSeq2seq(V_SRC, V_TGT, sizes, rng=np.random.default_rng(3))
    rng = np.random.default_rng(4)
    for _, p, _ in cached.named_parameters():
        p[...] += rng.standard_normal(p.shape).astype(np.float32) * 0.3
    plain = Uncached(V_SRC, V_TGT, sizes, rng=np.random.default_rng(0))
    plain.load_state_dict(cached.state_dict())
    src, src_mask, *_ = batch(np.random.default_rng(10))
    search = Search(BOS, EOS, 8, beam=3, nbest=3)
    for decode in (greedy_decode, beam_search):
        ours, theirs = decode(cached, src, src_mask, search), decode(plain, src, src_mask, search)
        for hyps, other in zip(ours, theirs, strict=True):
            for h, o in zip(hyps, other, strict=True):
                np.testing.assert_array_equal(h.tokens, o.tokens)
                if h.log_prob is not None:
                    assert h.log_prob == pytest.approx(o.log_prob, abs=1e-6)
                    assert h.score == pytest.approx(o.score, abs=1e-6)
