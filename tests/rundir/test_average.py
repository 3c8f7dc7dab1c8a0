"""--keep-epochs and `jumok average`: training keeps the last K epochs' parameters (listed in
the manifest, older ones removed, a resumed run going on with them), and the averaged run's
parameters are the mean of those files, computed here by hand; keeping, averaging and
scoring the mean for a Transformer's run too."""

import json
import shutil

import numpy as np
import pytest
from checks import ONE_OF_EACH_KIND, train_flags

from jumok.average import average_epochs, mean_parameters
from jumok.cli import main
from jumok.data.prepare import prepare
from jumok.evaluation import evaluate_dataset
from jumok.errors import CheckpointError
from jumok.models import load_run
from jumok.rundir import LAST, PARAMS, read_manifest
from jumok.rundir.files import AVERAGE, kept_epochs
from jumok.train import Trainer, keep_mean_if_better

TINY = ["--epochs", "4", "--hidden-size", "8", "--embed-size", "4", "--batch-size", "16", "--quiet",
        "--keep-epochs", "2"]


def arrays(path, prefix=""):
    with np.load(path, allow_pickle=False) as archive:
        return {name[len(prefix):]: archive[name] for name in archive.files if name.startswith(prefix)}


@pytest.fixture
def trained(uppercase_run, request):
    """A tiny run of the attention model, or of the MODELS entry a test names (indirect)."""
    return uppercase_run(0, train_flags(getattr(request, "param", "attention"), TINY))


each_kind = pytest.mark.parametrize("trained", ONE_OF_EACH_KIND, indirect=True)


@pytest.fixture
def run(trained, tmp_path):
    """A copy of a tiny run trained for four epochs with --keep-epochs 2."""
    return shutil.copytree(trained, tmp_path / "run")


@pytest.fixture
def data(trained):
    return trained.parent / "train.tsv"


@each_kind
def test_training_keeps_the_last_k_epochs_and_the_manifest_lists_them(run):
    assert kept_epochs(run) == [3, 4]
    manifest = read_manifest(run)
    assert {"epoch-3.npz", "epoch-4.npz"} <= set(manifest) and "epoch-1.npz" not in manifest
    last, third, fourth = arrays(run / LAST, "param."), arrays(run / "epoch-3.npz"), arrays(run / "epoch-4.npz")
    assert last.keys() == fourth.keys() and all(np.array_equal(last[name], p) for name, p in fourth.items())
    assert any(not np.array_equal(third[name], p) for name, p in fourth.items())


def test_a_resumed_run_goes_on_keeping_its_last_epochs(run):
    assert main(["train", "--resume", str(run), "--epochs", "6", "--quiet"]) == 0
    assert kept_epochs(run) == [5, 6]
    assert set(read_manifest(run)) >= {"epoch-5.npz", "epoch-6.npz"}
    assert not {"epoch-3.npz", "epoch-4.npz"} & set(read_manifest(run))


def test_a_new_run_in_the_directory_removes_the_kept_epochs_of_the_old(run, data):
    assert main(["train", "--data", str(data), "--out", str(run), "--epochs", "1", "--hidden-size", "8",
                 "--embed-size", "4", "--quiet"]) == 0
    assert kept_epochs(run) == []


@each_kind
def test_the_average_is_the_mean_of_the_kept_parameters(run, data, tmp_path):
    out = tmp_path / "mean"
    assert main(["average", str(run), "--last", "2", "--out", str(out)]) == 0
    third, fourth = arrays(run / "epoch-3.npz"), arrays(run / "epoch-4.npz")
    averaged = arrays(out / PARAMS)
    assert set(averaged) == set(third)
    for name, p in averaged.items():
        assert p.dtype == third[name].dtype
        expected = ((third[name].astype(np.float64) + fourth[name]) / 2).astype(p.dtype)
        np.testing.assert_array_equal(p, expected)
    assert any(not np.array_equal(averaged[n], fourth[n]) for n in averaged)  # not one of the two
    averaged_run = load_run(out)  # a run directory like any other: the manifest vouches for it
    assert averaged_run.history == load_run(run).history
    assert main(["evaluate", str(out), "--data", str(data)]) == 0


