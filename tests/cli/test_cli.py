"""The CLI contract: train, predict and evaluate on a tiny task, every model, and clear errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
from checks import train_flags, with_attention

from jumok.cli import main
from jumok.data.tsv import write_tsv
from jumok.models import MODELS

TINY = ["--epochs", "2", "--hidden-size", "16", "--embed-size", "8", "--batch-size", "16", "--quiet"]


@pytest.fixture(scope="module", params=sorted(MODELS))
def tiny_run(uppercase_run, request):
    """A tiny upper-casing run of each MODELS entry (`checks.train_flags`)."""
    run_dir = uppercase_run(0, train_flags(request.param, TINY))
    return run_dir.parent, run_dir


def test_train_writes_the_run_directory(tiny_run):
    _, run_dir = tiny_run
    config = json.loads((run_dir / "config.json").read_text())
    for name in ("config.json", "vocab.json", "params.npz", "history.json", "curves.png"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "attention.png").is_file() == (config["model"] in with_attention())
    history = json.loads((run_dir / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    for record in history:
        assert 0.0 <= record["valid_exact_match"] <= 1.0
        assert record["seconds"] > 0 and np.isfinite(record["train_loss"])
    assert config["task"] == "tsv" and config["hidden_size"] == 16 and config["max_output_length"] > 0


def test_predict_prints_one_line_per_input(tiny_run, capsys):
    _, run_dir = tiny_run
    assert main(["predict", str(run_dir), "abc", "fed", "a"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(set(line) <= set("ABCDEF") for line in lines)


def test_predict_reads_stdin_through_python_m(tiny_run):
    _, run_dir = tiny_run
    done = subprocess.run([sys.executable, "-m", "jumok", "predict", str(run_dir)], input="abc\nde\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2


def test_evaluate_json_agrees_with_predictions(tiny_run, capsys):
    root, run_dir = tiny_run
    write_tsv(root / "test.tsv", [("abc", "ABC"), ("fed", "FED"), ("bad", "BAD")])
    assert main(["predict", str(run_dir), "abc", "fed", "bad"]) == 0
    predicted = capsys.readouterr().out.splitlines()
    assert main(["evaluate", str(run_dir), "--data", str(root / "test.tsv"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 3
    assert result["exact_match"] == pytest.approx(np.mean([p == r for p, r in zip(predicted, ["ABC", "FED", "BAD"])]))
    assert 0.0 <= result["token_error_rate"]


def test_missing_run_directory_is_one_clear_line(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nope"), "x"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"jumok: error: {tmp_path / 'nope'}: no such run directory"


def test_malformed_tsv_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("ab\tAB\nno tab here\n")
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "r"), *TINY]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:2:" in err and "tab" in err and "Traceback" not in err


def test_unknown_characters_at_predict_time_are_named(tiny_run, capsys):
    _, run_dir = tiny_run
    assert main(["predict", str(run_dir), "abz"]) == 1
    err = capsys.readouterr().err
    assert "never seen in training" in err and "'z'" in err


def test_empty_input_is_refused_clearly(tiny_run, capsys):
    _, run_dir = tiny_run
    assert main(["predict", str(run_dir), "abc", ""]) == 1
    assert "empty" in capsys.readouterr().err


def test_predict_beam_and_nbest(tiny_run, capsys):
    _, run_dir = tiny_run
    assert main(["predict", str(run_dir), "abc", "fed"]) == 0
    greedy = capsys.readouterr().out.splitlines()
    assert main(["predict", str(run_dir), "--beam", "1", "abc", "fed"]) == 0
    assert capsys.readouterr().out.splitlines() == greedy
    assert main(["predict", str(run_dir), "--beam", "3", "--nbest", "3", "abc", "fed"]) == 0
    blocks = capsys.readouterr().out.split("\n\n")
    assert len([b for b in blocks if b.strip()]) == 2
    for block in blocks[:2]:
        rows = [line.split("\t") for line in block.strip().splitlines()]
        scores = [float(score) for _, score in rows]
        assert 1 <= len(rows) <= 3 and scores == sorted(scores, reverse=True)
    assert main(["predict", str(run_dir), "--beam", "2", "--nbest", "3", "abc"]) == 1
    assert "--nbest" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "jumok", "--debug", "predict", str(tmp_path / "nope"), "x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "Traceback" in done.stderr and "CheckpointError" in done.stderr
    plain = subprocess.run([sys.executable, "-m", "jumok", "predict", str(tmp_path / "nope"), "x"],
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode == 1 and plain.stderr.count("\n") == 1 and "Traceback" not in plain.stderr
