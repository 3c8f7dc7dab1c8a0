"""The decoding budget is a statement about memory: `decode` cuts its runs so that the model's
`row_cost` of each run stays within `Search.budget` bytes, and what decoding allocates stays
within `row_cost` (measured with tracemalloc, for every model, greedy and beam, with and
without maps; no timing asserted). The large case is benchmarks/decode_memory.py's."""

import tracemalloc
from dataclasses import replace

import numpy as np
import pytest

from jumok import api, decoding
from jumok.decoding import Search, chunks, decode, offered
from jumok.models import MODELS
from jumok.models.transformer import Sizes, TransformerSeq2seq

V = 30
PAD, BOS, EOS = 0, 1, 2
ALL = ("cross", "enc-self", "dec-self")


def transformer():
    model = TransformerSeq2seq(V, V, Sizes(width=32, heads=4, ff_width=64, layers=2, dropout=0.0, max_len=256),
                               rng=np.random.default_rng(0))
    model.out.params["b"][EOS] = -1e4  # no output ends early: every source decodes every step
    return model


def lstm(name, **options):
    def make():
        model = MODELS[name](V, V, 16, 64, rng=np.random.default_rng(0), **options)
        model.decoder.out.params["b"][EOS] = -1e4
        return model
    return make


MODELS_TO_MEASURE = {"transformer": transformer, "attention": lstm("attention"), "seq2seq": lstm("seq2seq"),
                     "peeky": lstm("peeky"),
                     "attention-additive-2-bidirectional": lstm("attention", attention="additive", layers=2,
                                                                bidirectional=True)}


def sources(n, S, seed=1):
    rng = np.random.default_rng(seed)
    return [list(rng.integers(4, V, S)) for _ in range(n)]


def test_chunks_keep_each_run_within_the_budget_of_its_cost():
    cost = lambda n, longest: 100 + n * longest * 10  # noqa: E731 - a fixed part and a part per source
    lengths = (3, 1, 4, 1, 5, 9, 2, 6, 60, 3, 5)
    runs = list(chunks([[1] * n for n in lengths], budget=400, cost=cost))
    assert [len(ids) for run in runs for ids in run] == list(lengths)  # in order, every one
    assert [len(run) for run in runs] == [5, 3, 1, 2]
    for run, following in zip(runs, runs[1:] + [None]):
        assert len(run) == 1 or cost(len(run), max(map(len, run))) <= 400  # [60] alone: over it
        if following:  # no room for the next one
            assert cost(len(run) + 1, max(map(len, run + following[:1]))) > 400


@pytest.mark.parametrize("name", ["transformer", "attention"])
@pytest.mark.parametrize("beam", [1, 3])
def test_decode_cuts_runs_by_the_models_row_cost(name, beam, monkeypatch):
    model = MODELS_TO_MEASURE[name]()
    ids = [s[:n] for s, n in zip(sources(12, 40), (40, 3, 17, 25, 8, 40, 1, 30, 12, 5, 33, 2))]
    search = Search(BOS, EOS, 6, beam=beam, rows=5)
    budget = model.row_cost(40, 6, beam, {"cross"}, 3)  # three of the longest fit
    seen = []  # the (rows, S) of every batch decoding takes
    for searcher in ("greedy_decode", "beam_search"):
        real = getattr(decoding, searcher)
        monkeypatch.setattr(decoding, searcher,
                            lambda m, src, *a, real=real: seen.append(src.shape) or real(m, src, *a))
    found = decode(model, ids, PAD, replace(search, budget=budget), maps=True)
    assert sum(rows for rows, _ in seen) == len(ids) and len(seen) > 2
    for rows, S in seen:
        assert rows <= 5 and model.row_cost(S, 6, beam, {"cross"}, rows) <= budget
    whole = decode(model, ids, PAD, search, maps=True)
    for a, b in zip(found, whole, strict=True):
        np.testing.assert_array_equal(a[0].tokens, b[0].tokens)


def peak_of(model, ids, search, maps):
    """The most bytes allocated at once while `decode` runs (tracemalloc), the model's arrays
    not counted (they were allocated before)."""
    decode(model, ids[:1], PAD, search, maps)  # anything built once happens before
    tracemalloc.start()
    try:
        decode(model, ids, PAD, search, maps)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("maps", [False, True, ALL], ids=["no-maps", "cross", "all-maps"])
@pytest.mark.parametrize("S, T, beam", [(160, 8, 1), (160, 8, 4), (30, 60, 6)], ids=["encoding", "beam", "long-output"])
@pytest.mark.parametrize("name", MODELS_TO_MEASURE)
def test_what_decoding_allocates_stays_within_row_cost(name, S, T, beam, maps):
    model = MODELS_TO_MEASURE[name]()
    search = Search(BOS, EOS, T, beam=beam, nbest=beam)  # every hypothesis handed back: the most maps
    peak = peak_of(model, sources(5, S), search, maps)
    promised = model.row_cost(S, T, beam, offered(model, maps), 5)
    assert peak <= promised, f"{peak / 1e6:.2f} MB allocated, {promised / 1e6:.2f} MB promised"
    assert promised <= 4 * peak  # an upper bound, not a vacuous one


def test_the_api_decodes_in_runs_within_its_budget(monkeypatch):
    """`api.DECODE_BUDGET` is what `Model.decode` hands decoding as the budget."""
    budgets = []
    real = decoding.decode

    def spy(model, sources, pad_id, search, maps=False):
        budgets.append(search.budget)
        return real(model, sources, pad_id, search, maps)

    monkeypatch.setattr(api, "decode", spy)
    from jumok.config import Config
    from jumok.data.vocab import Vocab

    vocab = Vocab(list("abc"))
    run = type("Run", (), {"config": Config(task="tsv", data="x", model="transformer", hidden_size=8, heads=2,
                                            max_output_length=4),
                           "history": [], "src_vocab": vocab, "tgt_vocab": vocab,
                           "model": TransformerSeq2seq(len(vocab), len(vocab), Sizes(width=8, heads=2, ff_width=8,
                                                                                      layers=1, dropout=0.0),
                                                       rng=np.random.default_rng(0))})()
    model = api.Model("run", run)
    assert len(model.predict(["abc", "cab"], beam=2)) == 2
    assert budgets == [api.DECODE_BUDGET] == [128 << 20]


def test_the_memory_benchmark_runs_end_to_end(tmp_path):
    """`python -m benchmarks.decode_memory --quick` (no figure asserted but its own verdict)."""
    import json
    import os
    import subprocess
    import sys

    from checks import REPO

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    out = tmp_path / "memory.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.decode_memory", "--quick", "--maps", "none,all",
                           "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())["results"]
    assert [r["maps"] for r in results] == [False, ["cross", "enc-self", "dec-self"]]
    assert all(0 < r["peak_mib"] <= r["promise_mib"] and r["output_steps"] == 8 for r in results)