def test_the_average_of_one_epoch_is_that_epoch(run, tmp_path):
    average_epochs(run, [3], tmp_path / "one")
    third, one = arrays(run / "epoch-3.npz"), arrays(tmp_path / "one" / PARAMS)
    assert all(np.array_equal(one[name], p) for name, p in third.items())


@pytest.mark.parametrize("arguments, message", [
    (["--epochs", "1"], "keeps no parameters for epoch 1; it keeps epochs 3, 4"),
    (["--last", "3"], "fewer than --last 3"),
    (["--last", "0"], "--last must be a positive number"),
])
def test_averaging_epochs_the_run_does_not_keep_is_a_clear_error(run, tmp_path, capsys, arguments, message):
    assert main(["average", str(run), *arguments, "--out", str(tmp_path / "mean")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "mean").exists()


def test_the_average_never_overwrites_a_run(run, tmp_path, capsys):
    assert main(["average", str(run), "--last", "2", "--out", str(run)]) == 1
    assert "is the run being averaged" in capsys.readouterr().err
    assert main(["average", str(run), "--last", "2", "--out", str(tmp_path / "mean")]) == 0
    assert main(["average", str(run), "--last", "1", "--out", str(tmp_path / "mean")]) == 1
    assert "holds a run already" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="keeps no parameters"):
        average_epochs(tmp_path / "mean", [1], tmp_path / "other")


@each_kind
def test_training_scores_the_mean_of_its_last_epochs_on_validation(run):
    record = json.loads((run / AVERAGE).read_text())
    assert record["epochs"] == [3, 4] and record["best_epoch"] == 4
    trained = load_run(run)
    third, fourth = arrays(run / "epoch-3.npz"), arrays(run / "epoch-4.npz")
    trained.model.load_state_dict({name: ((p.astype(np.float64) + fourth[name]) / 2).astype(p.dtype)
                                   for name, p in third.items()})  # the mean, by hand
    valid = prepare(trained.config, lambda *_: None)[2]
    metrics, _ = evaluate_dataset(trained.model, valid, trained.config.max_output_length)
    assert (metrics["exact_match"], metrics["token_error_rate"]) == (record["valid_exact_match"],
                                                                     record["valid_token_error_rate"])


def test_a_resumed_run_averages_the_epochs_of_before_and_after_as_an_unbroken_run(uppercase_run, tmp_path):
    whole = uppercase_run(0, [*TINY[:1], "6", *TINY[2:], "--keep-epochs", "3"])
    broken = shutil.copytree(uppercase_run(0, [*TINY, "--keep-epochs", "3"]), tmp_path / "broken")
    assert main(["train", "--resume", str(broken), "--epochs", "6", "--quiet"]) == 0
    assert json.loads((broken / AVERAGE).read_text()) == json.loads((whole / AVERAGE).read_text())
    assert json.loads((whole / AVERAGE).read_text())["epochs"] == [4, 5, 6]


@pytest.mark.parametrize("best_exact_match, kept", [(-1.0, True), (2.0, False)])
def test_the_mean_becomes_params_npz_only_when_it_beats_the_best_epoch(run, best_exact_match, kept):
    trained = load_run(run)
    before = (run / PARAMS).read_bytes()
    snapshots = [arrays(run / "epoch-3.npz"), arrays(run / "epoch-4.npz")]
    mean = mean_parameters(snapshots)
    valid = prepare(trained.config, lambda *_: None)[2]
    best = {"epoch": 4, "exact_match": best_exact_match, "token_error_rate": 0.5}
    trainer = Trainer.for_model(trained.model, trained.config, valid, valid, out_dir=run)
    trainer.state.best = best
    returned, score = keep_mean_if_better([3, 4], mean, trainer)
    assert (returned is not None) == kept and "validation exact match" in score
    assert json.loads((run / AVERAGE).read_text())["kept"] == kept
    if kept:
        assert all(np.array_equal(p, mean[name]) for name, p in arrays(run / PARAMS).items())
        load_run(run)  # the manifest vouches for the new params.npz
    else:
        assert (run / PARAMS).read_bytes() == before
