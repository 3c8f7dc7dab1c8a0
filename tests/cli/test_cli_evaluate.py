"""`jumok evaluate`, with a run of every model: metrics by the run's tokenisation, JSON
output, the --errors file and the note about unseen source tokens."""

import json
from pathlib import Path

import numpy as np
import pytest
from checks import UPPERCASE_TRAIN, train_flags

from jumok.cli import main
from jumok.config import Config
from jumok.data.tsv import write_tsv
from jumok.data.vocab import Vocab
from jumok.metrics import edit_distance, per_position_accuracy
from jumok.models import MODELS, build_model
from jumok.rundir import PARAMS, save_params, save_setup

PAIRS = [("abc", "ABC"), ("fed", "FED"), ("bad", "BAD"), ("abz", "ABZ"), ("ffff", "FFFF"), ("ace", "ACE")]


@pytest.fixture(scope="module", params=sorted(MODELS))
def char_run(uppercase_run, request):
    """A tiny trained char-level run (upper-casing a..f words) of each MODELS entry, and a
    test file for it."""
    run_dir = uppercase_run(2, train_flags(request.param, UPPERCASE_TRAIN))
    write_tsv(run_dir.parent / "test.tsv", PAIRS)
    return run_dir, run_dir.parent / "test.tsv"


def predictions(run_dir, sources, capsys, *options):
    assert main(["predict", str(run_dir), "--unk", *options, *sources]) == 0
    return capsys.readouterr().out.splitlines()


