"""Ensembles: several models decode as one with the mean of their log-probabilities; beam
search's scores are those of feeding its hypotheses back through every member; a model
with itself decodes as the model; runs with other vocabularies are refused."""

from dataclasses import replace

import numpy as np
import pytest
from checks import untrained_run

from jumok import api
from jumok.cli import main
from jumok.data.vocab import Vocab
from jumok.decoding import Search, beam_search, greedy_decode
from jumok.ensemble import Ensemble
from jumok.errors import ConfigError
from jumok.functional import log_softmax
from jumok.models import MODELS, build_model
from jumok.rundir import PARAMS, save_params, save_setup

V_SRC, V_TGT, D, H = 9, 7, 4, 6
PAD, BOS, EOS = 0, 1, 2


def search(max_len, beam=1, nbest=1, length_penalty=1.0):
    return Search(BOS, EOS, max_len, beam, nbest, length_penalty)


def make(name, seed, **options):
    rng = np.random.default_rng(seed)
    model = MODELS[name](V_SRC, V_TGT, D, H, rng=rng, dtype=np.float64, **options)
    for _, p, _ in model.named_parameters():  # larger than the default init: distinct, confident members
        p[...] = rng.standard_normal(p.shape) * 0.8
    return model


def sources(rng, N=5, S=5):
    lengths = rng.integers(1, S + 1, N)
    mask = np.arange(S)[None] < lengths[:, None]
    return np.where(mask, rng.integers(3, V_SRC, (N, S)), PAD), mask


def teacher_forced_logp(model, src, mask, tokens):
    """log softmax of `model`'s scores (T, V) when `tokens` (end token included) are fed back."""
    tgt_in = np.concatenate([[BOS], tokens[:-1]])[None]
    return log_softmax(model.decoder.forward(tgt_in, model.encode(src, mask))[0], axis=-1)


MEMBERS = [("attention", 0, {}), ("attention", 1, {"reverse_source": True}), ("peeky", 2, {}),
           ("attention", 3, {"bidirectional": True, "layers": 2})]


def test_beam_scores_are_the_members_mean_log_probabilities_fed_back():
    members = [make(name, seed, **options) for name, seed, options in MEMBERS]
    src, mask = sources(np.random.default_rng(4))
    ensemble = Ensemble(members)
    assert ensemble.map_names == ()
    out = beam_search(ensemble, src, mask, search(6, beam=3, nbest=3, length_penalty=0.5), maps=True)
    checked = 0
    for n, hyps in enumerate(out):
        for h in hyps:
            produced = np.concatenate([h.tokens, [EOS] * h.ended]).astype(np.int64)
            mean = np.mean([teacher_forced_logp(m, src[n : n + 1], mask[n : n + 1], produced) for m in members], axis=0)
            expected = log_softmax(mean, axis=-1)[np.arange(len(produced)), produced].sum()
            assert h.log_prob == pytest.approx(expected, rel=1e-10, abs=1e-12)
            assert h.maps == {}
            checked += 1
    assert checked > len(out)  # several hypotheses per source, so the state selection is covered


def test_a_model_with_itself_decodes_as_the_model():
    model = make("attention", 5, reverse_source=True)
    src, mask = sources(np.random.default_rng(6), N=8)
    alone = greedy_decode(model, src, mask, search(6), maps=True)
    doubled = greedy_decode(Ensemble([model, model]), src, mask, search(6), maps=True)
    for (a,), (b,) in zip(alone, doubled, strict=True):
        np.testing.assert_array_equal(b.tokens, a.tokens)
        assert b.ended == a.ended
        assert b.maps == {} and set(a.maps) == {"cross"}  # the ensemble's outputs carry no maps
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
    other = untrained_run(tmp_path / "other", layers=2)  # another architecture is fine ...
    model = api.load_ensemble([one, other])
    assert model.predict("one two").text == model.predict("one two").text and not model.has_attention
    run = api.load(one)  # ... other tokens, or another tokenisation, are not
    chars = saved_run(tmp_path / "chars", replace(run.config, source_tokens="char"), run.source_vocab,
                      run.target_vocab)
    with pytest.raises(ConfigError, match=r"has source_tokens 'char', .* 'space': an ensemble's runs must tokenise alike$"):
        api.load_ensemble([one, chars])
    fewer = saved_run(tmp_path / "fewer", run.config, Vocab(["one", "two"]), run.target_vocab)
    with pytest.raises(ConfigError, match=r"fewer has another source vocabulary than .*one \(6 tokens against 7\)"):
        api.load_ensemble([one, fewer])


def test_cli_ensemble_with_itself_scores_as_the_run_and_a_bad_member_is_one_line(tmp_path, capsys):
    run = untrained_run(tmp_path / "run")
    data = tmp_path / "test.tsv"
    data.write_text("one two\tuno dos\nthree\ttres\n")
    assert main(["evaluate", str(run), "--data", str(data), "--json", "--beam", "2"]) == 0
    alone = capsys.readouterr().out
    assert main(["evaluate", str(run), "--data", str(data), "--json", "--beam", "2", "--ensemble", str(run)]) == 0
    assert capsys.readouterr().out == alone
    assert main(["predict", str(run), "one two", "--ensemble", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0] and "Traceback" not in err[0]
