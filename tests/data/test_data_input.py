"""Data input: per-side tokenisation, the course's dlfs2 files, the length filter, `jumok data`."""

import json

import pytest

from jumok.cli import main
from jumok.config import Config
from jumok.data.addition import generate_addition
from jumok.data.dates import generate_dates
from jumok.data.dlfs2 import parse_dlfs2_line, read_dlfs2
from jumok.data.tasks import load_pairs
from jumok.data.tokens import tokenize_pairs
from jumok.data.tsv import read_tsv, write_tsv
from jumok.errors import DataError
from jumok.data.prepare import prepare

TINY = ["--epochs", "1", "--hidden-size", "8", "--embed-size", "4", "--batch-size", "16", "--quiet"]
PHONEMES = {"a": "AH", "b": "B", "c": "CH", "d": "D", "e": "EH", "n": "N", "s": "SH", "t": "T"}


def _file(tmp_path, data: bytes, name="pairs.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _one_error_line(capsys):
    """The error line that ends stderr (`train` logs what it starts first), checked to be alone."""
    lines = capsys.readouterr().err.splitlines()
    errors = [line for line in lines if line.startswith("jumok: error: ")]
    assert errors == lines[-1:] and "Traceback" not in "\n".join(lines), lines
    return lines[-1]


# ---------------------------------------------------------------- tokenisation per side

def test_space_tokenised_targets_train_end_to_end(tmp_path):
    words = ["attention", "cat", "dance", "seat", "beans", "stand", "tense", "sand", "dent", "neat",
             "bead", "chest", "ten", "tad", "den", "sent", "scent", "bent", "acts", "dabs"]
    pairs = [(word, " ".join(PHONEMES.get(c, c.upper()) for c in word)) for word in words]
    write_tsv(tmp_path / "train.tsv", pairs)
    run_dir = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "train.tsv"), "--target-tokens", "space",
                 "--out", str(run_dir), *TINY]) == 0
    vocab = json.loads((run_dir / "vocab.json").read_text())
    assert {"AH", "CH", "EH", "SH"} <= set(vocab["target"]["tokens"])
    assert all(len(token) == 1 for token in vocab["source"]["tokens"])
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["source_tokens"], config["target_tokens"]) == ("char", "space")


def test_prepare_tokenises_each_side_in_its_own_mode(tmp_path):
    write_tsv(tmp_path / "t.tsv", [("a b", "AH  B"), ("b a", "B AH"), ("ab", "AH B")])
    config = Config(task="tsv", data=str(tmp_path / "t.tsv"), valid=str(tmp_path / "t.tsv"), target_tokens="space")
    _, train_set, valid_set = prepare(config, log=lambda msg: None)
    assert train_set.pairs[0] == (["a", " ", "b"], ["AH", "B"])
    assert valid_set.pairs == train_set.pairs
    config = config.replace(source_tokens="space", target_tokens="char")
    _, train_set, _ = prepare(config, log=lambda msg: None)
    assert train_set.pairs[0] == (["a", "b"], list("AH  B"))


@pytest.mark.parametrize("data, mode, expected", [
    (b"a\tx\n \tx\n", {"source_tokens": "space"}, "source is only whitespace"),
    (b"a\tx\na\t  \n", {"target_tokens": "space"}, "target is only whitespace"),
    (b"a\tx\nb c\t<s> x\n", {"target_tokens": "space"}, "target has the token '<s>', a name reserved"),
])
def test_space_mode_rejects_sides_without_usable_tokens(tmp_path, data, mode, expected):
    path = _file(tmp_path, data, "pairs.tsv")
    assert read_tsv(path) == [tuple(line.split("\t")) for line in data.decode().splitlines()]  # fine as chars
    with pytest.raises(DataError) as info:
        read_tsv(path, **mode)
    assert str(info.value).startswith(f"{path}:2: {expected}")


def test_generated_pairs_are_checked_with_their_number():
    assert tokenize_pairs([("ab", "x y")], "char", "space") == [(["a", "b"], ["x", "y"])]
    with pytest.raises(DataError, match="^validation pair 2: target is only whitespace"):
        tokenize_pairs([("a", "x"), ("b", "  ")], "char", "space", "validation")


