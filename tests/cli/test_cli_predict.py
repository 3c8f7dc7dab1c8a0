"""`jumok predict`: tokenisation by the run's config, streaming stdin without deadlock,
errors that name the input, --unk; and the run-directory errors every command shares."""

import io
import json
import os
import re
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from checks import REPO, UPPERCASE_TRAIN, train_flags

from jumok.cli import main
from jumok.cli.common import line_batches
from jumok.config import Config
from jumok.data.tsv import write_tsv
from jumok.data.vocab import Vocab
from jumok.errors import JumokError
from jumok.models import build_model
from jumok.rundir import PARAMS, save_params, save_setup

ANSWER_TIMEOUT = 60  # seconds to wait for one streamed answer before calling it a deadlock
SRC = str(REPO / "src")


def build_untrained_run(run_dir, source_vocab, target_vocab, **changes):
    """A run directory with an untrained (seeded) model: enough to test the plumbing.

    Seed 1 happens to give non-empty outputs for the word inputs used here."""
    config = Config(task="tsv", data="train.tsv", embed_size=4, hidden_size=8, max_output_length=5, **changes)
    src_vocab, tgt_vocab = Vocab(source_vocab), Vocab(target_vocab)
    model = build_model(config, len(src_vocab), len(tgt_vocab), np.random.default_rng(1))
    save_setup(run_dir, config, src_vocab, tgt_vocab)
    save_params(Path(run_dir) / PARAMS, model)
    return Path(run_dir)


@pytest.fixture(scope="module")
def char_run(uppercase_run):
    """A tiny trained char-level run: lower-case a..f words to upper case."""
    return uppercase_run(1, UPPERCASE_TRAIN)


@pytest.fixture(scope="module")
def word_run(tmp_path_factory):
    """An untrained run whose sources and targets are whitespace-separated words."""
    return build_untrained_run(tmp_path_factory.mktemp("words") / "run", ["one", "two", "three"],
                               ["uno", "dos", "tres"], source_tokens="space", target_tokens="space")


def predict(run_dir, *argv, stdin=None, monkeypatch=None):
    """(exit code) of `jumok predict RUN_DIR ARGV...`, stdin from a string if given."""
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(["predict", str(run_dir), *argv])


# ---------------------------------------------------------------------------------------
# Streaming
# ---------------------------------------------------------------------------------------


def test_stdin_answers_each_line_before_the_next_is_written(char_run, capsys):
    """A consumer that writes one line and waits for its answer must not deadlock."""
    inputs = ["abc", "fed", "ab", "fffa"]
    assert predict(char_run, *inputs) == 0
    expected = capsys.readouterr().out.splitlines()
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen([sys.executable, "-m", "jumok", "predict", str(char_run)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, env=env)
    try:
        answers = []
        for text in inputs:
            process.stdin.write(text + "\n")
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], ANSWER_TIMEOUT)
            assert ready, f"no answer to {text!r} within {ANSWER_TIMEOUT} s: predict waits for more input"
            answers.append(process.stdout.readline().rstrip("\n"))
        process.stdin.close()
        assert process.wait(timeout=ANSWER_TIMEOUT) == 0, process.stderr.read()
    finally:
        process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            stream.close()
    assert answers == expected


def test_line_batches_hold_only_lines_already_written():
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb", buffering=0) as reader:
        batches = line_batches(reader, max_lines=2)
        os.write(write_fd, b"a\nb\r\nc\n")
        assert next(batches) == [(1, "a"), (2, "b")]  # capped at max_lines
        assert next(batches) == [(3, "c")]  # what is left; does not wait for more
        os.write(write_fd, b"d\ne")  # "e" is not a complete line yet
        assert next(batches) == [(4, "d")]
        os.write(write_fd, "é\n".encode())
        assert next(batches) == [(5, "eé")]
        os.write(write_fd, b"last line without newline")
        os.close(write_fd)
        assert next(batches) == [(6, "last line without newline")]
        assert next(batches, None) is None


def test_line_batches_name_a_line_of_invalid_utf8():
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"\xef\xbb\xbfok\n\xff\n")  # BOM, one good line, one bad
    os.close(write_fd)
    with os.fdopen(read_fd, "rb", buffering=0) as reader:
        batches = line_batches(reader, max_lines=8)
        assert next(batches) == [(1, "ok")]  # the good line is answered first
        with pytest.raises(JumokError, match="stdin line 2: invalid UTF-8"):
            next(batches)


