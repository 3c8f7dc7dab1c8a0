"""Ensembles: several models decode as one with the mean of their log-probabilities; greedy
decoding's tokens and beam search's scores are those of feeding its hypotheses back through
every member, for LSTM models, Transformers and the two kinds mixed; a model with itself
decodes as the model; runs with other vocabularies are refused; `--ensemble` takes runs of
either kind."""

from dataclasses import replace

import numpy as np
import pytest
from checks import if_lstm, teacher_forced, tiny_model, untrained_run

from jumok import api
from jumok.cli import main
from jumok.data.vocab import Vocab
from jumok.decoding import Search, beam_search, greedy_decode
from jumok.ensemble import Ensemble
from jumok.errors import ConfigError
from jumok.functional import log_softmax
from jumok.models import MODELS, AttentionSeq2seq, TransformerSeq2seq, build_model
from jumok.rundir import PARAMS, save_params, save_setup

V_SRC, V_TGT = 9, 7
PAD, BOS, EOS = 0, 1, 2


def search(max_len, beam=1, nbest=1, length_penalty=1.0):
    return Search(BOS, EOS, max_len, beam, nbest, length_penalty)


def make(name, seed, **settings):
    """A tiny float64 model (`checks.tiny_model`), its weights redrawn larger than the default
    init: distinct, confident members."""
    rng = np.random.default_rng(seed)
    model = tiny_model(name, V_SRC, V_TGT, rng, np.float64, **settings)
    for _, p, _ in model.named_parameters():
        p[...] = rng.standard_normal(p.shape) * 0.8
    return model


def sources(rng, N=5, S=5):
    lengths = rng.integers(1, S + 1, N)
    mask = np.arange(S)[None] < lengths[:, None]
    return np.where(mask, rng.integers(3, V_SRC, (N, S)), PAD), mask


def teacher_forced_logp(model, src, mask, tokens):
    """log softmax of `model`'s scores (T, V) when `tokens` (end token included) are fed back."""
    tgt_in = np.concatenate([[BOS], tokens[:-1]])[None]
    return teacher_forced(model, src, mask, tgt_in)[1][0]


def mean_logp(members, src, mask, tokens):
    """The ensemble's log-probabilities (T, V) of `tokens` fed back: the members' mean, renormalised."""
    return log_softmax(np.mean([teacher_forced_logp(m, src, mask, tokens) for m in members], axis=0), axis=-1)


ENSEMBLES = {  # (MODELS entry, seed, settings) of each member
    "lstm": [("attention", 0, {}), ("attention", 1, {"reverse": True}), ("peeky", 2, {}),
             ("attention", 3, {"bidirectional": True, "layers": 2})],
    "transformers": [("transformer", 0, {}), ("transformer", 1, {"layers": 2, "hidden_size": 8, "heads": 4})],
    "mixed": [("attention", 0, {"reverse": True}), ("transformer", 1, {}), ("seq2seq", 2, {})],
}


@pytest.mark.parametrize("kind", ENSEMBLES)
def test_beam_scores_are_the_members_mean_log_probabilities_fed_back(kind):
    members = [make(name, seed, **settings) for name, seed, settings in ENSEMBLES[kind]]
    src, mask = sources(np.random.default_rng(4))
    ensemble = Ensemble(members)
    assert ensemble.map_names == ()
    out = beam_search(ensemble, src, mask, search(6, beam=3, nbest=3, length_penalty=0.5), maps=True)
    checked = 0
    for n, hyps in enumerate(out):
        for h in hyps:
            produced = np.concatenate([h.tokens, [EOS] * h.ended]).astype(np.int64)
            logp = mean_logp(members, src[n : n + 1], mask[n : n + 1], produced)
            assert h.log_prob == pytest.approx(logp[np.arange(len(produced)), produced].sum(), rel=1e-10, abs=1e-12)
            assert h.maps == {}
            checked += 1
    assert checked > len(out)  # several hypotheses per source, so the state selection is covered


@pytest.mark.parametrize("kind", ENSEMBLES)
def test_greedy_takes_the_members_mean_argmax_at_every_step(kind):
    members = [make(name, seed, **settings) for name, seed, settings in ENSEMBLES[kind]]
    src, mask = sources(np.random.default_rng(5), N=8)
    for n, (h,) in enumerate(greedy_decode(Ensemble(members), src, mask, search(6))):
        produced = np.concatenate([h.tokens, [EOS] * h.ended]).astype(np.int64)
        np.testing.assert_array_equal(mean_logp(members, src[n : n + 1], mask[n : n + 1], produced).argmax(-1),
                                      produced)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_model_with_itself_decodes_as_the_model(name):
    model = make(name, 5, **if_lstm(name, reverse=True))
    src, mask = sources(np.random.default_rng(6), N=8)
    alone = greedy_decode(model, src, mask, search(6), maps=True)
    doubled = greedy_decode(Ensemble([model, model]), src, mask, search(6), maps=True)
    for (a,), (b,) in zip(alone, doubled, strict=True):
        np.testing.assert_array_equal(b.tokens, a.tokens)
        assert b.ended == a.ended
        assert b.maps == {} and set(a.maps) == set(model.map_names)  # the ensemble's outputs carry no maps
    one = beam_search(model, src, mask, search(6, beam=3, nbest=2))
    two = beam_search(Ensemble([model, model]), src, mask, search(6, beam=3, nbest=2))
    for hyps_one, hyps_two in zip(one, two, strict=True):
        for a, b in zip(hyps_one, hyps_two, strict=True):
            np.testing.assert_array_equal(a.tokens, b.tokens)
            assert a.log_prob == pytest.approx(b.log_prob, rel=1e-12, abs=1e-12)


