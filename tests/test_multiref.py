"""Several references per source: grouping, the closest reference, exact match against any
reference, and the same numbers from `jumok evaluate` on a TSV file with repeated sources as
from training's in-memory validation."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

from jumok.cli import main
from jumok.config import Config
from jumok.data.batching import Dataset
from jumok.data.tokens import tokenize
from jumok.data.tsv import write_tsv
from jumok.data.vocab import Vocab
from jumok.rundir import PARAMS, save_params, save_setup
from jumok.metrics import (
    closest_reference,
    group_references,
    multi_reference_report,
    multi_reference_score,
    per_position_accuracy,
    report,
    score,
)
from jumok.evaluation import evaluate_dataset
from jumok.models import build_model, load_run


def phones(text):
    return text.split()


def test_a_prediction_equal_to_the_second_reference_is_exact():
    result = multi_reference_score([phones("R IY D")], [[phones("R EH D"), phones("R IY D")]])
    assert result == {"n": 1, "exact_match": 1.0, "token_error_rate": 0.0}


def test_token_error_rate_uses_the_closest_reference_and_its_length():
    # distance 1 to the 5-phone reference, 3 to the 3-phone one: 1 / 5, not 1 / 3 or 3 / 3
    prediction = phones("T AH M EY T")
    references = [phones("T AH M"), phones("T AH M AA T")]
    assert closest_reference(prediction, references) == (1, references[1])
    result = multi_reference_score([prediction], [references])
    assert result["exact_match"] == 0.0
    assert result["token_error_rate"] == pytest.approx(1 / 5)


def test_the_rate_is_summed_over_sources_before_dividing():
    predictions = [phones("K AE T"), phones("D AO G Z")]
    references = [[phones("K AE T")], [phones("D AA G"), phones("D AO G")]]
    result = multi_reference_score(predictions, references)
    assert result["n"] == 2 and result["exact_match"] == 0.5
    assert result["token_error_rate"] == pytest.approx((0 + 1) / (3 + 3))


def test_equally_close_references_resolve_to_the_longer_whatever_their_order():
    prediction = phones("A B")
    short, long = phones("A"), phones("A B C")  # both at distance 1
    assert closest_reference(prediction, [short, long]) == (1, long)
    assert closest_reference(prediction, [long, short]) == (1, long)
    assert multi_reference_score([prediction], [[short, long]])["token_error_rate"] == pytest.approx(1 / 3)


def test_a_source_needs_a_reference():
    with pytest.raises(ValueError, match="at least one reference"):
        multi_reference_score([phones("A")], [[]])


def test_group_references_counts_unique_sources_in_order_of_first_appearance():
    sources = ["read", "cat", "read", "dog", "cat", "read"]
    references = ["R IY D", "K AE T", "R EH D", "D AO G", "K AE T", "R IY D"]
    unique, grouped, index = group_references(sources, references)
    assert unique == ["read", "cat", "dog"]
    assert grouped == [["R IY D", "R EH D"], ["K AE T"], ["D AO G"]]  # repeated lines kept once
    assert index == [0, 1, 0, 2, 1, 0]


def test_group_references_compares_tokens_not_containers():
    unique, grouped, index = group_references([["a", "b"], ("a", "b"), "ab"], [["X"], ("X",), ["Y"]])
    assert len(unique) == 1 and grouped == [[["X"], ["Y"]]] and index == [0, 0, 0]


def test_one_reference_each_gives_the_single_reference_metrics():
    rng = random.Random(7)
    predictions = ["".join(rng.choice("abc") for _ in range(rng.randint(0, 6))) for _ in range(200)]
    references = ["".join(rng.choice("abc") for _ in range(rng.randint(1, 6))) for _ in range(200)]
    expected = report(predictions, references)
    got = multi_reference_report(predictions, [[r] for r in references])
    assert got.keys() == expected.keys()
    for key, value in expected.items():  # one key at a time: pytest.approx takes no nested containers
        assert got[key] == pytest.approx(value), key
    assert multi_reference_score(predictions, [[r] for r in references]) == pytest.approx(score(predictions,
                                                                                                references))


def test_per_position_accuracy_is_taken_against_the_closest_reference():
    predictions = [phones("R IY D")]
    result = multi_reference_report(predictions, [[phones("R EH D"), phones("R IY D")]])
    assert result["per_position_accuracy"] == [1.0, 1.0, 1.0] and result["wrong"] == 0
    assert per_position_accuracy(predictions, [phones("R EH D")]) == [1.0, 0.0, 1.0]


# ---------------------------------------------------------------------------------------
# The TSV route (`jumok evaluate`) and the in-memory route (training's validation) agree
# ---------------------------------------------------------------------------------------

LETTERS = "abcde"
PHONES = ["AA", "B", "K", "D", "EH"]


@pytest.fixture(scope="module")
def letter_run(tmp_path_factory):
    """An untrained letters → phones run (random but fixed outputs)."""
    run_dir = tmp_path_factory.mktemp("multiref") / "run"
    config = Config(task="tsv", data="train.tsv", embed_size=8, hidden_size=16, max_output_length=6,
                    target_tokens="space", bidirectional=True)
    src_vocab, tgt_vocab = Vocab(list(LETTERS)), Vocab(PHONES)
    save_setup(run_dir, config, src_vocab, tgt_vocab)
    save_params(Path(run_dir) / PARAMS, build_model(config, len(src_vocab), len(tgt_vocab),
                                                    np.random.default_rng(6)))  # clean outputs
    return run_dir


def repeated_source_pairs(run_dir, capsys, count=40):
    """Pairs with two or three references for some words, one of them the model's own output
    for about a third of the words, so exact match, errors and grouping all matter."""
    rng = random.Random(5)
    words = sorted({"".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 5))) for _ in range(count)})
    assert main(["predict", str(run_dir), *words]) == 0
    outputs = capsys.readouterr().out.splitlines()
    pairs = []
    for i, (word, output) in enumerate(zip(words, outputs)):
        spelled = " ".join(PHONES[LETTERS.index(c)] for c in word)
        pairs.append((word, spelled))
        if i % 3 == 0 and output and "<" not in output:  # not <unk>, which a file cannot hold
            pairs.append((word, output))
        if i % 4 == 0:
            pairs.append((word, spelled + " EH"))
    rng.shuffle(pairs)  # a source's lines need not be next to each other
    return words, pairs


def test_evaluate_with_repeated_sources_equals_the_in_memory_scoring(letter_run, tmp_path, capsys):
    words, pairs = repeated_source_pairs(letter_run, capsys)
    write_tsv(tmp_path / "multi.tsv", pairs)
    assert main(["evaluate", str(letter_run), "--data", str(tmp_path / "multi.tsv"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)

    run = load_run(letter_run)
    dataset = Dataset([(tokenize(s), t.split()) for s, t in pairs], run.src_vocab, run.tgt_vocab, unknown="unk")
    memory, outputs = evaluate_dataset(run.model, dataset, run.config.max_output_length)
    assert result["n"] == memory["n"] == len(outputs) == len(words)
    assert result["lines"] == len(pairs) > len(words)
    assert 0 < result["exact_match"] < 1
    assert result["exact_match"] == memory["exact_match"]
    assert result["token_error_rate"] == memory["token_error_rate"]
    assert result["wer"] == 1 - result["exact_match"] and result["per"] == result["token_error_rate"]


def test_errors_file_lists_every_reference_of_a_wrong_source(letter_run, tmp_path, capsys):
    write_tsv(tmp_path / "two.tsv", [("abc", "AA B K"), ("ab", "AA B"), ("abc", "EH EH")])
    assert main(["predict", str(letter_run), "abc", "ab"]) == 0
    outputs = capsys.readouterr().out.splitlines()
    assume_wrong = outputs[0] not in ("AA B K", "EH EH") and outputs[1] != "AA B"
    assert assume_wrong, "the untrained model happens to be right; pick other references"
    errors = tmp_path / "errors.tsv"
    assert main(["evaluate", str(letter_run), "--data", str(tmp_path / "two.tsv"), "--errors", str(errors)]) == 0
    captured = capsys.readouterr()
    assert "wrote 2 wrong predictions" in captured.err
    assert "n 2 " in captured.out and "(3 lines" in captured.out
    rows = [tuple(line.split("\t")) for line in errors.read_text().splitlines()]
    assert rows == [("abc", "AA B K", outputs[0]), ("ab", "AA B", outputs[1]), ("abc", "EH EH", outputs[0])]
