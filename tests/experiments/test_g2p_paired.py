"""The paired G2P comparison: McNemar's exact p-value and the paired standard error, against
values worked out by hand, and the errors file read back into wrong words."""

import json
import math

import pytest

import experiments.g2p_paired as g2p_paired
from experiments.g2p_paired import mcnemar_exact, paired, wrong_words


@pytest.mark.parametrize("b, c, p", [
    (1, 9, 2 * (1 + 10) / 2 ** 10),  # C(10, 0) + C(10, 1) on the smaller side, doubled
    (9, 1, 2 * (1 + 10) / 2 ** 10),
    (0, 5, 2 / 2 ** 5),
    (5, 5, 1.0),  # even: the doubled tail passes 1
    (0, 0, 1.0),
])
def test_mcnemar_exact_against_hand_values(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-12)


def test_paired_counts_only_the_words_one_system_gets_right():
    jumok = [True, True, True, False, False, True]
    other = [True, False, False, True, False, False]
    result = paired(jumok, other)
    assert (result["jumok_only_right"], result["other_only_right"]) == (3, 1)
    assert result["jumok_wer"] == pytest.approx(2 / 6) and result["other_wer"] == pytest.approx(4 / 6)
    d = (1 - 3) / 6  # per word d_i = wrong_jumok − wrong_other ∈ {−1, 0, 1}: three −1, one +1
    variance = (3 * (-1 - d) ** 2 + 1 * (1 - d) ** 2 + 2 * (0 - d) ** 2) / 6
    assert result["wer_difference"] == pytest.approx(d)
    assert result["wer_difference_standard_error"] == pytest.approx(math.sqrt(variance / 6))
    assert result["mcnemar_p"] == pytest.approx(2 * (1 + 4) / 2 ** 4)


def test_wrong_words_come_from_the_first_column_and_unknown_words_are_refused(tmp_path):
    errors = tmp_path / "wrong.tsv"
    errors.write_text("knight\tN AY T\tK N AY T\nknight\tN AY T T\tK N AY T\nrough\tR AH F\tR AW\n")
    assert wrong_words(errors, ["knight", "rough", "island"]) == {"knight", "rough"}
    with pytest.raises(SystemExit, match="line 3: 'rough' is not a word"):
        wrong_words(errors, ["knight", "island"])


def test_two_jumok_models_compare_by_their_errors_files(tmp_path, monkeypatch, capsys):
    """--other-errors takes another jumok model's wrong words in place of Phonetisaurus's
    predictions; the record names the file it read."""
    split = [("knight", "N AY T"), ("rough", "R AH F"), ("island", "AY L AH N D"), ("gnome", "N OW M")]
    monkeypatch.setattr(g2p_paired, "g2p_splits", lambda log: {"test": split})
    mine, theirs = tmp_path / "mine.tsv", tmp_path / "theirs.tsv"
    mine.write_text("rough\tR AH F\tR AW\n")
    theirs.write_text("knight\tN AY T\tK N AY T\nisland\tAY L AH N D\tIH S L AE N D\n")
    out = tmp_path / "paired.json"
    g2p_paired.main(["--jumok-errors", str(mine), "--other-errors", str(theirs), "--out", str(out)])
    assert "WER jumok 25.00 %, the other 50.00 %; difference -25.00 points" in capsys.readouterr().out
    record = json.loads(out.read_text())
    assert (record["jumok_only_right"], record["other_only_right"], record["other_errors"]) == (2, 1, str(theirs))
    assert "phonetisaurus" not in record
