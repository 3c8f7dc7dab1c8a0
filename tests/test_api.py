"""The Python API, with a run of every model with attention: `jumok.load` → a Model that
predicts (greedy, beam, n-best), hands back attention weights, refuses bad input with
one-line errors, serves several threads, draws."""

import re
import threading
from pathlib import Path

import numpy as np
import pytest
from checks import UPPERCASE_TRAIN, train_flags, untrained_run, with_attention
from matplotlib.figure import Figure

import jumok
from jumok import api
from jumok.cli import main
from jumok.data.vocab import UNK
from jumok.errors import CheckpointError, ConfigError, DataError, JumokError, UnknownTokenError
from jumok.models import MODELS

WORDS = ["abc", "fed", "ab", "fffa", "cab", "dad", "bee", "face"]


@pytest.fixture(scope="module", params=with_attention())
def char_run(uppercase_run, request):
    """A tiny trained char-level run of each model with attention: lower-case a..f words to
    upper case."""
    return uppercase_run(1, train_flags(request.param, UPPERCASE_TRAIN))


@pytest.fixture(scope="module")
def model(char_run):
    return jumok.load(char_run)


def test_load_gives_the_run_and_jumok_load_is_the_api(model, char_run):
    assert jumok.load is api.load
    assert model.run_dir == Path(char_run) and model.has_attention
    assert type(model.network) is MODELS[model.config.model]
    assert [entry["epoch"] for entry in model.history] == [1, 2, 3, 4]
    assert "a" in model.source_vocab and "A" in model.target_vocab


def test_load_errors_are_the_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such run directory"):
        jumok.load(tmp_path / "missing")


def test_greedy_predictions_match_the_cli_and_carry_their_parts(model, char_run, capsys):
    outputs = model.predict(WORDS)
    assert main(["predict", str(char_run), *WORDS]) == 0
    assert [o.text for o in outputs] == capsys.readouterr().out.splitlines()
    for word, output in zip(WORDS, outputs):
        assert output.source == word and output.source_tokens == list(word) and output.unseen == []
        assert output.text == "".join(output.tokens)
        assert output.steps[: len(output.tokens)] == output.tokens and output.steps[len(output.tokens):] in ([], ["</s>"])
        assert output.score is None and output.alternatives == []
        assert output.attention.shape == (len(output.steps), len(word))
        np.testing.assert_allclose(output.attention.sum(axis=1), 1.0, rtol=1e-5)
    single = model.predict("abc")
    assert isinstance(single, api.Output) and single.text == outputs[0].text
    assert model.predict([]) == []


def test_beam_with_nbest_lists_alternatives_best_first(model, char_run, capsys):
    outputs = model.predict(WORDS, beam=3, nbest=2)
    assert main(["predict", str(char_run), "--beam", "3", "--nbest", "2", *WORDS]) == 0
    printed = [line for output in outputs for line in
               [*(f"{a.text}\t{a.score:.4f}" for a in output.alternatives), ""]]
    assert printed == capsys.readouterr().out.splitlines()
    for output in outputs:
        assert isinstance(output.score, float) and len(output.alternatives) == 2
        assert output.alternatives[0] == api.Alternative(output.text, output.tokens, output.score)
        assert output.alternatives[0].score >= output.alternatives[1].score
        assert output.attention.shape == (len(output.steps), len(output.source_tokens))
        np.testing.assert_allclose(output.attention.sum(axis=1), 1.0, rtol=1e-5)
    assert [o.alternatives for o in model.predict(WORDS, beam=3)] == [[]] * len(WORDS)


def test_unseen_tokens_are_refused_naming_the_input_unless_unk(model):
    with pytest.raises(UnknownTokenError) as caught:
        model.predict(["abc", "axyx"])
    assert str(caught.value) == "input 2 'axyx' has tokens never seen in training: 'x' 'y'"
    assert caught.value.tokens == ["x", "y"]
    output = model.predict("axyx", unk=True)
    assert output.source_tokens == ["a", UNK, UNK, UNK]
    assert output.unseen == ["x", "y"] and output.attention.shape[1] == 4


def test_bad_inputs_are_one_line_jumok_errors(model):
    with pytest.raises(JumokError, match=r"^input 2 is empty: there is nothing to translate$"):
        model.predict(["abc", ""])
    with pytest.raises(DataError, match=r"^input 1 has 10,001 characters, expected at most 10,000$"):
        model.predict("a" * 10_001)
    with pytest.raises(JumokError, match=r"^input 1 is int, expected a string$"):
        model.predict([3])


@pytest.mark.parametrize("beam, nbest", [(0, 1), (2, 3), (2, 0), (-1, 1)])
def test_bad_beam_or_nbest_is_a_config_error(model, beam, nbest):
    with pytest.raises(ConfigError, match=rf"^need beam >= 1 and 1 <= nbest <= beam; got beam {beam}, nbest {nbest}$"):
        model.predict("abc", beam=beam, nbest=nbest)


@pytest.mark.parametrize("alpha", [-1.0, float("nan"), float("inf"), "1", True])
def test_bad_length_penalty_is_a_config_error(model, alpha):
    with pytest.raises(ConfigError, match=rf"^need length_penalty to be a number >= 0; got {re.escape(repr(alpha))}$"):
        model.predict("abc", beam=2, length_penalty=alpha)


def test_batch_size_and_chunks_do_not_change_the_outputs(model, monkeypatch):
    expected = [o.text for o in model.predict(WORDS * 3)]
    assert [o.text for o in model.predict(WORDS * 3, batch_size=2)] == expected
    monkeypatch.setattr(api, "DECODE_BUDGET", 8)
    assert [o.text for o in model.predict(WORDS * 3)] == expected
    with pytest.raises(ConfigError, match=r"^batch_size must be at least 1; got 0$"):
        model.predict("abc", batch_size=0)


def test_several_threads_predicting_at_once_get_what_one_thread_gets(model):
    inputs = [WORDS[i:] + WORDS[:i] for i in range(len(WORDS))]
    expected = [[(o.text, o.attention.tolist()) for o in model.predict(texts, beam=1 + i % 2)]
                for i, texts in enumerate(inputs)]
    results, errors = [None] * len(inputs), []
    start = threading.Barrier(len(inputs))

    def work(i):
        try:
            start.wait()
            for _ in range(3):
                results[i] = [(o.text, o.attention.tolist()) for o in model.predict(inputs[i], beam=1 + i % 2)]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == expected


def test_attention_figure_is_a_figure(model):
    figure = model.attention_figure("abc", beam=2)
    assert isinstance(figure, Figure)
    (axes, *_) = figure.axes
    assert [t.get_text() for t in axes.get_xticklabels()] == ["a", "b", "c"]
    assert axes.get_title().startswith("abc → ") and axes.get_title().endswith("(beam 2)")


def test_a_model_without_attention_hands_back_none_and_draws_nothing(tmp_path):
    model = jumok.load(untrained_run(tmp_path / "run", model="seq2seq"))
    assert not model.has_attention
    output = model.predict("one two")
    assert output.source_tokens == ["one", "two"] and output.attention is None
    assert output.text == " ".join(output.tokens)
    with pytest.raises(JumokError, match="^model seq2seq has no attention to draw$"):
        model.attention_figure("one two")
