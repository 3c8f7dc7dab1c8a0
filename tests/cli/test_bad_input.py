"""The bad-input matrix (issue #7): every way a user can hand jumok wrong input, each run
through the CLI and checked for its message, its exit code (1 for jumok's own errors, 2 for
argparse usage errors), no traceback, and no run directory or output file left behind.

Most cases call `jumok.cli.main` in-process, as the other CLI tests do; the cases about
stdin bytes (BOM, CRLF, invalid UTF-8, a line without end) run ``python -m jumok`` in a
subprocess, because only a real pipe goes through predict's byte-level reader.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
from checks import REPO

from jumok.cli import build_parser, main
from jumok.cli.train import settings_from_args
from jumok.data.tsv import MAX_LINE_CHARS, read_tsv

TINY = ["--epochs", "1", "--hidden-size", "8", "--embed-size", "4", "--batch-size", "16", "--quiet"]
SRC = str(REPO / "src")
GOOD = b"abc\tABC\nab\tAB\nfed\tFED\ncab\tCAB\n"


@pytest.fixture(scope="module")
def run_dir(uppercase_run):
    """A tiny char-level run that upper-cases a..f words (how well does not matter here)."""
    return uppercase_run(2, TINY)


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def error_line(capsys):
    """The one ``jumok: error:`` line that ends stderr, without the prefix; no traceback."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(lines), lines
    errors = [line for line in lines if line.startswith("jumok: error: ")]
    assert errors == lines[-1:], lines  # `train` may log what it starts first; one error, last
    return lines[-1][len("jumok: error: "):]


