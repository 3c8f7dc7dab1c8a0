"""Decoding in threads (`jumok.threads`): the same hypotheses as one chunk after another."""

import json
from dataclasses import replace

import numpy as np
import pytest
from checks import tiny_model

from jumok import threads
from jumok.config import Config
from jumok.data.batching import Dataset
from jumok.data.tokens import tokenize
from jumok.data.vocab import Vocab
from jumok.decoding import Search, decode
from jumok.ensemble import Ensemble
from jumok.maps import CROSS, DEC_SELF, ENC_SELF
from jumok.models import MODELS
from jumok.train import Trainer


def sources(rng, count=23):
    return [list(rng.integers(4, 11, size=rng.integers(1, 7))) for _ in range(count)]


def same(a, b):
    """Two decodes' hypotheses are identical: tokens, ends, scores and every map."""
    assert len(a) == len(b)
    for hyps_a, hyps_b in zip(a, b):
        assert len(hyps_a) == len(hyps_b)
        for x, y in zip(hyps_a, hyps_b):
            assert np.array_equal(x.tokens, y.tokens) and x.ended == y.ended
            assert (x.score, x.log_prob) == (y.score, y.log_prob)
            assert x.maps.keys() == y.maps.keys()
            assert all(np.array_equal(x.maps[k], y.maps[k]) for k in x.maps)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("beam", [1, 3])
def test_threads_decode_what_one_thread_decodes(name, beam):
    rng = np.random.default_rng(3)
    model = tiny_model(name, 11, 12, np.random.default_rng(1))
    search = Search(1, 2, 7, beam=beam, nbest=beam, rows=4)
    maps = (CROSS, ENC_SELF, DEC_SELF)
    ids = sources(rng)
    with threads.one_blas_thread():  # as the threads decode: one BLAS thread each
        alone = decode(model, ids, 0, search, maps)
    assert model.training  # left as found
    same(decode(model, ids, 0, replace(search, threads=3), maps), alone)


def test_an_ensemble_decodes_in_threads_as_alone():
    members = [tiny_model(name, 11, 12, np.random.default_rng(seed)) for seed, name in enumerate(sorted(MODELS))]
    ensemble, ids = Ensemble(members), sources(np.random.default_rng(4))
    search = Search(1, 2, 7, beam=2, rows=5)
    with threads.one_blas_thread():
        alone = decode(ensemble, ids, 0, search)
    same(decode(ensemble, ids, 0, replace(search, threads=2)), alone)


def test_a_replica_shares_the_parameters_and_owns_its_caches():
    model = tiny_model("transformer", 11, 12, np.random.default_rng(1))
    copy = model.replica()
    ours = list(model.named_parameters())
    for (name, p, g), (other, q, h) in zip(ours, copy.named_parameters(), strict=True):
        assert name == other and p is q and g is h
    model.params_before = None  # an attribute of the original is not the replica's
    assert not hasattr(copy, "params_before")
    assert copy.encoder[0].attention is not model.encoder[0].attention
    ours[0][1][...] += 1.0  # an optimizer writes in place: the replica sees it
    assert np.array_equal(next(copy.named_parameters())[1], ours[0][1])


def test_one_blas_thread_restores_the_count():
    functions = threads._openblas_threads()
    if functions is None:
        pytest.skip("NumPy's BLAS here is not an OpenBLAS whose threads can be set")
    set_threads, get_threads = functions
    before = get_threads()
    with threads.one_blas_thread() as told:
        assert told and get_threads() == 1
    assert get_threads() == before


def test_a_rank_or_a_one_thread_process_decodes_in_one_thread(monkeypatch):
    monkeypatch.setenv("PMI_RANK", "0")
    assert threads.usable_threads() == 1
    monkeypatch.delenv("PMI_RANK")
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", *threads.ONE_THREAD):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert threads.usable_threads() == threads.MAX_THREADS
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert threads.usable_threads() == 1


def train_twice(name, threads, dtype=np.float64, epochs=2, **settings):
    """A tiny model of `name` (dropout on) trained `epochs` epochs with `threads` threads."""
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcdef"), rng.integers(2, 7))) for _ in range(40)]
    pairs = [(tokenize(w), tokenize(w[::-1])) for w in words]
    data = Dataset(pairs, Vocab.build(s for s, _ in pairs), Vocab.build(t for _, t in pairs))
    model = tiny_model(name, len(data.src_vocab), len(data.tgt_vocab), np.random.default_rng(1), dtype=dtype,
                       **settings)
    model.seed_dropout(7)
    trainer = Trainer.for_model(model, Config(batch_size=9, lr=0.01, threads=threads), data,
                                rng=np.random.default_rng(2))
    losses = [trainer.train_epoch(epoch)[0] for epoch in range(1, epochs + 1)]
    return losses, {name: p.copy() for name, p, _ in model.named_parameters()}, model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_threads_train_as_one_thread_in_float64(name):
    """Each thread's share of a batch draws the whole batch's dropout masks and keeps its rows,
    its loss divided by the whole batch's tokens: two or three threads end where one does, up
    to the order of the sums (a batch of 9 rows, the last of 4: shares of 5/4, 3/3/3, 2/1/1)."""
    settings = dict(dropout=0.3, **({"attention_dropout": 0.2} if name == "transformer" else {}))
    one_losses, one, one_model = train_twice(name, 1, **settings)
    for count in (2, 3):
        losses, params, model = train_twice(name, count, **settings)
        assert losses == pytest.approx(one_losses, rel=1e-10)
        for key, p in params.items():
            assert np.abs(p - one[key]).max() <= 1e-9 * max(1.0, np.abs(one[key]).max()), key
        for mine, its in zip(one_model.dropout_generators(), model.dropout_generators(), strict=True):
            assert mine.bit_generator.state == its.bit_generator.state  # the masks drawn alike


def test_a_transformer_run_resumes_bit_exactly_in_threads(tmp_path):
    """Two threads, stopped after epoch 1 and resumed, end bit for bit where two threads
    trained straight through end."""
    from checks import train_flags, write_reversal_tsv
    from jumok.cli import main

    data = write_reversal_tsv(tmp_path / "train.tsv", 2, "abcdefg", 120, (2, 7))
    flags = ["--data", str(data), "--threads", "2", "--quiet", "--batch-size", "16",
             *train_flags("transformer", ["--hidden-size", "16", "--quiet"])]
    assert main(["train", *flags, "--epochs", "2", "--out", str(tmp_path / "straight")]) == 0
    assert main(["train", *flags, "--epochs", "1", "--out", str(tmp_path / "stopped")]) == 0
    assert main(["train", "--resume", str(tmp_path / "stopped"), "--epochs", "2", "--quiet"]) == 0
    straight, resumed = (np.load(tmp_path / run / "last.npz") for run in ("straight", "stopped"))
    assert json.loads((tmp_path / "stopped" / "config.json").read_text())["threads"] == 2
    assert straight.files == resumed.files
    for key in straight.files:
        if key != "meta":  # the history's seconds differ; the rest of it is checked by the resume tests
            assert np.array_equal(straight[key], resumed[key]), key