# ---------------------------------------------------------------- dlfs2 files

def test_dlfs2_lines_are_split_at_the_first_underscore_and_unpadded(tmp_path):
    path = _file(tmp_path, b"\xef\xbb\xbf16+75  _91  \r\n\r\n  \n"
                           b"september 27, 1994           _1994-09-27\r\n"
                           b"a  b _c_d \n1+2_3")
    assert read_dlfs2(path) == [("16+75", "91"), ("september 27, 1994", "1994-09-27"), ("a  b", "c_d"), ("1+2", "3")]
    assert parse_dlfs2_line(" x _ y ") == (" x", " y")  # only the padding at the end goes


@pytest.mark.parametrize("data, line, expected", [
    (b"1+1_2\n\nno separator  \n", 3, "expected question_answer (no '_' found)"),
    (b"_91  \n", 1, "empty question, expected question_answer"),
    (b"1+1_2\n     _91\n", 2, "empty question"),
    (b"16+75  _   \r\n", 1, "empty answer, expected question_answer"),
    (b"1+1_2\n\xff_3\n", 2, "invalid UTF-8"),
    (b"1+1_2\na b_ \t \n", 2, "answer is only whitespace"),
])
def test_dlfs2_errors_name_file_and_line(tmp_path, data, line, expected):
    path = _file(tmp_path, data)
    with pytest.raises(DataError) as info:
        read_dlfs2(path, target_tokens="space")
    assert str(info.value).startswith(f"{path}:{line}: {expected}")


def test_dlfs2_empty_and_missing_files(tmp_path):
    path = _file(tmp_path, b"\n   \r\n")
    with pytest.raises(DataError, match="empty file, expected question_answer lines"):
        read_dlfs2(path)
    with pytest.raises(DataError, match="no such file"):
        read_dlfs2(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="is a directory, expected a question_answer file"):
        read_dlfs2(tmp_path)


def test_load_pairs_reads_data_and_valid_in_the_configured_format(tmp_path):
    train = _file(tmp_path, b"1+1  _2  \n2+2  _4  \n", "addition.txt")
    valid = _file(tmp_path, b"3+3  _6  \n", "valid.txt")
    config = Config(task="tsv", data=str(train), valid=str(valid), data_format="dlfs2")
    assert load_pairs(config) == ([("1+1", "2"), ("2+2", "4")], [("3+3", "6")])
    with pytest.raises(DataError, match="found no tab"):
        load_pairs(config.replace(data_format="tsv"))


def test_bad_dlfs2_file_is_one_error_line_and_exit_code_1(tmp_path, capsys):
    bad = _file(tmp_path, b"1+1  _2  \nno separator\n")
    assert main(["train", "--data", str(bad), "--format", "dlfs2", "--out", str(tmp_path / "r"), *TINY]) == 1
    assert _one_error_line(capsys) == f"jumok: error: {bad}:2: expected question_answer (no '_' found)"


def test_whitespace_only_side_is_one_error_line_through_the_cli(tmp_path, capsys):
    bad = _file(tmp_path, b"ab\tAH B\ncd\t  \n", "bad.tsv")
    assert main(["train", "--data", str(bad), "--target-tokens", "space", "--out", str(tmp_path / "r"), *TINY]) == 1
    assert _one_error_line(capsys).startswith(f"jumok: error: {bad}:2: target is only whitespace")


# ---------------------------------------------------------------- --max-length

def test_max_length_drops_long_training_pairs_only(tmp_path):
    write_tsv(tmp_path / "train.tsv", [("ab", "x"), ("abcd", "x"), ("a", "wxyz"), ("abc", "xyz"), ("a b c d", "x")])
    write_tsv(tmp_path / "valid.tsv", [("abcdef", "x"), ("a", "x")])
    messages = []
    config = Config(task="tsv", data=str(tmp_path / "train.tsv"), valid=str(tmp_path / "valid.tsv"), max_length=3)
    config, train_set, valid_set = prepare(config, log=messages.append)
    assert [("".join(s), "".join(t)) for s, t in train_set.pairs] == [("ab", "x"), ("abc", "xyz")]
    assert len(valid_set) == 2
    assert messages == [("max_length 3: dropped 3 of 5 training pairs with more than 3 tokens on a side "
                         "(validation pairs are all kept)")]
    _, train_set, _ = prepare(config.replace(source_tokens="space"), log=messages.append)
    assert len(train_set) == 3 and messages[-1].startswith("max_length 3: dropped 2 of 5 ")


