"""`jumok attention`, with a run of every model with attention: one heatmap of one
prediction, its labels and title, where it goes, and the errors (no attention, unseen
tokens, an unknown image format)."""

import json
from pathlib import Path

import numpy as np
import pytest
from checks import UPPERCASE_TRAIN, train_flags, untrained_run, with_attention

from jumok import viz
from jumok.cli import main
from jumok.cli.attention import default_path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module", params=with_attention())
def char_run(uppercase_run, request):
    """A tiny trained char-level run of each model with attention: lower-case a..f words to
    upper case. Drawn: its map, or the mean of its cross maps (the Transformer's heads)."""
    return uppercase_run(3, train_flags(request.param, UPPERCASE_TRAIN))


@pytest.fixture
def drawn(monkeypatch):
    """Record the arguments of viz.attention_figure (and still draw)."""
    calls = []
    real = viz.attention_figure

    def record(weights, source_tokens, output_tokens, title=None):
        calls.append({"weights": weights, "source": list(source_tokens), "output": list(output_tokens),
                      "title": title})
        return real(weights, source_tokens, output_tokens, title=title)

    monkeypatch.setattr(viz, "attention_figure", record)
    return calls


def test_default_image_goes_to_the_current_directory(char_run, tmp_path, monkeypatch, capsys, drawn):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in char_run.iterdir())
    assert main(["attention", str(char_run), "fab"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "attention-fab.png"
    assert (tmp_path / "attention-fab.png").read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in char_run.iterdir()) == before  # the run directory is left alone
    (call,) = drawn
    output = call["output"]
    assert call["source"] == ["f", "a", "b"]
    assert call["weights"].shape == (len(output), 3)
    np.testing.assert_allclose(call["weights"].sum(axis=1), 1.0, atol=1e-5)
    text = "".join(t for t in output if t != "</s>")
    assert call["title"] == f"fab → {text}"
    assert captured.err.strip() == f"fab → {text}"


def test_output_axis_ends_with_the_end_token(char_run, tmp_path, drawn, capsys):
    assert main(["attention", str(char_run), "abc", "--out", str(tmp_path / "abc.png")]) == 0
    output = drawn[0]["output"]
    assert "</s>" not in output[:-1]
    limit = json.loads((char_run / "config.json").read_text())["max_output_length"]
    if len(output) < limit:  # stopped before the length limit, so it produced the end token
        assert output[-1] == "</s>"


def test_out_and_beam(char_run, tmp_path, capsys, drawn):
    out = tmp_path / "deep" / "map.svg"
    assert main(["attention", str(char_run), "abcd", "--beam", "3", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_text().lstrip().startswith("<?xml")
    assert drawn[0]["title"].endswith("(beam 3)")


def test_unseen_tokens_are_refused_or_drawn_as_unk(char_run, tmp_path, capsys, drawn):
    assert main(["attention", str(char_run), "abz", "--out", str(tmp_path / "z.png")]) == 1
    err = capsys.readouterr().err
    assert "'z'" in err and "--unk" in err and not (tmp_path / "z.png").exists()
    assert main(["attention", str(char_run), "abz", "--unk", "--out", str(tmp_path / "z.png")]) == 0
    assert drawn[0]["source"] == ["a", "b", "<unk>"]


def test_models_without_attention_are_refused(tmp_path, capsys):
    run_dir = untrained_run(tmp_path / "plain", model="seq2seq")
    assert main(["attention", str(run_dir), "one two", "--out", str(tmp_path / "x.png")]) == 1
    assert capsys.readouterr().err.strip().startswith("jumok: error: model seq2seq has no attention to draw")
    assert not (tmp_path / "x.png").exists()


def test_space_tokens_label_words(tmp_path, capsys, drawn):
    run_dir = untrained_run(tmp_path / "words")
    assert main(["attention", str(run_dir), "one  two three", "--out", str(tmp_path / "w.png")]) == 0
    assert drawn[0]["source"] == ["one", "two", "three"]
    output_words = [t for t in drawn[0]["output"] if t != "</s>"]
    assert drawn[0]["title"] == f"one  two three → {' '.join(output_words)}"


def test_unknown_image_format_is_refused_before_loading(tmp_path, capsys):
    assert main(["attention", str(tmp_path / "no-run"), "abc", "--out", str(tmp_path / "a.txt")]) == 1
    assert "'.txt'" in capsys.readouterr().err


def test_empty_text_is_refused(char_run, tmp_path, capsys):
    assert main(["attention", str(char_run), "", "--out", str(tmp_path / "e.png")]) == 1
    assert "TEXT is empty" in capsys.readouterr().err


@pytest.mark.parametrize("text, name", [
    ("abc", "attention-abc.png"),
    ("September 27, 1994", "attention-September_27_1994.png"),
    ("../../etc/passwd", "attention-etc_passwd.png"),
    ("???", "attention-input.png"),
    ("x" * 100, "attention-" + "x" * 40 + ".png"),
])
def test_default_path_is_a_safe_file_name(text, name):
    assert default_path(text) == Path(name)