def test_line_batches_fall_back_to_readline_without_a_file_descriptor():
    assert list(line_batches(io.StringIO("a\r\nb\n"), max_lines=10)) == [[(1, "a")], [(2, "b")]]


def test_batch_size_must_be_positive(char_run, capsys, monkeypatch):
    assert predict(char_run, "--batch-size", "0", stdin="abc\n", monkeypatch=monkeypatch) == 1
    assert "--batch-size" in capsys.readouterr().err


def test_a_reader_that_goes_away_stops_predict_quietly(char_run, tmp_path):
    (tmp_path / "many.txt").write_text("abc\n" * 3000)
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(tmp_path / "many.txt") as source:
        process = subprocess.Popen([sys.executable, "-m", "jumok", "predict", str(char_run), "--batch-size", "64"],
                                   stdin=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        process.stdout.readline()
        process.stdout.close()  # like `| head -1`
        _, err = process.communicate(timeout=ANSWER_TIMEOUT)
    assert process.returncode == 0 and b"Traceback" not in err, err.decode()


# ---------------------------------------------------------------------------------------
# Inputs that cannot be translated
# ---------------------------------------------------------------------------------------


def test_unseen_character_names_the_argument(char_run, capsys):
    assert predict(char_run, "abc", "abz") == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1  # the good input before it was answered
    err = captured.err.strip()
    assert err.startswith("jumok: error: argument 2 'abz'") and "'z'" in err and "--unk" in err
    assert len(err.splitlines()) == 1


def test_unseen_character_names_the_stdin_line(char_run, capsys, monkeypatch):
    assert predict(char_run, stdin="abc\nfed\nxyz\nabc\n", monkeypatch=monkeypatch) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert "stdin line 3 'xyz'" in captured.err and "'x' 'y' 'z'" in captured.err


def test_unk_maps_unseen_tokens_and_says_how_many_lines_had_them(char_run, capsys, monkeypatch):
    assert predict(char_run, "--unk", stdin="abz\nabc\nzz\n", monkeypatch=monkeypatch) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 3
    assert "2 input lines had tokens never seen in training, mapped to <unk>: 'z'" in captured.err


def test_empty_line_is_refused_with_its_number(char_run, capsys, monkeypatch):
    assert predict(char_run, stdin="abc\n\nfed\n", monkeypatch=monkeypatch) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1
    assert captured.err.strip() == "jumok: error: stdin line 2 is empty: there is nothing to translate"


# ---------------------------------------------------------------------------------------
# Tokenisation by the run's config
# ---------------------------------------------------------------------------------------


def test_space_tokens_split_inputs_at_whitespace_and_join_outputs_with_spaces(word_run, capsys):
    assert predict(word_run, "one two", "  three\tone  ") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all(lines), "the untrained model should give some output here"
    for line in lines:
        assert line == " ".join(line.split())  # single spaces between tokens
        assert set(line.split()) <= {"uno", "dos", "tres", "<unk>"}


def test_space_tokens_name_unseen_words_and_refuse_blank_lines(word_run, capsys, monkeypatch):
    assert predict(word_run, "one four") == 1
    assert "'four'" in capsys.readouterr().err
    assert predict(word_run, stdin="one\n   \n", monkeypatch=monkeypatch) == 1
    assert "stdin line 2 is only whitespace" in capsys.readouterr().err


def test_space_tokens_nbest_prints_scored_lists(word_run, capsys):
    assert predict(word_run, "--beam", "3", "--nbest", "2", "one two", "three") == 0
    blocks = [b for b in capsys.readouterr().out.split("\n\n") if b.strip()]
    assert len(blocks) == 2
    for block in blocks:
        for line in block.strip("\n").splitlines():
            output, score = line.split("\t")
            assert set(output.split()) <= {"uno", "dos", "tres", "<unk>"} and float(score) <= 0


# ---------------------------------------------------------------------------------------
# Run-directory errors, the same for every command that loads a run
# ---------------------------------------------------------------------------------------


def load_command(command, run_dir, tmp_path):
    """argv of `command` on `run_dir` with valid other arguments."""
    if command == "evaluate":
        write_tsv(tmp_path / "eval.tsv", [("abc", "ABC")])
        return ["evaluate", str(run_dir), "--data", str(tmp_path / "eval.tsv")]
    if command == "attention":
        return ["attention", str(run_dir), "abc", "--out", str(tmp_path / "a.png")]
    return ["predict", str(run_dir), "abc"]


def copy_run(run_dir, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in Path(run_dir).iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(path.read_bytes())
    return copy


def one_error_line(capsys):
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("jumok: error: ")
    return err.strip()


@pytest.mark.parametrize("command", ["predict", "evaluate", "attention"])
def test_missing_run_directory(command, tmp_path, capsys):
    assert main(load_command(command, tmp_path / "nope", tmp_path)) == 1
    assert one_error_line(capsys) == f"jumok: error: {tmp_path / 'nope'}: no such run directory"


@pytest.mark.parametrize("missing", ["params.npz", "config.json", "vocab.json"])
def test_incomplete_run_directory_names_the_missing_file(char_run, tmp_path, capsys, missing):
    run_dir = copy_run(char_run, tmp_path)
    (run_dir / missing).unlink()
    assert main(load_command("predict", run_dir, tmp_path)) == 1
    err = one_error_line(capsys)
    assert str(run_dir) in err and f"missing {missing}" in err


@pytest.mark.parametrize("command", ["predict", "evaluate", "attention"])
def test_config_that_does_not_fit_the_parameters(command, char_run, tmp_path, capsys):
    run_dir = copy_run(char_run, tmp_path)
    config = json.loads((run_dir / "config.json").read_text())
    config["hidden_size"] = 24
    (run_dir / "config.json").write_text(json.dumps(config))
    assert main(load_command(command, run_dir, tmp_path)) == 1
    err = one_error_line(capsys)
    assert f"{run_dir / 'params.npz'}: does not match" in err and "hidden_size 24" in err
    assert "parameter 'encoder.lstm.fwd.Wx' has shape (8, 32), the model needs (8, 48)" in err


def test_a_transformers_config_that_does_not_fit_its_parameters(uppercase_run, tmp_path, capsys):
    """The message names the settings that decide a Transformer's shapes."""
    run_dir = copy_run(uppercase_run(1, train_flags("transformer", UPPERCASE_TRAIN)), tmp_path)
    capsys.readouterr()  # what training it said, if it trained here
    config = json.loads((run_dir / "config.json").read_text())
    config["hidden_size"] = 24
    (run_dir / "config.json").write_text(json.dumps(config))
    assert main(load_command("predict", run_dir, tmp_path)) == 1
    err = one_error_line(capsys)
    assert f"{run_dir / 'params.npz'}: does not match" in err
    assert "(model transformer, hidden_size 24, heads 2, ff_size 32, layers 1, vocabularies " in err
    assert re.search(r"parameter 'src_embed.W' has shape \(\d+, 16\), the model needs \(\d+, 24\)", err), err


def test_vocabulary_that_does_not_fit_the_parameters(char_run, tmp_path, capsys):
    run_dir = copy_run(char_run, tmp_path)
    vocabs = json.loads((run_dir / "vocab.json").read_text())
    vocabs["target"]["tokens"].append("Q")
    (run_dir / "vocab.json").write_text(json.dumps(vocabs))
    assert main(load_command("predict", run_dir, tmp_path)) == 1
    err = one_error_line(capsys)
    assert "params.npz" in err and "vocab.json" in err and "parameter 'decoder." in err


@pytest.mark.parametrize("keep", [0, 100, "half"])
def test_truncated_params_file(char_run, tmp_path, capsys, keep):
    run_dir = copy_run(char_run, tmp_path)
    data = (run_dir / "params.npz").read_bytes()
    (run_dir / "params.npz").write_bytes(data[: len(data) // 2 if keep == "half" else keep])
    assert main(load_command("predict", run_dir, tmp_path)) == 1
    err = one_error_line(capsys)
    assert f"{run_dir / 'params.npz'}: cannot read it" in err and "truncated or corrupt" in err


def test_pickled_object_array_is_refused(char_run, tmp_path, capsys):
    run_dir = copy_run(char_run, tmp_path)
    with np.load(run_dir / "params.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["encoder.embed.W"] = np.array([{"run": "code"}], dtype=object)
    np.savez(run_dir / "params.npz", **arrays)
    assert main(load_command("predict", run_dir, tmp_path)) == 1
    err = one_error_line(capsys)
    assert "'encoder.embed.W' is a pickled object array" in err and "allow_pickle=False" in err


def test_run_directory_that_is_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["predict", str(tmp_path / "file"), "abc"]) == 1
    assert "is a file, expected a run directory" in one_error_line(capsys)
