"""Faults during training: a crash at any file write, a write that fails (full disk,
read-only directory), a loss or gradient that is not finite, and SIGKILL at random moments
(three trials of tests/fault_injection.py, one of them a Transformer's; ``python
tests/fault_injection.py --trials 20`` runs the full set, ``--preset transformer-small`` a
Transformer's). After each, the run must resume to exactly the uninterrupted result."""

import errno
import os
import re

import fault_injection
import numpy as np
import pytest

from checks import write_reversal_tsv
from jumok import atomic, viz
from jumok import train as training
from jumok.cli import main
from jumok.rundir import VOUCHED, files, verify_files

TINY = ["--hidden-size", "8", "--embed-size", "4", "--batch-size", "8", "--lr", "0.01", "--quiet"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_reversal_tsv(tmp_path_factory.mktemp("faults") / "train.tsv", 3, "abcde", 40, (2, 5))


def no_pictures(patch):
    """Skip the learning curves and heatmaps (a second per finished run, and no part of the
    training state)."""
    patch.setattr(viz, "plot_learning_curves", lambda history, path: path)
    patch.setattr(training, "draw_examples", lambda model, dataset, config, path: path)


@pytest.fixture(autouse=True)
def _no_pictures(monkeypatch):
    no_pictures(monkeypatch)


def train(data, out, *extra):
    return main(["train", "--data", str(data), "--out", str(out), *TINY, *extra])


def resume(out, *extra):
    return main(["train", "--resume", str(out), "--quiet", *extra])


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory):
    """The uninterrupted run, and the names of the files it wrote, one entry per write."""
    out = tmp_path_factory.mktemp("straight") / "run"
    writes = []
    real = files.write_bytes
    with pytest.MonkeyPatch.context() as patch:
        no_pictures(patch)
        patch.setattr(files, "write_bytes", lambda path, data: (writes.append(path.name), real(path, data)))
        assert train(data, out, "--epochs", "2", "--checkpoint-every", "3") == 0
    return out, writes