def test_the_ensemble_differs_from_each_member():
    """Not a member in disguise: on random members some source decodes otherwise than by each."""
    members = [make("attention", seed) for seed in (7, 8)]
    src, mask = sources(np.random.default_rng(9), N=40)
    def outputs(model):
        return [(tuple(hyps[0].tokens), hyps[0].ended) for hyps in greedy_decode(model, src, mask, search(6))]

    joint = outputs(Ensemble(members))
    for m in members:
        assert joint != outputs(m)


def saved_run(run_dir, config, src_vocab, tgt_vocab):
    save_setup(run_dir, config, src_vocab, tgt_vocab)
    save_params(run_dir / PARAMS, build_model(config, len(src_vocab), len(tgt_vocab), np.random.default_rng(2)))
    return run_dir


def test_load_ensemble_refuses_other_vocabularies(tmp_path):
    one = untrained_run(tmp_path / "one")
    other = untrained_run(tmp_path / "other", layers=2)  # another architecture is fine, another kind too ...
    model = api.load_ensemble([one, other, untrained_run(tmp_path / "transformer", model="transformer")])
    assert model.predict("one two").text == model.predict("one two").text and not model.has_attention
    run = api.load(one)  # ... other tokens, or another tokenisation, are not
    chars = saved_run(tmp_path / "chars", replace(run.config, source_tokens="char"), run.source_vocab,
                      run.target_vocab)
    with pytest.raises(ConfigError, match=r"has source_tokens 'char', .* 'space': an ensemble's runs must tokenise alike$"):
        api.load_ensemble([one, chars])
    fewer = saved_run(tmp_path / "fewer", run.config, Vocab(["one", "two"]), run.target_vocab)
    with pytest.raises(ConfigError, match=r"fewer has another source vocabulary than .*one \(6 tokens against 7\)"):
        api.load_ensemble([one, fewer])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_cli_ensemble_with_itself_scores_as_the_run_and_a_bad_member_is_one_line(tmp_path, capsys, name):
    run = untrained_run(tmp_path / "run", model=name)
    data = tmp_path / "test.tsv"
    data.write_text("one two\tuno dos\nthree\ttres\n")
    assert main(["evaluate", str(run), "--data", str(data), "--json", "--beam", "2"]) == 0
    alone = capsys.readouterr().out
    assert main(["evaluate", str(run), "--data", str(data), "--json", "--beam", "2", "--ensemble", str(run)]) == 0
    assert capsys.readouterr().out == alone
    assert main(["predict", str(run), "one two", "--ensemble", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0] and "Traceback" not in err[0]


def test_cli_ensembles_of_transformers_and_of_a_transformer_with_lstm_runs(tmp_path, capsys):
    """`--ensemble` takes Transformer runs, with each other or with LSTM runs: the runs' own
    models decode as one, and `jumok predict` prints what the API's ensemble decodes, greedy
    and by beam search (each n-best list with its scores)."""
    lstm = untrained_run(tmp_path / "lstm", bidirectional=True)
    transformer = untrained_run(tmp_path / "transformer", model="transformer")
    other = untrained_run(tmp_path / "other", model="transformer", heads=2, layers=2)
    texts = ["one two", "three", "two two one three"]
    for runs, kinds in (([transformer, other], [TransformerSeq2seq] * 2),
                        ([lstm, transformer, other], [AttentionSeq2seq, TransformerSeq2seq, TransformerSeq2seq])):
        model = api.load_ensemble(runs)
        assert [type(member) for member in model.network.members] == kinds
        ensemble = ["--ensemble", *map(str, runs[1:])]
        assert main(["predict", str(runs[0]), *texts, *ensemble]) == 0
        assert capsys.readouterr().out.splitlines() == [o.text for o in model.predict(texts)]
        assert main(["predict", str(runs[0]), *texts, "--beam", "3", "--nbest", "3", *ensemble]) == 0
        scored = [f"{a.text}\t{a.score:.4f}" for o in model.predict(texts, beam=3, nbest=3) for a in o.alternatives]
        assert [line for line in capsys.readouterr().out.splitlines() if line] == scored
