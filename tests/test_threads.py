"""Decoding in threads (`jumok.threads`): the same hypotheses as one chunk after another."""

from dataclasses import replace

import numpy as np
import pytest
from checks import tiny_model

from jumok import threads
from jumok.decoding import Search, decode
from jumok.ensemble import Ensemble
from jumok.maps import CROSS, DEC_SELF, ENC_SELF
from jumok.models import MODELS


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
    assert threads.decode_threads() == 1
    monkeypatch.delenv("PMI_RANK")
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", *threads.ONE_THREAD):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert threads.decode_threads() == threads.MAX_THREADS
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert threads.decode_threads() == 1