def hidden_files(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def last_error(capsys):
    return capsys.readouterr().err.strip().splitlines()[-1]


class Crash(BaseException):
    """A simulated kill: nothing catches it and nothing after it runs."""


def test_a_crash_at_any_write_resumes_to_the_same_run(data, straight, tmp_path, monkeypatch):
    """Crash at the 1st, 2nd, ... file write of the run (manifest, config, vocabularies,
    mid-epoch and epoch-end checkpoints, history), leaving half a temporary file behind as a
    killed writer would; resuming (or restarting, when not even config.json was written)
    must end bit-identical to the uninterrupted run, with the stale temporary file gone."""
    reference, writes = straight
    assert {"manifest.json", "config.json", "last.npz", "params.npz", "history.json"} <= set(writes)
    real = files.write_bytes
    for number, name in enumerate(writes, start=1):
        out = tmp_path / f"crash-{number:02d}"
        calls = []

        def write(path, data, calls=calls, number=number):
            calls.append(path.name)
            if len(calls) == number:
                path.parent.mkdir(parents=True, exist_ok=True)
                (path.parent / f".{path.stem}.crashed{path.suffix}").write_bytes(data[: len(data) // 2])
                raise Crash(path.name)
            real(path, data)

        monkeypatch.setattr(files, "write_bytes", write)
        with pytest.raises(Crash):
            train(data, out, "--epochs", "2", "--checkpoint-every", "3")
        monkeypatch.setattr(files, "write_bytes", real)
        started = (out / "config.json").exists()
        assert (resume(out) if started else train(data, out, "--epochs", "2", "--checkpoint-every", "3")) == 0
        assert fault_injection.differences(reference, out) == [], f"crash at write {number} ({name})"
        assert hidden_files(out) == [], f"crash at write {number} ({name})"


class FullDisk:
    """A file whose write stores half the data, then fails as a full disk does."""

    def __init__(self, file):
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def write(self, data):
        self.file.write(data[: len(data) // 2])
        self.file.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.file, name)


def failing(stage, monkeypatch):
    """Patch the os call of `stage` ("write", "fsync" or "rename") to fail; return the reason."""
    if stage == "write":
        fdopen = os.fdopen
        monkeypatch.setattr(atomic.os, "fdopen", lambda *a, **k: FullDisk(fdopen(*a, **k)))
        return os.strerror(errno.ENOSPC)
    code = errno.ENOSPC if stage == "fsync" else errno.EIO

    def fail(*args):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.os, "fsync" if stage == "fsync" else "replace", fail)
    return os.strerror(code)


@pytest.mark.parametrize("stage", ["write", "fsync", "rename"])
def test_a_failed_write_is_one_line_and_keeps_the_previous_checkpoint(data, straight, tmp_path, monkeypatch,
                                                                       capsys, stage):
    """last.npz cannot be written at the end of epoch 2 (disk full half-way through the
    data, at fsync, or at the rename): exit code 1, one line naming the file and the
    reason, last.npz byte-identical to before, no temporary file left; once writing works
    again, --resume finishes the run exactly."""
    out = tmp_path / "run"
    assert train(data, out, "--epochs", "1", "--checkpoint-every", "3") == 0
    before = (out / "last.npz").read_bytes()
    real = files.write_bytes

    def write(path, data):
        if path.name != "last.npz":
            return real(path, data)
        with pytest.MonkeyPatch.context() as patch:
            failing(stage, patch)
            real(path, data)

    monkeypatch.setattr(files, "write_bytes", write)
    capsys.readouterr()
    assert resume(out, "--epochs", "2") == 1
    reason = os.strerror(errno.EIO if stage == "rename" else errno.ENOSPC)
    assert last_error(capsys) == (f"jumok: error: cannot write {out / 'last.npz'}: {reason} "
                                  "(the previous version of the file is kept)")
    assert (out / "last.npz").read_bytes() == before
    assert hidden_files(out) == []
    verify_files(out, *VOUCHED)  # the manifest vouches for what is there
    monkeypatch.setattr(files, "write_bytes", real)
    assert resume(out) == 0  # config.json says 2 epochs now
    assert fault_injection.differences(straight[0], out) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores directory permissions")
def test_a_read_only_directory_is_one_line_and_changes_nothing(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(data, out, "--epochs", "1") == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    out.chmod(0o555)
    try:
        capsys.readouterr()
        assert resume(out, "--epochs", "2") == 1
        message = last_error(capsys)
    finally:
        out.chmod(0o755)
    assert message.startswith(f"jumok: error: cannot write {out}{os.sep}") and os.strerror(errno.EACCES) in message
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    assert train(data, locked / "run", "--epochs", "1") == 1
    assert last_error(capsys).startswith(f"jumok: error: cannot write {locked / 'run'}{os.sep}")


def test_a_nan_gradient_stops_training_and_keeps_the_last_good_checkpoint(data, straight, tmp_path, monkeypatch,
                                                                         capsys):
    """The 7th gradient norm is NaN: exit code 1, a message naming the epoch, batch and step
    and how to resume; last.npz is the checkpoint of step 6, finite; resuming gives the
    uninterrupted run."""
    calls = []
    real = training.clip_grad_norm

    def clip(named_grads, max_norm):
        calls.append(1)
        norm = real(named_grads, max_norm)
        return float("nan") if len(calls) == 7 else norm

    monkeypatch.setattr(training, "clip_grad_norm", clip)
    out = tmp_path / "run"
    assert train(data, out, "--epochs", "2", "--checkpoint-every", "3") == 1
    message = last_error(capsys)
    pattern = (r"jumok: error: epoch (\d), batch (\d+) of (\d+) \(optimizer step 7\): the gradient norm is nan; "
               r"stopped without saving this state, (.+) keeps the last good checkpoint \((.+)\); resume with "
               r"`jumok train --resume (.+) --lr <below 0.01>` or a smaller --clip \(now 5\)")
    match = re.fullmatch(pattern, message)
    assert match, message
    epoch, batch, steps = map(int, match.groups()[:3])
    assert (epoch - 1) * steps + batch == 7 and match[4] == str(out / "last.npz") and match[6] == str(out)
    meta = fault_injection.npz(out / "last.npz")
    assert fault_injection.json.loads(str(meta.pop("meta")))["step"] == 6
    assert all(np.isfinite(a).all() for a in meta.values())
    monkeypatch.setattr(training, "clip_grad_norm", real)
    assert resume(out) == 0
    assert fault_injection.differences(straight[0], out) == []


def test_a_diverging_run_says_how_to_go_on_and_resume_takes_a_smaller_lr(data, tmp_path, capsys):
    """A learning rate of 1e38 overflows the parameters: the run stops at once with a
    non-finite loss, before any checkpoint; `--resume RUN --lr 0.01` then starts over with
    the smaller rate and gives the run that --lr 0.01 gives from the start."""
    out = tmp_path / "run"
    with np.errstate(over="ignore", invalid="ignore"):
        assert train(data, out, "--epochs", "1", "--lr", "1e38") == 1
    message = last_error(capsys)
    assert re.match(r"jumok: error: epoch 1, batch \d+ of \d+ \(optimizer step \d+\): the (loss|gradient norm) is "
                    r"(nan|inf|-inf); ", message), message
    assert "no checkpoint was written yet (--resume starts over)" in message
    assert f"resume with `jumok train --resume {out} --lr <below 1e+38>`" in message
    assert not (out / "last.npz").exists()
    assert resume(out, "--lr", "0.01") == 0
    fresh = tmp_path / "fresh"
    assert train(data, fresh, "--epochs", "1") == 0
    assert fault_injection.differences(fresh, out) == []


@pytest.mark.parametrize("preset, trials, seed", [("small", 2, 1), ("transformer-small", 1, 4)])
def test_sigkill_at_random_moments_then_resume_is_bit_exact(tmp_path, preset, trials, seed):
    """Trials of the fault-injection script: real `jumok train` processes killed with SIGKILL
    at random moments and resumed, compared with an uninterrupted run; two of an LSTM model,
    one of a Transformer with dropout and a warm-up (seed 4: one kill, early in the run)."""
    results = fault_injection.run_trials(tmp_path, trials=trials, seed=seed, max_kills=2, preset=preset,
                                         report=lambda line: None)
    assert [r["differences"] for r in results] == [[]] * trials


@pytest.mark.slow
def test_twenty_sigkill_trials(tmp_path):
    results = fault_injection.run_trials(tmp_path, trials=20, seed=0)
    assert [r["differences"] for r in results] == [[]] * 20
