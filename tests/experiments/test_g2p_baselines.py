"""experiments/g2p_baselines.py: its pure parts (no Phonetisaurus needed), and the real tool
end to end on a tiny lexicon when its virtual environment is there (skipped otherwise)."""

import math
import os
from pathlib import Path

import pytest
from checks import REPO

ROOT = REPO

from experiments.g2p_baselines import (  # noqa: E402
    decode, escape, lexicon_lines, parse_apply_output, score_predictions, train, unescape, word_list)

PAIRS = [("cat", "K AE T"), ("read", "R IY D"), ("read", "R EH D"), ("tab", "T AE B"), ("act", "AE K T")]


def test_lexicon_lines_are_word_tab_phones():
    assert lexicon_lines(PAIRS[:2]) == ["cat\tK AE T\n", "read\tR IY D\n"]


def test_reserved_characters_are_escaped_and_restored():
    lines = lexicon_lines([("a_b|c}", "X_Y Z|")])
    assert not any(c in line for line in lines for c in "}|_")
    word, phones = lines[0].rstrip("\n").split("\t")
    assert unescape(word) == "a_b|c}" and [unescape(p) for p in phones.split()] == ["X_Y", "Z|"]
    assert escape("don't") == "don't"  # the apostrophe is an ordinary grapheme
    assert parse_apply_output(lines[0]) == {"a_b|c}": ["X_Y", "Z|"]}


def test_lexicon_refuses_words_phonetisaurus_cannot_read():
    for word in ("", "new york", "tab\tbed"):
        with pytest.raises(ValueError, match="non-empty without spaces"):
            lexicon_lines([(word, "N UW")])


def test_word_list_keeps_first_appearance_once():
    assert word_list(PAIRS) == ["cat", "read", "tab", "act"]


def test_parse_apply_output_plain_verbose_and_nbest():
    text = "cat\tK AE T\nread\t12.5\tR IY D\nread\t13.0\tR EH D\n\nbroken\n"
    assert parse_apply_output(text) == {"cat": ["K", "AE", "T"], "read": ["R", "IY", "D"]}


def test_scoring_is_jumoks_multi_reference_score():
    # cat right; read right against its second reference; tab one substitution (B → P);
    # act missing: the empty prediction, wrong with all 3 phones counted as errors.
    predictions = {"cat": ["K", "AE", "T"], "read": ["R", "EH", "D"], "tab": ["T", "AE", "P"]}
    result = score_predictions(PAIRS, predictions)
    assert result["n"] == 4 and result["pairs"] == 5 and result["missing"] == 1
    assert result["wer"] == pytest.approx(0.5) and result["exact_match"] == pytest.approx(0.5)
    assert result["per"] == pytest.approx((0 + 0 + 1 + 3) / (3 + 3 + 3 + 3))
    assert result["wer_standard_error"] == pytest.approx(math.sqrt(0.5 * 0.5 / 4))


def test_scoring_everything_right():
    predictions = {word: phones.split() for word, phones in PAIRS}
    result = score_predictions(PAIRS, predictions)
    assert result["wer"] == 0 and result["per"] == 0 and result["wer_standard_error"] == 0 and result["missing"] == 0


def phonetisaurus_bin():
    venv = Path(os.environ.get("JUMOK_PHONETISAURUS_VENV", ROOT / ".venv-phonetisaurus"))
    bin_dir = venv / "bin"
    if not (bin_dir / "phonetisaurus-train").exists() or not (bin_dir / "phonetisaurus-apply").exists():
        pytest.skip(f"Phonetisaurus not installed: no phonetisaurus-train/-apply in {bin_dir} (create it with "
                    "`python -m experiments.g2p_baselines --install`, or set JUMOK_PHONETISAURUS_VENV)")
    return bin_dir


def test_phonetisaurus_end_to_end_on_a_tiny_lexicon(tmp_path):
    bin_dir = phonetisaurus_bin()
    lexicon = [("cat", "K AE T"), ("bat", "B AE T"), ("cab", "K AE B"), ("tab", "T AE B"), ("act", "AE K T"),
               ("bad", "B AE D"), ("dab", "D AE B")]
    (tmp_path / "train.tsv").write_text("".join(lexicon_lines(lexicon)))
    (tmp_path / "words.txt").write_text("cat\nbat\nzzz\n")  # z was never seen: no pronunciation
    trained = train(tmp_path, 3, bin_dir)
    assert (tmp_path / "o3" / "model.fst").exists() and not trained["cached"]
    assert train(tmp_path, 3, bin_dir)["cached"]  # a second call reuses the model
    predictions, seconds, _, _ = decode(tmp_path, 3, "words.txt", bin_dir)
    assert predictions["cat"] == ["K", "AE", "T"] and predictions["bat"] == ["B", "AE", "T"]
    assert "zzz" not in predictions and seconds >= 0
    result = score_predictions([("cat", "K AE T"), ("bat", "B AE T"), ("zzz", "Z IY")], predictions)
    assert result["missing"] == 1 and result["wer"] == pytest.approx(1 / 3)
