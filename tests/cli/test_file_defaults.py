"""How a user's file trains at the defaults (the tsv task's own settings, `FILE_DEFAULTS`):
until validation stops improving, from unit-variance embeddings and uniform LSTM weights;
the built-in tasks keep the `Config` defaults, and the old values stay a flag away."""

import json

import numpy as np
import pytest

from jumok.cli import build_parser, main
from jumok.cli.train import settings_from_args
from jumok.config import Config
from jumok.data.prepare import auto_batch_size
from jumok.data.tasks import FILE_DEFAULTS
from jumok.errors import ConfigError
from jumok.data.tsv import write_tsv
from jumok.models import build_model
from jumok.rundir.state import Progress
from jumok.schedule import next_lr


@pytest.fixture(scope="module")
def uppercase_tsv(tmp_path_factory):
    rng = np.random.default_rng(3)
    words = sorted({"".join(rng.choice(list("abcdef"), rng.integers(2, 6))) for _ in range(400)})
    path = tmp_path_factory.mktemp("defaults") / "train.tsv"
    write_tsv(path, [(w, w.upper()) for w in words])
    return path


def train_config(*argv):
    return settings_from_args(build_parser().parse_args(["train", *argv]))[0]


def test_a_file_gets_the_file_defaults_and_a_built_in_task_the_config_defaults(tmp_path):
    config = train_config("--data", "train.tsv")
    assert (config.epochs, config.patience, config.embed_scale, config.lstm_init) == (100, 3, 1.0, "uniform")
    assert {key: getattr(config, key) for key in FILE_DEFAULTS} == FILE_DEFAULTS
    assert train_config() == Config()  # the built-in dates: three epochs, the chapter's 0.01
    assert (Config().epochs, Config().patience, Config().embed_scale, Config().lstm_init) == (3, 0, 0.01, "chapter")
    path = tmp_path / "run.toml"
    path.write_text('[data]\ndata = "train.tsv"\n')
    assert train_config(str(path)).patience == 3  # a config file's data is a user's file too


def test_the_old_values_are_a_flag_away():
    config = train_config("--data", "train.tsv", "--epochs", "3", "--patience", "0", "--embed-scale", "0.01",
                          "--lstm-init", "chapter")
    assert (config.epochs, config.patience, config.embed_scale, config.lstm_init) == (3, 0, 0.01, "chapter")


def test_embed_scale_sets_the_embeddings_standard_deviation():
    for scale in (0.01, 1.0):
        model = build_model(Config(embed_scale=scale, embed_size=32), 40, 30, np.random.default_rng(0))
        for side in (model.encoder, model.decoder):
            assert abs(side.embed.params["W"].std() / scale - 1) < 0.1


def record(epoch, exact_match, token_error_rate):
    return {"epoch": epoch, "valid_exact_match": exact_match, "valid_token_error_rate": token_error_rate}


def test_patience_counts_only_epochs_that_improve_neither_score():
    progress = Progress()
    for epoch, token_error in enumerate((0.9, 0.8, 0.7, 0.6), start=1):  # 0 % exact match, still learning
        progress.record(record(epoch, 0.0, token_error))
        assert progress.bad_epochs == 0
    assert not progress.record(record(5, 0.0, 0.65))
    assert progress.bad_epochs == 1
    progress.record(record(6, 0.1, 0.7))  # a better exact match with more token errors still counts
    assert progress.bad_epochs == 0 and progress.best["epoch"] == 6
    assert not progress.record(record(7, 0.05, 0.55))  # not the best, but fewer token errors than ever
    assert progress.bad_epochs == 0 and progress.lr_bad_epochs == 1 and progress.best["epoch"] == 6
    progress.record(record(8, 0.05, 0.55))
    progress.record(record(9, 0.0, 0.9))
    assert progress.bad_epochs == 2 and progress.lowest_token_error_rate == 0.55


def test_a_file_trains_until_validation_stops_improving(tmp_path, uppercase_tsv, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(uppercase_tsv), "--hidden-size", "16", "--embed-size", "8",
                 "--batch-size", "16", "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    chosen = {key: value for key, value in FILE_DEFAULTS.items() if key != "batch_size"}  # given: 16
    assert {key: config[key] for key in chosen} == chosen  # every chosen value recorded
    history = json.loads((out / "history.json").read_text())
    assert 3 < len(history) < 100 and "stopping early: no improvement for 3 epochs" in capsys.readouterr().err
    before = history[:-3]
    for entry in history[-3:]:  # the three epochs that stopped it improved neither score
        assert entry["valid_exact_match"] <= max(e["valid_exact_match"] for e in before)
        assert entry["valid_token_error_rate"] >= min(e["valid_token_error_rate"] for e in before)


def test_a_run_that_ends_still_improving_says_so(tmp_path, uppercase_tsv, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(uppercase_tsv), "--hidden-size", "16", "--embed-size", "8",
                 "--batch-size", "16", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().err
    assert f"note: validation still improved in epoch 1, the last; more epochs may help (jumok train --resume " \
           f"{out} --epochs 2)" in printed


def scored(epoch, exact_match, token_error_rate, loss):
    return {**record(epoch, exact_match, token_error_rate), "valid_loss": loss}


def test_a_falling_validation_loss_is_progress_until_every_pair_is_right():
    progress = Progress()
    progress.record(scored(1, 0.9, 0.1, 0.50))
    progress.record(scored(2, 0.9, 0.1, 0.40))  # same scores, loss 20 % lower: still learning
    assert progress.bad_epochs == 0
    progress.record(scored(3, 0.9, 0.1, 0.399))  # 0.25 % lower: creeping, not progress
    assert progress.bad_epochs == 1
    progress.record(scored(4, 1.0, 0.0, 0.30))
    progress.record(scored(5, 1.0, 0.0, 0.10))  # every pair right: a lower loss no longer counts
    assert progress.bad_epochs == 1 and progress.lowest_valid_loss == 0.10


def test_the_stall_schedule_decays_every_lr_patience_epochs_without_progress():
    config = Config(lr_schedule="stall", lr_decay=0.5, lr_patience=2)
    progress, rates = Progress(), []
    for epoch, loss in enumerate((0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.5), start=1):
        progress.record(scored(epoch, 0.0, 0.5, loss))  # exact match and token errors never move
        rates.append(next_lr(progress.history, 1.0 if not rates else rates[-1], config))
    assert rates == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]  # stalled after epochs 3–4 and 5–6; epoch 7 learns


def test_auto_batches_give_a_small_file_enough_steps():
    assert [auto_batch_size(n) for n in (10, 1000, 3000, 5000, 8191, 8192, 45_000)] == [8, 8, 32, 64, 64, 128, 128]
    assert train_config("--data", "train.tsv").batch_size == 0  # auto, resolved when the file is read
    assert train_config("--data", "train.tsv", "--batch-size", "auto").batch_size == 0
    with pytest.raises(ConfigError, match="batch_size must be a number of pairs, or 0 for auto; got -1"):
        Config(batch_size=-1)


def test_an_auto_batch_is_recorded_as_the_number_it_became(tmp_path, uppercase_tsv):
    out = tmp_path / "run"
    assert main(["train", "--data", str(uppercase_tsv), "--hidden-size", "16", "--embed-size", "8",
                 "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    pairs = len(uppercase_tsv.read_text().splitlines()) - round(0.1 * len(uppercase_tsv.read_text().splitlines()))
    assert config["batch_size"] == auto_batch_size(pairs) == 8  # ~340 training pairs
