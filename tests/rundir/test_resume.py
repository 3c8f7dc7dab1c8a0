"""Training state: resume is bit-exact (an LSTM model or a Transformer, stopped at an epoch's
end or inside one, in the warm-up too), the best checkpoint is kept, early stopping and
schedules."""

import json

import numpy as np
import pytest

from checks import ONE_OF_EACH_KIND, npz_arrays as arrays, train_flags, write_reversal_tsv
from jumok.cli import main
from jumok.config import Config, section_of
from jumok.data.tasks import load_pairs
from jumok.data.tsv import write_tsv
from jumok.errors import ConfigError
from jumok.rundir import files, load_config
from jumok.rundir.state import Progress
from jumok.schedule import next_lr, planned_epochs, step_lr

TINY = ["--hidden-size", "12", "--embed-size", "6", "--batch-size", "16", "--quiet", "--lr", "0.01"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_reversal_tsv(tmp_path_factory.mktemp("resume") / "train.tsv", 1, "abcdef", 120, (2, 6))


def assert_same_run(a, b):
    for name in ("params.npz", "last.npz"):
        x, y = arrays(a / name), arrays(b / name)
        assert x.keys() == y.keys()
        for key in x:
            if key != "meta":
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{name}:{key}")
    strip = lambda h: [{k: v for k, v in r.items() if "seconds" not in k} for r in h]  # noqa: E731
    history = [json.loads((d / "history.json").read_text()) for d in (a, b)]
    assert strip(history[0]) == strip(history[1])
    meta = [json.loads(str(arrays(d / "last.npz")["meta"])) for d in (a, b)]
    for m in meta:
        m["history"] = strip(m["history"])
    assert meta[0] == meta[1]


TRANSFORMER_SETTINGS = ["--dropout", "0.1", "--attention-dropout", "0.1", "--label-smoothing", "0.1", "--beta2", "0.98"]


@pytest.mark.parametrize("name, extra", [("attention", []), ("peeky", ["--optimizer", "sgd"]),
                                         ("transformer", TRANSFORMER_SETTINGS)],
                         ids=["attention", "peeky-sgd", "transformer"])
def test_two_epochs_equal_one_plus_resume(tmp_path, data, name, extra):
    straight, split = tmp_path / "straight", tmp_path / "split"
    flags = [*train_flags(name, TINY), *extra]
    assert main(["train", "--data", str(data), "--epochs", "2", "--out", str(straight), *flags]) == 0
    assert main(["train", "--data", str(data), "--epochs", "1", "--out", str(split), *flags]) == 0
    assert main(["train", "--resume", str(split), "--epochs", "2", "--quiet"]) == 0
    assert_same_run(straight, split)
    assert json.loads((split / "config.json").read_text())["epochs"] == 2


def test_resume_refuses_other_settings_and_missing_state(tmp_path, data, capsys):
    assert main(["train", "--resume", str(tmp_path), "--hidden-size", "8"]) == 1
    assert capsys.readouterr().err == (f"jumok: error: --resume takes its settings from {tmp_path}/config.json; "
                                       "only --epochs, --lr, --clip, --checkpoint-every, --device, --workers and --keep-epochs may change "
                                       "(got --hidden-size)\n")
    assert main(["train", "--resume", str(tmp_path), "--quiet"]) == 1
    assert capsys.readouterr().err == (f"jumok: error: {tmp_path}: nothing to resume, it has no config.json (the run "
                                       "stopped before writing anything, or this is not a run directory); start the "
                                       "run again without --resume\n")
    (tmp_path / "config.json").write_text(Config(data=str(data), task="tsv").to_json())
    (tmp_path / "history.json").write_text('[{"epoch": 1}]')
    assert main(["train", "--resume", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (f"jumok: error: {tmp_path / 'last.npz'}: missing, but history.json records "
                                    "finished epochs; without the training state the run cannot go on")


def test_resume_before_the_first_checkpoint_starts_over(tmp_path, data, capsys):
    """Killed before its first checkpoint, a run has config.json (and maybe more) but no
    last.npz: --resume says so and trains from the beginning, deterministically."""
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert main(["train", "--data", str(data), "--epochs", "1", "--out", str(straight), *TINY]) == 0
    assert main(["train", "--data", str(data), "--epochs", "1", "--out", str(killed), *TINY]) == 0
    for name in ("last.npz", "history.json", "params.npz"):
        (killed / name).unlink()
    capsys.readouterr()
    assert main(["train", "--resume", str(killed), "--quiet"]) == 0
    assert f"{killed}: no checkpoint yet (the run stopped before its first one); starting from the beginning" in \
        capsys.readouterr().err
    assert_same_run(straight, killed)


class Stop(BaseException):
    """Stands in for a kill: nothing catches it."""


def test_a_new_run_in_an_old_run_directory_never_resumes_the_old_state(tmp_path, data, monkeypatch, capsys):
    """Training again into a run directory removes the earlier run's checkpoint first; killed
    before its own first checkpoint, the new run resumes from its own beginning."""
    straight, reused = tmp_path / "straight", tmp_path / "reused"
    args = ["train", "--data", str(data), "--epochs", "1", *TINY]
    assert main([*args, "--seed", "3", "--out", str(straight)]) == 0
    assert main([*args, "--out", str(reused)]) == 0
    real = files.write_files

    def setup_then_stop(run_dir, files):
        real(run_dir, files)
        raise Stop

    monkeypatch.setattr(files, "write_files", setup_then_stop)
    capsys.readouterr()
    with pytest.raises(Stop):
        main([*args, "--seed", "3", "--out", str(reused)])
    assert f"{reused}: removed config.json, last.npz, params.npz, history.json of an earlier run" in \
        capsys.readouterr().err
    monkeypatch.setattr(files, "write_files", real)
    assert main(["train", "--resume", str(reused), "--quiet"]) == 0
    assert_same_run(straight, reused)


def stopped_at_the_first_checkpoint(args, monkeypatch):
    """Run `jumok ARGS` and stop it (`Stop`, as a kill would) right after it wrote its first last.npz."""
    real = files.write_files

    def write_then_stop(run_dir, files):
        real(run_dir, files)
        if "last.npz" in files:
            raise Stop

    monkeypatch.setattr(files, "write_files", write_then_stop)
    with pytest.raises(Stop):
        main(args)
    monkeypatch.setattr(files, "write_files", real)


@pytest.mark.parametrize("bucket", [False, True])
def test_checkpoint_every_saves_the_position_inside_an_epoch(tmp_path, data, monkeypatch, bucket):
    """With --checkpoint-every 2, last.npz after step 2 holds the epoch's batch order, the
    batches done and the running loss sums; resuming from it ends exactly like a straight run.
    With --bucket the saved order is the length-sorted one, and resuming follows it."""
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    args = ["train", "--data", str(data), "--epochs", "2", *TINY, "--checkpoint-every", "2",
            *(["--bucket"] if bucket else [])]
    assert main([*args, "--out", str(straight)]) == 0
    stopped_at_the_first_checkpoint([*args, "--out", str(killed)], monkeypatch)
    state = arrays(killed / "last.npz")
    meta = json.loads(str(state["meta"]))
    assert (meta["epoch"], meta["step"], meta["version"]) == (0, 2, 2)
    assert meta["position"]["batch"] == 2 and meta["position"]["tokens"] > 0 and meta["position"]["loss_sum"] > 0
    order = state["state.order"]  # a permutation of the training pairs, more than two batches of them
    assert sorted(order.tolist()) == list(range(len(order))) and len(order) > 2 * 16
    train, _ = load_pairs(load_config(killed))
    lengths = np.array([len(source) for source, _ in train])
    assert len(order) == len(train)
    full = order[: len(order) // 16 * 16].reshape(-1, 16)
    sorted_batches = [bool(np.all(np.diff(batch_lengths) >= 0)) for batch_lengths in lengths[full]]
    assert all(sorted_batches) == bucket  # one window of 50 batches holds the whole epoch here
    assert main(["train", "--resume", str(killed), "--quiet"]) == 0
    assert_same_run(straight, killed)


@pytest.mark.parametrize("schedule", [[], ["--lr-schedule", "linear", "--lr-decay", "0.1"]], ids=["plateau", "linear"])
def test_a_transformer_stopped_in_its_warm_up_resumes_bit_exactly(tmp_path, data, monkeypatch, schedule):
    """--warmup-steps 10 and a checkpoint every 2 steps; stopped at its first checkpoint (step
    2, the rate still rising), the run resumes up the rest of the warm-up and past its end
    into the full rate (or, with the linear schedule, down its fall), and ends bit-exactly as
    the run that was never stopped (with dropout, attention dropout, label smoothing, Adam's
    β2 = 0.98 and --bucket's batch order, each read back from the run)."""
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    args = ["train", "--data", str(data), "--epochs", "2", *train_flags("transformer", TINY), *TRANSFORMER_SETTINGS,
            "--warmup-steps", "10", "--checkpoint-every", "2", "--bucket", *schedule]
    assert main([*args, "--out", str(straight)]) == 0
    stopped_at_the_first_checkpoint([*args, "--out", str(killed)], monkeypatch)
    stopped = json.loads(str(arrays(killed / "last.npz")["meta"]))
    assert (stopped["epoch"], stopped["step"]) == (0, 2)  # inside the warm-up
    assert json.loads(str(arrays(straight / "last.npz")["meta"]))["step"] > 10  # the run goes past it
    assert main(["train", "--resume", str(killed), "--quiet"]) == 0
    assert_same_run(straight, killed)


def test_resume_may_lower_the_learning_rate_and_change_the_clip(tmp_path, data, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--epochs", "1", "--out", str(out), *TINY]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--epochs", "2", "--lr", "0.004", "--clip", "1", "--quiet"]) == 0
    assert "learning rate 0.01 → 0.004 (--lr)" in capsys.readouterr().err
    history = json.loads((out / "history.json").read_text())
    assert [r["lr"] for r in history] == [0.01, 0.004]
    config = json.loads((out / "config.json").read_text())
    assert (config["lr"], config["clip"], config["epochs"]) == (0.004, 1.0, 2)


def test_checkpoint_every_is_a_train_setting():
    assert section_of("checkpoint_every") == "train" and Config().checkpoint_every == 0
    with pytest.raises(ConfigError, match="checkpoint_every must be 0"):
        Config(checkpoint_every=-1)


def test_params_is_the_best_epoch_and_last_is_the_latest(tmp_path, data):
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--epochs", "4", "--out", str(out), *TINY]) == 0
    history = json.loads((out / "history.json").read_text())
    meta = json.loads(str(arrays(out / "last.npz")["meta"]))
    best = max(history, key=lambda r: (r["valid_exact_match"], -r["valid_token_error_rate"]))
    assert meta["best"]["epoch"] == best["epoch"] and meta["epoch"] == 4
    last = {k[len("param."):]: v for k, v in arrays(out / "last.npz").items() if k.startswith("param.")}
    params = arrays(out / "params.npz")
    assert last.keys() == params.keys()
    same = all(np.array_equal(last[k], params[k]) for k in params)
    assert same == (best["epoch"] == 4)


def make_record(epoch, em, ter=0.5):
    return {"epoch": epoch, "valid_exact_match": em, "valid_token_error_rate": ter}


def test_progress_best_ties_and_plateau_schedule():
    config = Config(lr_schedule="plateau", lr_decay=0.5, lr_patience=2)
    p = Progress()
    assert p.record(make_record(1, 0.5), config)
    assert next_lr(p.history, 1.0, config) == 1.0
    assert not p.record(make_record(2, 0.5, ter=0.6), config)  # tie on exact match, worse error rate
    assert p.record(make_record(3, 0.5, ter=0.4), config)  # tie broken by the token error rate
    assert not p.record(make_record(4, 0.4), config)
    assert next_lr(p.history, 1.0, config) == 1.0
    assert not p.record(make_record(5, 0.4), config)
    assert next_lr(p.history, 1.0, config) == 0.5  # two epochs without improvement
    assert next_lr(p.history, 1.0, config) == 0.5  # asking again changes nothing: no side effect
    assert p.bad_epochs == 2 and p.lr_bad_epochs == 0 and p.best["epoch"] == 3  # the count starts again
    assert not p.record(make_record(6, 0.4), config)
    assert next_lr(p.history, 0.5, config) == 0.5 and p.lr_bad_epochs == 1  # one epoch since the decay
    assert next_lr([], 1.0, Config(lr_decay=0.9, lr_schedule="epoch")) == 0.9  # every epoch


def test_warm_up_raises_the_rate_linearly_then_holds_it():
    config = Config(warmup_steps=4)
    assert [step_lr(step, 2.0, config) for step in range(1, 7)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert step_lr(1, 2.0, Config()) == 2.0  # no warm-up by default


def test_the_linear_schedule_falls_from_lr_after_the_warm_up_to_lr_times_decay():
    config = Config(lr_schedule="linear", lr_decay=0.1, warmup_steps=2)
    rates = [step_lr(step, 2.0, config, planned_steps=6) for step in range(1, 9)]
    assert rates == pytest.approx([1.0, 2.0, 1.55, 1.1, 0.65, 0.2, 0.2, 0.2])  # steps 2 → 6: 2.0 → 0.2
    assert step_lr(5, 2.0, Config(lr_decay=0.1), planned_steps=6) == 2.0  # other schedules: lr within an epoch
    assert next_lr([make_record(1, 0.0), make_record(2, 0.0)], 2.0, config) == 2.0  # no decay between epochs


def test_planned_epochs_are_the_epochs_or_those_the_budget_holds_at_the_first_epochs_pace():
    assert planned_epochs([], Config(epochs=7)) == 7
    assert planned_epochs([{"seconds": 50.0}], Config(epochs=7)) == 7  # no time budget
    budget = Config(epochs=40, time_budget=10)  # 600 seconds
    assert planned_epochs([], budget) == 40  # before the first epoch ends
    assert planned_epochs([{"seconds": 70.0}, {"seconds": 300.0}], budget) == 8  # 600 // 70, the first epoch's pace
    assert planned_epochs([{"seconds": 900.0}], budget) == 1
    assert planned_epochs([{"seconds": 1.0}], budget) == 40


def test_the_linear_schedule_ends_the_run_at_lr_times_decay(tmp_path, data):
    """Each epoch records the rate of its last step; the last epoch's is lr · lr_decay."""
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--epochs", "3", "--out", str(out), *TINY,
                 "--lr-schedule", "linear", "--lr-decay", "0.1"]) == 0
    rates = [r["lr"] for r in json.loads((out / "history.json").read_text())]
    assert rates == pytest.approx([0.01 * (1 - 0.9 * epoch / 3) for epoch in (1, 2, 3)])  # no warm-up


@pytest.mark.parametrize("name", ONE_OF_EACH_KIND)
def test_early_stopping_stops_after_patience(tmp_path, data, name):
    out = tmp_path / "run"
    # lr so small that nothing improves after the first epoch's record
    assert main(["train", "--data", str(data), "--epochs", "6", "--out", str(out), *train_flags(name, TINY[:-2]),
                 "--lr", "1e-9", "--patience", "2"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 3


def test_sigkill_between_checkpoints_then_resume_equals_straight_run(tmp_path):
    """Kill a real `jumok train` process once its first checkpoint exists; resuming must
    redo only the interrupted epoch and end bit-identical to an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    rng = np.random.default_rng(5)
    words = sorted({"".join(rng.choice(list("abcdefgh"), rng.integers(3, 9))) for _ in range(1500)})
    write_tsv(tmp_path / "train.tsv", [(w, w[::-1]) for w in words])
    args = ["train", "--data", str(tmp_path / "train.tsv"), "--epochs", "4", "--hidden-size", "32",
            "--embed-size", "8", "--batch-size", "16", "--quiet"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert main([*args, "--out", str(straight)]) == 0
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "jumok", *args, "--out", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "last.npz").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    epochs_done = json.loads(str(arrays(killed / "last.npz")["meta"]))["epoch"]
    assert epochs_done < 4, "the kill came too late to interrupt training"
    assert main(["train", "--resume", str(killed), "--quiet"]) == 0
    assert_same_run(straight, killed)


def test_resume_is_exact_with_dropout_layers_and_bidirectional(tmp_path, data):
    extra = ["--dropout", "0.3", "--layers", "2", "--bidirectional", "--attention", "general"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["train", "--data", str(data), "--epochs", "2", "--out", str(straight), *TINY, *extra]) == 0
    assert main(["train", "--data", str(data), "--epochs", "1", "--out", str(split), *TINY, *extra]) == 0
    assert main(["train", "--resume", str(split), "--epochs", "2", "--quiet"]) == 0
    assert_same_run(straight, split)