def jumok(*argv, stdin=b""):
    """(exit code, stdout, stderr) of ``python -m jumok ARGV`` with bytes on stdin."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "jumok", *map(str, argv)], input=stdin, capture_output=True,
                          env=env, timeout=120, check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


# ---------------------------------------------------------------------------------------
# Training and evaluation files
# ---------------------------------------------------------------------------------------

BAD_FILES = [  # (case, file bytes, line or None, message after "path:line: ")
    ("empty file", b"", None, "empty file, expected source<TAB>target lines"),
    ("only blank lines and a BOM", b"\xef\xbb\xbf\n\r\n  \n", None, "empty file, expected source<TAB>target lines"),
    ("missing tab", GOOD + b"no tab here\n", 5, "expected source<TAB>target, found no tab"),
    ("empty source", GOOD + b"\tXY\n", 5, "empty source, expected source<TAB>target"),
    ("empty target", b"ab\t\n" + GOOD, 1, "empty target, expected source<TAB>target"),
    ("ragged columns", GOOD + b"a\tb\tc\td\n", 5, "expected source<TAB>target, found 3 tabs"),
    ("invalid UTF-8", GOOD + b"ab\tA\xe9B\n", 5, "invalid UTF-8 (byte 5 of the line), expected UTF-8 text"),
    ("truncated UTF-8 at the end", GOOD + "é\tÉ".encode()[:-1], 5,
     "invalid UTF-8 (byte 4 of the line), expected UTF-8 text"),
    ("line too long", GOOD + b"a" * MAX_LINE_CHARS + b"\tA\n", 5,
     f"line of {MAX_LINE_CHARS + 2:,} characters, expected at most {MAX_LINE_CHARS:,} (shorten or remove it)"),
]


def where(path, line):
    return f"{path}:{line}" if line else f"{path}"


@pytest.mark.parametrize("case, data, line, message", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_bad_training_file_leaves_no_run_directory(tmp_path, capsys, case, data, line, message):
    path = write(tmp_path / "pairs.tsv", data)
    out = tmp_path / "run"
    assert main(["train", "--data", str(path), "--out", str(out), *TINY]) == 1
    assert error_line(capsys) == f"{where(path, line)}: {message}"
    assert not out.exists()


@pytest.mark.parametrize("case, data, line, message", BAD_FILES[2:5], ids=[case[0] for case in BAD_FILES[2:5]])
def test_bad_validation_file_is_named_too(tmp_path, capsys, case, data, line, message):
    train, valid = write(tmp_path / "train.tsv", GOOD), write(tmp_path / "valid.tsv", data)
    out = tmp_path / "run"
    assert main(["train", "--data", str(train), "--valid", str(valid), "--out", str(out), *TINY]) == 1
    assert error_line(capsys) == f"{valid}:{line}: {message}"
    assert not out.exists()


@pytest.mark.parametrize("case, data, line, message", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_bad_evaluation_file_writes_no_errors_file(run_dir, tmp_path, capsys, case, data, line, message):
    path = write(tmp_path / "test.tsv", data)
    assert main(["evaluate", str(run_dir), "--data", str(path), "--errors", str(tmp_path / "wrong.tsv")]) == 1
    assert error_line(capsys) == f"{where(path, line)}: {message}"
    assert not (tmp_path / "wrong.tsv").exists()


def test_missing_file_and_directory_as_data(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nope.tsv"), "--out", str(tmp_path / "run"), *TINY]) == 1
    assert error_line(capsys) == f"{tmp_path / 'nope.tsv'}: no such file"
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), *TINY]) == 1
    assert error_line(capsys) == f"{tmp_path}: is a directory, expected a source<TAB>target file"
    assert not (tmp_path / "run").exists()


def test_bom_and_crlf_are_accepted_and_never_become_tokens(tmp_path, capsys):
    data = b"\xef\xbb\xbf" + GOOD.replace(b"\n", b"\r\n")
    path = write(tmp_path / "windows.tsv", data)
    assert read_tsv(path)[0] == ("abc", "ABC")  # the BOM is not part of the first source
    out = tmp_path / "run"
    assert main(["train", "--data", str(path), "--valid", str(path), "--out", str(out), *TINY]) == 0
    vocab = json.loads((out / "vocab.json").read_text(encoding="utf-8"))
    tokens = vocab["source"]["tokens"] + vocab["target"]["tokens"]
    assert sorted(tokens) == sorted("ABCDEFabcdef")
    assert "\ufeff" not in tokens and "\r" not in tokens


def test_long_lines_under_the_limit_are_read_and_max_length_drops_them_with_a_count(tmp_path, capsys):
    path = write(tmp_path / "train.tsv", GOOD + b"abc" * 100 + b"\tABC\n")
    valid = write(tmp_path / "valid.tsv", GOOD)
    out = tmp_path / "run"
    assert main(["train", "--data", str(path), "--valid", str(valid), "--max-length", "50", "--out", str(out),
                 *TINY]) == 0
    err = capsys.readouterr().err
    assert ("max_length 50: dropped 1 of 5 training pairs with more than 50 tokens on a side "
            "(validation pairs are all kept)") in err


# ---------------------------------------------------------------------------------------
# Predict inputs
# ---------------------------------------------------------------------------------------


def test_unknown_characters_name_the_input_and_unk_maps_them(run_dir, capsys):
    assert main(["predict", str(run_dir), "abc", "abz"]) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1  # the input before it was answered
    assert captured.err.strip() == ("jumok: error: argument 2 'abz' has tokens never seen in training: 'z' "
                                    "(--unk maps them to <unk>)")
    assert main(["predict", str(run_dir), "--unk", "abc", "abz"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert captured.err.strip() == "jumok: note: 1 input line had tokens never seen in training, mapped to <unk>: 'z'"


def test_too_long_argument_is_refused(run_dir, capsys):
    assert main(["predict", str(run_dir), "a" * (MAX_LINE_CHARS + 1)]) == 1
    assert error_line(capsys) == f"argument 1 has {MAX_LINE_CHARS + 1:,} characters, expected at most 10,000"


def test_stdin_with_bom_and_crlf_gives_the_same_answers(run_dir):
    code, expected, _ = jumok("predict", run_dir, "abc", "fed", "cab")
    assert code == 0
    code, out, err = jumok("predict", run_dir, stdin=b"\xef\xbb\xbfabc\r\nfed\r\ncab")
    assert (code, out, err) == (0, expected, "")


@pytest.mark.parametrize("stdin, answered, message", [
    (b"abc\nfed\nab\xffc\nabc\n", 2, "stdin line 3: invalid UTF-8 (byte 3 of the line), expected UTF-8 text"),
    (b"abc\n" + b"a" * (MAX_LINE_CHARS + 1) + b"\nabc\n", 1,
     f"stdin line 2 has {MAX_LINE_CHARS + 1:,} characters, expected at most {MAX_LINE_CHARS:,}"),
    (b"abc\nfed\n" + b"a" * (1 << 20), 2,  # a megabyte without a newline is not held in memory
     (f"stdin line 3 has more than {4 * MAX_LINE_CHARS + 1:,} bytes without a newline, "
      f"expected at most {MAX_LINE_CHARS:,} characters")),
    (b"abc\n\nabc\n", 1, "stdin line 2 is empty: there is nothing to translate"),
    (b"abc\nxyz\n", 1, "stdin line 2 'xyz' has tokens never seen in training: 'x' 'y' 'z' (--unk maps them to <unk>)"),
], ids=["invalid UTF-8", "line too long", "no newline for a megabyte", "empty line", "unknown characters"])
def test_bad_stdin_line_answers_the_lines_before_it(run_dir, stdin, answered, message):
    code, out, err = jumok("predict", run_dir, stdin=stdin)
    assert code == 1 and "Traceback" not in err, err
    assert len(out.splitlines()) == answered
    assert err.strip() == f"jumok: error: {message}"


# ---------------------------------------------------------------------------------------
# Settings: flags, config files, --set
# ---------------------------------------------------------------------------------------

OUT_OF_RANGE = [  # (key, bad value as TOML / flag text, the message)
    ("hidden_size", "0", "hidden_size must be a positive integer; got 0"),
    ("embed_size", "-4", "embed_size must be a positive integer; got -4"),
    ("batch_size", "-1", "batch_size must be a number of pairs, or 0 for auto; got -1"),
    ("epochs", "-1", "epochs must be a positive integer; got -1"),
    ("layers", "0", "layers must be a positive integer; got 0"),
    ("n_examples", "0", "n_examples must be a positive integer; got 0"),
    ("beam", "0", "beam must be a positive integer; got 0"),
    ("lr_patience", "0", "lr_patience must be a positive integer; got 0"),
    ("max_length", "-1", "max_length must be 0 (off) or positive; got -1"),
    ("max_output_length", "-5", "max_output_length must be 0 (off) or positive; got -5"),
    ("patience", "-1", "patience must be 0 (off) or positive; got -1"),
    ("test_beam", "-1", "test_beam must be 0 (off) or positive; got -1"),
    ("checkpoint_every", "-10", "checkpoint_every must be 0 (off) or positive; got -10"),
    ("time_budget", "-0.5", "time_budget must be 0 (off) or positive; got -0.5"),
    ("time_budget", "inf", "time_budget must be a finite number; got inf"),
    ("lr", "0", "lr must be a positive number; got 0.0"),
    ("lr", "-0.01", "lr must be a positive number; got -0.01"),
    ("lr", "nan", "lr must be a finite number; got nan"),
    ("lr_decay", "0", "lr_decay must be in (0, 1] (1 = constant learning rate); got 0.0"),
    ("lr_decay", "1.5", "lr_decay must be in (0, 1] (1 = constant learning rate); got 1.5"),
    ("clip", "-1", "clip must be 0 (off) or positive; got -1.0"),
    ("clip", "inf", "clip must be a finite number; got inf"),
    ("dropout", "1", "dropout must be in [0, 1); got 1.0"),
    ("dropout", "-0.1", "dropout must be in [0, 1); got -0.1"),
    ("valid_fraction", "0", "valid_fraction must be between 0 and 1; got 0.0"),
    ("valid_fraction", "1.5", "valid_fraction must be between 0 and 1; got 1.5"),
    ("seed", "-1", "seed must be 0 or a positive integer; got -1"),
]
NO_FLAG = ("max_output_length", "valid_fraction")  # settable only in a config file or with --set
SECTION = {"hidden_size": "model", "embed_size": "model", "layers": "model", "dropout": "model",
           "n_examples": "data", "max_length": "data", "valid_fraction": "data", "max_output_length": "decode"}


ROUTES = [(route, *case) for case in OUT_OF_RANGE for route in ("flag", "file", "set")
          if not (route == "flag" and case[0] in NO_FLAG)]


@pytest.mark.parametrize("route, key, value, message", ROUTES, ids=[f"{r}-{k}={v}" for r, k, v, _ in ROUTES])
def test_out_of_range_settings_name_key_value_and_range(tmp_path, capsys, route, key, value, message):
    section = SECTION.get(key, "train")
    if route == "flag":
        argv = [f"--{key.replace('_', '-')}={value}"]
    elif route == "file":
        argv = [str(write(tmp_path / "c.toml", f"[{section}]\n{key} = {value}\n".encode()))]
    else:
        argv = ["--set", f"{section}.{key}={value}"]
    out = tmp_path / "run"
    assert main(["train", *argv, "--out", str(out), "--quiet"]) == 1
    assert error_line(capsys) == message
    assert not out.exists()


SETTINGS_OF_ANOTHER_MODEL = [  # (flags, the one-line message)
    (["--model", "transformer", "--bidirectional"], "bidirectional (--bidirectional) is a setting of the attention, "
     "seq2seq and peeky models, not of the transformer model; leave it unset"),
    (["--model", "transformer", "--lstm-init", "uniform"], "lstm_init (--lstm-init) is a setting of the attention, "
     "seq2seq and peeky models, not of the transformer model; leave it unset"),
    (["--heads", "8"], "heads (--heads) is a setting of the transformer model, not of the attention model; leave it "
     "unset"),
    (["--model", "peeky", "--attention-dropout", "0.1"], "attention_dropout (--attention-dropout) is a setting of the "
     "transformer model, not of the peeky model; leave it unset"),
    (["--optimizer", "sgd", "--beta2", "0.98"], "beta2 (--beta2) is a setting of Adam, not of sgd; leave it unset"),
    (["--model", "transformer", "--hidden-size", "66"], "the transformer's hidden_size (its model width) must be a "
     "multiple of heads; got hidden_size 66 and heads 4"),
]


@pytest.mark.parametrize("flags, message", SETTINGS_OF_ANOTHER_MODEL, ids=[" ".join(f) for f, _ in
                                                                           SETTINGS_OF_ANOTHER_MODEL])
def test_a_setting_the_model_does_not_read_is_refused_in_one_line(tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    assert main(["train", *flags, "--out", str(out), "--quiet"]) == 1
    assert error_line(capsys) == message
    assert not out.exists()


def test_a_users_file_gives_the_transformer_none_of_the_lstms_own_defaults():
    """A user's file trains a bidirectional LSTM with PyTorch's init by default; those are
    left out for the Transformer (which would refuse them), and its own defaults come in."""
    config = settings_from_args(build_parser().parse_args(["train", "--data", "x.tsv", "--model", "transformer"]))[0]
    assert (config.bidirectional, config.lstm_init, config.embed_scale) == (False, "chapter", 0.01)
    assert (config.epochs, config.patience, config.hidden_size, config.warmup_steps) == (100, 3, 64, 300)


@pytest.mark.parametrize("text, message", [
    ("[model]\nhiden_size = 64\n", "unknown key 'hiden_size' in [model] (did you mean 'hidden_size'?)"),
    ("[trian]\nlr = 0.1\n", "unknown section [trian]; did you mean [train]?"),
    ("[train]\nepochs = \"3\"\n", '[train] epochs: expected an integer, got "3" (a string)'),
    ("[train]\nlr = true\n", "[train] lr: expected a number, got true (a boolean)"),
    ("[train]\nepochs = 2.5\n", "[train] epochs: expected an integer, got 2.5 (a number)"),
    ("[train]\nepochs = 3\nepochs = 4\n", "invalid TOML: Cannot overwrite a value (at line 3, column 11)"),
])
def test_bad_config_file_names_file_and_key(tmp_path, capsys, text, message):
    path = write(tmp_path / "c.toml", text.encode())
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 1
    assert error_line(capsys) == f"{path}: {message}"
    assert not (tmp_path / "run").exists()


def test_config_file_that_is_not_utf8(tmp_path, capsys):
    path = write(tmp_path / "c.toml", b"[train]\nlr = 0.1 # \xff\n")
    assert main(["train", str(path), "--quiet"]) == 1
    assert error_line(capsys) == f"{path}:2: invalid UTF-8 (byte 12 of the line), expected UTF-8 text"


@pytest.mark.parametrize("assignment, message", [
    ("train.epoch=3", "--set train.epoch: unknown key 'epoch' in [train] (did you mean 'epochs'?)"),
    ("train.epochs=three", '--set train.epochs: expected an integer, got "three" (a string)'),
    ("model.dropout=[0.1]", "--set model.dropout: expected a number, got [0.1] (an array)"),
    ("model.reverse=yes", '--set model.reverse: expected true or false, got "yes" (a string)'),
])
def test_bad_set_assignment(tmp_path, capsys, assignment, message):
    assert main(["train", "--set", assignment, "--out", str(tmp_path / "run"), "--quiet"]) == 1
    assert error_line(capsys) == message
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv, message", [
    (["train", "--epochs", "three"], "argument --epochs: invalid int value: 'three'"),
    (["train", "--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
    (["train", "--model", "mamba"], "argument --model: invalid choice: 'mamba'"),
    (["train", "--hidden_size", "8"], "unrecognized arguments: --hidden_size"),
])
def test_ill_typed_flags_are_usage_errors_with_exit_code_2(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.startswith("usage: jumok")


@pytest.mark.parametrize("argv, message", [
    (["--beam", "0"], "need --beam >= 1 and 1 <= --nbest <= --beam; got beam 0, nbest 1"),
    (["--beam", "2", "--nbest", "3"], "need --beam >= 1 and 1 <= --nbest <= --beam; got beam 2, nbest 3"),
    (["--batch-size", "0"], "--batch-size must be at least 1; got 0"),
    (["--length-penalty", "-0.5"], "need --length-penalty to be a number >= 0; got -0.5"),
    (["--length-penalty", "nan"], "need --length-penalty to be a number >= 0; got nan"),
])
def test_bad_predict_settings(run_dir, capsys, argv, message):
    assert main(["predict", str(run_dir), *argv, "abc"]) == 1
    assert error_line(capsys) == message


# ---------------------------------------------------------------------------------------
# A run directory from another version of jumok
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["predict", "{run}", "abc"], ["train", "--resume", "{run}", "--quiet"],
                                     ["evaluate", "{run}", "--data", "{data}"]],
                         ids=["predict", "resume", "evaluate"])
def test_run_directory_of_a_newer_format_is_refused(run_dir, tmp_path, capsys, command):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    config["format_version"] = 99
    (copy / "config.json").write_text(json.dumps(config))
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    data = write(tmp_path / "test.tsv", GOOD)
    argv = [arg.format(run=copy, data=data) for arg in command]
    assert main(argv) == 1
    assert error_line(capsys) == (f"{copy / 'config.json'}: run directory format version 99, but this jumok "
                                  "reads only version 1; it was written by a newer jumok")
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before  # nothing rewritten