def test_max_length_that_drops_everything_is_a_clear_error(tmp_path, capsys):
    write_tsv(tmp_path / "train.tsv", [("abc", "x"), ("abcd", "xy")])
    config = Config(task="tsv", data=str(tmp_path / "train.tsv"), valid=str(tmp_path / "train.tsv"), max_length=2)
    with pytest.raises(DataError) as info:
        prepare(config, log=lambda msg: None)
    assert str(info.value) == ("max_length 2 drops all 2 training pairs: the shortest has 3 tokens "
                               "on its longer side")
    assert main(["train", "--data", str(tmp_path / "train.tsv"), "--max-length", "2",
                 "--out", str(tmp_path / "r"), *TINY]) == 1
    assert "drops all" in _one_error_line(capsys)


# ---------------------------------------------------------------- jumok data

@pytest.mark.parametrize("task, extra, generated", [
    ("date", [], lambda: generate_dates(30, seed=4)),
    ("addition", ["--max-digits", "2"], lambda: generate_addition(30, seed=4, max_digits=2)),
])
def test_data_command_writes_the_generated_set(tmp_path, capsys, task, extra, generated):
    out = tmp_path / "sub" / f"{task}.tsv"
    assert main(["data", task, "--n", "30", "--seed", "4", *extra, "--out", str(out)]) == 0
    assert read_tsv(out) == generated()
    err = capsys.readouterr().err
    assert str(out) in err and "30" in err
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left
    assert main(["data", task, "--n", "30", "--seed", "4", *extra]) == 0
    assert capsys.readouterr().out == out.read_text()


def test_data_command_defaults_and_errors(tmp_path, capsys):
    assert main(["data", "addition", "--n", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [tuple(line.split("\t")) for line in lines] == generate_addition(5, seed=0)
    assert main(["data", "date", "--max-digits", "2"]) == 1
    assert "--max-digits applies to addition only" in _one_error_line(capsys)
    assert main(["data", "addition", "--n", "200", "--max-digits", "1"]) == 1
    assert "only 100 distinct problems" in _one_error_line(capsys)
    assert main(["data", "date", "--n", "0"]) == 1
    assert "--n must be a positive integer" in _one_error_line(capsys)
    assert main(["data", "date", "--n", "3", "--out", str(tmp_path)]) == 1
    assert _one_error_line(capsys) == (f"jumok: error: {tmp_path}: is a directory, "
                                       "expected the path of the TSV file to write")
    (tmp_path / "a_file").write_text("")
    assert main(["data", "date", "--n", "3", "--out", str(tmp_path / "a_file" / "x.tsv")]) == 1
    assert "cannot write" in _one_error_line(capsys)


def test_space_tokenised_targets_predict_and_evaluate_through_the_cli(tmp_path, capsys):
    pairs = [(w, " ".join(PHONEMES.get(c, c.upper()) for c in w)) for w in ["cat", "seat", "tense", "chest", "dance"]]
    write_tsv(tmp_path / "train.tsv", pairs * 8)
    run_dir = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "train.tsv"), "--target-tokens", "space", "--epochs", "40",
                 "--hidden-size", "32", "--embed-size", "8", "--batch-size", "8", "--lr", "0.01", "--lr-decay", "1", "--quiet",
                 "--out", str(run_dir)]) == 0
    capsys.readouterr()
    assert main(["predict", str(run_dir), "cat", "chest"]) == 0
    assert capsys.readouterr().out.splitlines() == [pairs[0][1], pairs[3][1]]  # phones, space-separated
    assert main(["evaluate", str(run_dir), "--data", str(tmp_path / "train.tsv"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["exact_match"] == 1.0 and result["token_error_rate"] == 0.0
