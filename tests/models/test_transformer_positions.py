"""A Transformer reads and writes at most `max_positions` tokens (its positions table):

- decoding cuts its output limit to the positions instead of failing past them;
- a longer source is a one-line `DataError` of `jumok.decoding.decode`, of the API (naming
  the input) and, through the API's error, a 422 of the server's protocol;
- a training file with a longer source or target is a one-line error before training starts.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from jumok.data.batching import Dataset
from jumok.data.prepare import check_positions
from jumok.data.vocab import Vocab
from jumok.decoding import Search, beam_search, decode, greedy_decode
from jumok.errors import DataError
from jumok.models.transformer import Sizes, TransformerSeq2seq
from jumok.serve import protocol

PAD, BOS, EOS = 0, 1, 2
NEVER = -1  # an end token no step writes: every output runs to the limit


def model(vocab=9):
    sizes = Sizes(width=8, heads=2, ff_width=12, layers=1, dropout=0.0, max_len=6)
    return TransformerSeq2seq(vocab, vocab, sizes, rng=np.random.default_rng(0))


@pytest.mark.parametrize("searcher, beam", [(greedy_decode, 1), (beam_search, 3)])
def test_decoding_writes_at_most_the_positions(searcher, beam):
    src = np.array([[3, 4, 5, 6, 7, 8], [4, 5, PAD, PAD, PAD, PAD]])
    found = searcher(model(), src, src != PAD, Search(BOS, NEVER, 20, beam, beam), maps=True)
    for hyps in found:
        for h in hyps:
            assert len(h.tokens) == 6 and not h.ended  # cut at the 6 positions, not at 20
            assert all(a.shape[0] == 6 for a in h.maps.values())


def test_a_source_longer_than_the_positions_is_a_data_error():
    with pytest.raises(DataError, match=r"^source 2 has 7 tokens; this model reads at most 6 \(its positions\)$"):
        decode(model(), [[3] * 6, [3] * 7], PAD, Search(BOS, EOS, 4))


@pytest.fixture(scope="module")
def api_model(tmp_path_factory):
    """The API over a saved Transformer run whose model has 6 positions."""
    from jumok import api
    from jumok.config import Config
    from jumok.rundir import PARAMS, save_params, save_setup

    run_dir = tmp_path_factory.mktemp("positions") / "run"
    config = Config(task="tsv", data="train.tsv", model="transformer", hidden_size=8, heads=2, layers=1, ff_size=12,
                    max_output_length=4, source_tokens="space", target_tokens="space")
    save_setup(run_dir, config, Vocab(["one", "two"]), Vocab(["uno", "dos"]))
    save_params(Path(run_dir) / PARAMS, model(vocab=6))
    loaded = api.load(run_dir)
    loaded.network.sizes = replace(loaded.network.sizes, max_len=6)  # a run's model reads 1,024 tokens: fewer here
    loaded.max_positions = loaded.network.max_positions
    return loaded


def test_the_api_names_the_input_and_the_server_refuses_it_with_422(api_model):
    assert len(api_model.predict(["one two", "one " * 6])) == 2  # exactly the positions: fine
    with pytest.raises(DataError, match=r"^input 2 has 7 tokens; this transformer reads at most 6 \(its positions\)$"):
        api_model.predict(["one two", "one " * 7])
    with pytest.raises(protocol.RequestError) as refused:
        protocol.encode_inputs(api_model, protocol.PredictRequest(inputs=["two", "one two " * 4]))
    assert refused.value.status == 422 and refused.value.extra == {"input": 2}
    assert str(refused.value) == "input 2 has 8 tokens; this transformer reads at most 6 (its positions)"


def datasets(train, valid):
    vocab = Vocab(list("abc"))
    return Dataset(train, vocab, vocab), Dataset(valid, vocab, vocab)


@pytest.mark.parametrize("train, valid, message", [
    ([("ab", "ab"), ("abcabca", "a")], [("a", "a")],
     "training pair 2 of 2 has a source of 7 tokens; this transformer reads at most 6 (its positions): "
     "--max-length 5 drops longer training pairs"),
    ([("ab", "abcabc")], [("a", "a")],
     "training pair 1 of 1 has a target of 6 tokens; this transformer writes at most 5 (its 6 positions, one for the "
     "start token): --max-length 5 drops longer training pairs"),
    ([("ab", "ab")], [("a", "a"), ("a", "bbbbbb")],
     "validation pair 2 of 2 has a target of 6 tokens; this transformer writes at most 5 (its 6 positions, one for the "
     "start token): validation pairs are never dropped: shorten or remove it"),
])
def test_training_pairs_past_the_positions_are_named(train, valid, message):
    train_set, valid_set = datasets(train, valid)
    with pytest.raises(DataError) as refused:
        check_positions(6, train_set, valid_set, "transformer")
    assert str(refused.value) == message
    check_positions(None, train_set, valid_set, "attention")  # no positions: any length
    check_positions(7, train_set, valid_set, "transformer")


def test_jumok_train_refuses_a_file_past_the_positions_before_training(tmp_path, capsys):
    from jumok.cli import main

    data = tmp_path / "long.tsv"
    data.write_text("ab\tba\n" * 20 + "a" * 1100 + "\tb\n" + "ba\tab\n" * 20)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--model", "transformer", "--hidden-size", "8", "--heads", "2",
                 "--out", str(out), "--quiet"]) == 1
    last = capsys.readouterr().err.splitlines()[-1]  # after the lines on the data
    assert last.startswith("jumok: error: training pair ") and last.endswith(
        " has a source of 1,100 tokens; this transformer reads at most 1,024 (its positions): --max-length 1023 "
        "drops longer training pairs"), last
    assert not (out / "params.npz").exists() and not (out / "last.npz").exists()
