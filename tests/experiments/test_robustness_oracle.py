"""The robustness suite's PyTorch oracle (experiments/robustness_oracle.py) on tiny files:
its records, its stopping rule, the settings it follows. Skipped when PyTorch is not installed."""

import dataclasses
import json

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (the oracle needs it)")

from experiments.robustness import summarize  # noqa: E402
from experiments.robustness_oracle import jumok_config, parse_args, run_one  # noqa: E402
from experiments.robustness_tasks import TASKS  # noqa: E402

TINY = {"embed_size": 4, "hidden_size": 8, "batch_size": 4}
WORDS = ("zero", "one", "two", "three")


@pytest.fixture
def data_dir(tmp_path):
    """digits-words files of a dozen pairs; the valid file repeats a source (two references)."""
    folder = tmp_path / "data" / "digits-words"
    folder.mkdir(parents=True)
    pairs = [(d, " ".join(WORDS[int(c)] for c in d)) for d in ("0", "1", "2", "3", "01", "12", "23", "30", "102",
                                                                "213", "3210", "22")]
    (folder / "train.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs))
    (folder / "valid.tsv").write_text("10\tone zero\n10\tone oh\n321\tthree two one\n")
    return tmp_path / "data"


def args_for(tmp_path, data_dir, *extra):
    return parse_args(["--data-dir", str(data_dir), "--results", str(tmp_path / "results"), *extra])


def test_record_has_robustness_fields(tmp_path, data_dir):
    args = args_for(tmp_path, data_dir, "--epochs", "2")
    record = run_one(TASKS["digits-words"], "full", "torch-defaults", 0, args, TINY)
    path = tmp_path / "results" / "full" / "digits-words.torch-defaults.seed0.json"
    assert json.loads(path.read_text()) == record
    for key in ("task", "tier", "settings", "seed", "target", "command", "data", "commit", "host", "date",
                "stopped_at_target", "history"):
        assert key in record
    assert set(record["data"]) == {"train", "valid", "train_sha256", "valid_sha256"}
    assert (record["task"], record["tier"], record["settings"], record["seed"]) == ("digits-words", "full",
                                                                                      "torch-defaults", 0)
    assert [e["epoch"] for e in record["history"]] == [1, 2]
    for entry in record["history"]:
        assert set(entry) == {"epoch", "train_loss", "valid_exact_match", "valid_token_error_rate", "valid_loss",
                              "seconds", "eval_seconds", "lr"}
        assert 0 <= entry["valid_exact_match"] <= 1 and entry["train_loss"] > 0
    assert record["history"][0]["lr"] == 3e-3
    assert {k: record[k] for k in summarize(record["history"], 1.0)} == summarize(record["history"], 1.0)
    assert record["stopped_at_target"] is False
    assert run_one(TASKS["digits-words"], "full", "torch-defaults", 0, args, TINY) == record  # skipped: kept


def test_until_target_stops_after_the_first_epoch_at_it(tmp_path, data_dir):
    easy = dataclasses.replace(TASKS["digits-words"], target=0.0)  # every epoch reaches it
    args = args_for(tmp_path, data_dir, "--epochs", "3", "--until-target")
    record = run_one(easy, "full", "torch-chapter", 1, args, TINY)
    assert record["stopped_at_target"] is True and len(record["history"]) == 1
    assert record["reached"] and record["epoch_to_target"] == 1
    assert "--until-target" in record["command"]


def test_the_settings_are_jumoks_command_lines(data_dir):
    train, valid = data_dir / "digits-words" / "train.tsv", data_dir / "digits-words" / "valid.tsv"
    chapter = jumok_config(TASKS["digits-words"], train, valid, "torch-chapter")
    assert (chapter.reverse, chapter.lr, chapter.lr_decay, chapter.epochs, chapter.patience) == (True, 1e-3, 1, 3, 0)
    defaults = jumok_config(TASKS["digits-words"], train, valid, "torch-defaults")
    assert (defaults.reverse, defaults.lr, defaults.epochs, defaults.patience) == (False, 3e-3, 100, 3)
    assert (defaults.lr_schedule, defaults.bidirectional) == ("stall", True)
    assert (defaults.target_tokens, defaults.batch_size, defaults.clip) == ("space", 0, 5.0)  # auto: prepare resolves it


def test_the_transformer_oracle_follows_jumoks_transformer(tmp_path, data_dir):
    train, valid = data_dir / "digits-words" / "train.tsv", data_dir / "digits-words" / "valid.tsv"
    config = jumok_config(TASKS["digits-words"], train, valid, "torch-transformer")
    assert (config.model, config.hidden_size, config.heads, config.layers) == ("transformer", 64, 4, 2)
    assert (config.lr, config.warmup_steps, config.beta2, config.dropout) == (3e-3, 300, 0.98, 0.1)
    args = args_for(tmp_path, data_dir, "--epochs", "2")
    tiny = {"hidden_size": 8, "heads": 2, "batch_size": 4, "warmup_steps": 4}
    record = run_one(TASKS["digits-words"], "full", "torch-transformer", 0, args, tiny)
    assert [e["epoch"] for e in record["history"]] == [1, 2] and record["history"][0]["train_loss"] > 0
    assert record["changes"] == tiny


def test_a_run_stops_when_validation_stops_improving(tmp_path, data_dir):
    args = args_for(tmp_path, data_dir)  # the defaults' own epochs (100) and patience (3)
    history = run_one(TASKS["digits-words"], "full", "torch-defaults", 2, args, TINY)["history"]
    assert 3 < len(history) < 100
    before = history[:-3]
    for entry in history[-3:]:  # neither score improved in the last three epochs
        assert entry["valid_exact_match"] <= max(e["valid_exact_match"] for e in before)
        assert entry["valid_token_error_rate"] >= min(e["valid_token_error_rate"] for e in before)
    rates = [e["lr"] for e in history]
    assert rates[0] == 3e-3 and rates[-1] < rates[0]  # halved on the plateau