def evaluate_json(run_dir, data, capsys, *options):
    assert main(["evaluate", str(run_dir), "--data", str(data), "--json", *options]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_json_metrics_agree_with_the_predictions(char_run, capsys):
    run_dir, data = char_run
    outputs = predictions(run_dir, [s for s, _ in PAIRS], capsys)
    result, _ = evaluate_json(run_dir, data, capsys)
    references = [t for _, t in PAIRS]
    assert result["n"] == len(PAIRS) and result["beam"] == 1
    assert result["exact_match"] == pytest.approx(np.mean([o == r for o, r in zip(outputs, references)]))
    assert result["wrong"] == sum(o != r for o, r in zip(outputs, references)) >= 1  # 'Z' is never produced
    errors = sum(edit_distance(o, r) for o, r in zip(outputs, references))
    assert result["token_error_rate"] == pytest.approx(errors / sum(map(len, references)))
    assert result["per_position_accuracy"] == pytest.approx(per_position_accuracy(outputs, references))
    assert len(result["per_position_accuracy"]) == 4


def test_beam_is_used_and_reported(char_run, capsys):
    run_dir, data = char_run
    outputs = predictions(run_dir, [s for s, _ in PAIRS], capsys, "--beam", "3")
    result, _ = evaluate_json(run_dir, data, capsys, "--beam", "3")
    assert result["beam"] == 3
    assert result["exact_match"] == pytest.approx(np.mean([o == t for o, (_, t) in zip(outputs, PAIRS)]))


def test_length_penalty_reaches_the_beam(char_run, capsys):
    """--length-penalty is beam search's α: evaluate reports it and scores what predict
    prints with the same α, and the α changes the n-best scores predict prints."""
    run_dir, data = char_run
    sources = [s for s, _ in PAIRS]
    outputs = predictions(run_dir, sources, capsys, "--beam", "3", "--length-penalty", "0")
    result, _ = evaluate_json(run_dir, data, capsys, "--beam", "3", "--length-penalty", "0")
    assert (result["beam"], result["length_penalty"]) == (3, 0.0)
    assert result["exact_match"] == pytest.approx(np.mean([o == t for o, (_, t) in zip(outputs, PAIRS)]))
    scores = {}
    for alpha in ("0", "1"):
        assert main(["predict", str(run_dir), "--unk", "--beam", "3", "--nbest", "3", "--length-penalty", alpha,
                     *sources]) == 0
        scores[alpha] = [line.split("\t")[1] for line in capsys.readouterr().out.splitlines() if "\t" in line]
    assert scores["0"] != scores["1"]


def test_human_readable_output(char_run, capsys):
    run_dir, data = char_run
    assert main(["evaluate", str(run_dir), "--data", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("n 6  exact match ") and "token error rate" in lines[0] and "beam 1" in lines[0]
    assert lines[1].startswith("accuracy by output position (%)") and " 4:" in lines[1]


def test_unseen_source_tokens_are_counted_on_stderr(char_run, capsys):
    run_dir, data = char_run
    result, err = evaluate_json(run_dir, data, capsys)
    assert result["unseen_source_lines"] == 1
    assert "jumok: note: 1 of 6 input lines had tokens never seen in training, mapped to <unk>: 'z'" in err


def test_errors_file_lists_every_wrong_prediction(char_run, tmp_path, capsys):
    run_dir, data = char_run
    outputs = predictions(run_dir, [s for s, _ in PAIRS], capsys)
    errors = tmp_path / "out" / "errors.tsv"
    assert main(["evaluate", str(run_dir), "--data", str(data), "--errors", str(errors)]) == 0
    err = capsys.readouterr().err
    wrong = [(s, t, o) for (s, t), o in zip(PAIRS, outputs) if o != t]
    assert f"wrote {len(wrong)} wrong prediction" in err and str(errors) in err
    rows = [tuple(line.split("\t")) for line in errors.read_text().splitlines()]
    assert rows == wrong
    assert ("abz", "ABZ", outputs[3]) in rows


def test_errors_file_is_written_even_when_nothing_is_wrong(char_run, tmp_path, capsys):
    run_dir, _ = char_run
    outputs = predictions(run_dir, ["abc", "fed"], capsys)
    write_tsv(tmp_path / "self.tsv", list(zip(["abc", "fed"], outputs)))
    assert main(["evaluate", str(run_dir), "--data", str(tmp_path / "self.tsv"), "--errors",
                 str(tmp_path / "errors.tsv")]) == 0
    assert "wrote 0 wrong predictions" in capsys.readouterr().err
    assert (tmp_path / "errors.tsv").read_text() == ""


def test_errors_file_may_not_overwrite_the_data(char_run, capsys):
    run_dir, data = char_run
    before = data.read_text()
    assert main(["evaluate", str(run_dir), "--data", str(data), "--errors", str(data)]) == 1
    assert "is the --data file" in capsys.readouterr().err
    assert data.read_text() == before


def test_bad_beam_is_refused(char_run, capsys):
    run_dir, data = char_run
    assert main(["evaluate", str(run_dir), "--data", str(data), "--beam", "0"]) == 1
    assert "--beam" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Space tokenisation: references are compared as word lists
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def word_run(tmp_path_factory):
    """An untrained run on whitespace-separated words (outputs are arbitrary but valid)."""
    run_dir = tmp_path_factory.mktemp("words") / "run"
    config = Config(task="tsv", data="train.tsv", embed_size=4, hidden_size=8, max_output_length=4,
                    source_tokens="space", target_tokens="space")
    src_vocab, tgt_vocab = Vocab(["one", "two", "three"]), Vocab(["uno", "dos", "tres"])
    save_setup(run_dir, config, src_vocab, tgt_vocab)
    save_params(Path(run_dir) / PARAMS, build_model(config, len(src_vocab), len(tgt_vocab),
                                                    np.random.default_rng(1)))  # non-empty outputs
    return run_dir


def test_space_tokens_compare_words_not_characters(word_run, tmp_path, capsys):
    sources = ["one two", "three", "two two one"]
    outputs = predictions(word_run, sources, capsys)
    assert all(outputs), "the untrained model should give some output here"
    # the same words with other spacing are still exact; a changed word costs one token
    respaced = ["  ".join(o.split()) + " " for o in outputs]
    write_tsv(tmp_path / "same.tsv", list(zip(sources, respaced)))
    result, _ = evaluate_json(word_run, tmp_path / "same.tsv", capsys)
    assert result["exact_match"] == 1.0 and result["token_error_rate"] == 0.0
    changed = [o.split() for o in outputs]
    for words in changed:
        words.append("extra")
    write_tsv(tmp_path / "longer.tsv", [(s, " ".join(w)) for s, w in zip(sources, changed)])
    result, _ = evaluate_json(word_run, tmp_path / "longer.tsv", capsys, "--errors", str(tmp_path / "e.tsv"))
    assert result["exact_match"] == 0.0 and result["wrong"] == 3
    assert result["token_error_rate"] == pytest.approx(3 / sum(len(w) for w in changed))
    rows = [line.split("\t") for line in (tmp_path / "e.tsv").read_text().splitlines()]
    assert [r[2] for r in rows] == outputs  # predictions joined with single spaces


def test_space_tokens_unseen_words_in_the_data_are_counted(word_run, tmp_path, capsys):
    write_tsv(tmp_path / "unseen.tsv", [("one four", "uno"), ("five six", "dos"), ("two", "dos")])
    result, err = evaluate_json(word_run, tmp_path / "unseen.tsv", capsys)
    assert result["unseen_source_lines"] == 2
    assert "2 of 3 input lines had tokens never seen in training, mapped to <unk>: 'five' 'four' 'six'" in err


def test_json_also_gives_wer_per_and_the_line_count(char_run, capsys):
    run_dir, data = char_run
    result, _ = evaluate_json(run_dir, data, capsys)
    assert result["wer"] == 1 - result["exact_match"] and result["per"] == result["token_error_rate"]
    assert result["lines"] == result["n"] == len(PAIRS)
