"""`jumok train --workers 2` and `jumok evaluate --workers 2` (tiny model, two ranks under the
installed mpiexec): the same parameters and history as one worker (an LSTM model, or a
Transformer with dropout and attention dropout), sharded evaluation identical, a killed rank ends the job at once and the run resumes bit-exactly, the NaN stop
and Ctrl-C end every rank with one line.

Skipped, with the reason, where mpi4py or mpiexec is missing (pip install ".[mpi]")."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fault_injection
from checks import REPO, npz_arrays as arrays, train_flags, write_reversal_tsv
from jumok import launch

pytestmark = pytest.mark.skipif(launch.missing_mpi() is not None,
                                reason=f"{launch.missing_mpi()}: {launch.MPI_INSTALL}")

SRC = str(REPO / "src")
TIMEOUT = 180  # seconds for any one command: a hang fails the test instead of the suite
TINY = ["--hidden-size", "12", "--embed-size", "6", "--batch-size", "13", "--quiet", "--lr", "0.01"]


def environment():
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
            **{name: "1" for name in launch.ONE_THREAD}}


def jumok(*args, check=True):
    done = subprocess.run([sys.executable, "-m", "jumok", *map(str, args)], env=environment(), capture_output=True,
                          text=True, timeout=TIMEOUT)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def start(*args):
    """`jumok ARGS` in a session of its own, as a terminal would start it."""
    return subprocess.Popen([sys.executable, "-m", "jumok", *map(str, args)], env=environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_reversal_tsv(tmp_path_factory.mktemp("parallel") / "train.tsv", 2, "abcdefg", 160, (2, 7))


@pytest.mark.parametrize("name, dropout", [("attention", ["--dropout", "0"]), ("attention", ["--dropout", "0.3"]),
                                           ("transformer", ["--dropout", "0.1", "--attention-dropout", "0.1"])],
                         ids=["attention", "attention-dropout", "transformer-dropout-attention-dropout"])
def test_two_workers_train_as_one(tmp_path, data, name, dropout):
    """Each rank draws the dropout masks of the whole batch (the Transformer's attention
    dropout's too) and keeps its rows: the same masks as one process.

    But for the Transformer's key biases (``.bk``): a shift of a query's whole row of scores,
    which the softmax ignores, so their gradient is 0 but for rounding (MultiHeadAttention),
    and what Adam makes of that rounding differs with the order of the sums. Their values
    stay rounding-sized and no output depends on them (the losses below agree).

    The Transformer's float32 run is chaotic with both dropouts on: the two sums' rounding
    (1e-7) grows to a relative 2e-3 in its parameters after one epoch and 6e-3 after three
    (losses 6e-5) on an AVX-512 Xeon, while ranks that each draw masks for their own rows only
    land 1.3 away; in float64 one step's gradients agree to 1e-12 (tests/models/
    test_transformer.py). So it is held to 5e-2 and its losses to 1e-3, the LSTMs to 1e-5."""
    common = ["train", "--data", data, "--epochs", "3", *dropout, "--bucket", "--keep-epochs", "2",
              *train_flags(name, TINY)]
    jumok(*common, "--out", tmp_path / "one")
    two = jumok(*common, "--out", tmp_path / "two", "--workers", "2")
    assert two.stderr.count(f"training {name} on") == 1 and two.stderr.count("best: ") == 1
    one_params, two_params = arrays(tmp_path / "one" / "params.npz"), arrays(tmp_path / "two" / "params.npz")
    tolerance = 5e-2 if name == "transformer" else 1e-5
    assert one_params.keys() == two_params.keys()
    for key, expected in one_params.items():
        if key.endswith(".bk"):
            assert np.abs(two_params[key]).max() < 1e-2 and np.abs(expected).max() < 1e-2, key
            continue
        difference = np.abs(two_params[key] - expected).max() / np.abs(expected).max()
        assert difference <= tolerance, f"{key}: relative difference {difference:.2e}"
    histories = [json.loads((tmp_path / run / "history.json").read_text()) for run in ("one", "two")]
    for a, b in zip(*histories, strict=True):
        for loss in ("train_loss", "valid_loss"):
            assert b[loss] == pytest.approx(a[loss], rel=1e-3 if name == "transformer" else 1e-5)
        assert {k: v for k, v in a.items() if "loss" not in k and "seconds" not in k} == \
               {k: v for k, v in b.items() if "loss" not in k and "seconds" not in k}
    assert json.loads((tmp_path / "two" / "config.json").read_text())["workers"] == 2
    averages = [json.loads((tmp_path / run / "average.json").read_text()) for run in ("one", "two")]
    assert averages[0]["epochs"] == [2, 3] and averages[1] == averages[0]  # each rank kept the epochs in memory


def test_sharded_evaluation_is_identical(tmp_path, data):
    jumok("train", "--data", data, "--epochs", "1", "--out", tmp_path / "run", *TINY)
    for beam in ("1", "3"):
        one = jumok("evaluate", tmp_path / "run", "--data", data, "--json", "--beam", beam,
                    "--errors", tmp_path / "one.tsv")
        two = jumok("evaluate", tmp_path / "run", "--data", data, "--json", "--beam", beam,
                    "--errors", tmp_path / "two.tsv", "--workers", "2")
        assert two.stdout == one.stdout and two.stderr.replace("two.tsv", "one.tsv") == one.stderr
        assert (tmp_path / "two.tsv").read_text() == (tmp_path / "one.tsv").read_text()


def ranks_of(launcher):
    """The pids of the ranks a `jumok ... --workers N` process started (its descendants that
    run jumok)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append((int(stat.parent.name), cmdline))
    found, todo = [], [launcher]
    while todo:
        for pid, cmdline in children.get(todo.pop(), []):
            todo.append(pid)
            if cmdline[1:3] == [b"-m", b"jumok"]:  # not mpiexec, nor its proxy
                found.append(pid)
    return found


def wait_for_checkpoint(process, run_dir, seconds=90):
    deadline = time.monotonic() + seconds
    while not (run_dir / "last.npz").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.02)


def test_a_killed_rank_ends_the_job_and_the_run_resumes_bit_exactly(tmp_path, data):
    common = ["train", "--data", data, "--epochs", "3", "--checkpoint-every", "2", "--workers", "2", *TINY]
    jumok(*common, "--out", tmp_path / "straight")
    process = start(*common, "--out", tmp_path / "run")
    try:
        wait_for_checkpoint(process, tmp_path / "run")
        ranks = ranks_of(process.pid)
        assert len(ranks) == 2
        os.kill(ranks[-1], signal.SIGKILL)
        killed = time.monotonic()
        out, err = process.communicate(timeout=60)
        assert time.monotonic() - killed < 10
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0 and out == ""
    assert err.strip().splitlines()[-1] == ("jumok: error: a worker died (Killed (signal 9)); mpiexec stopped all 2 "
                                            "workers; training ended without finishing")
    assert err.count("jumok: error") == 1
    assert not any(Path(f"/proc/{pid}").exists() for pid in ranks)
    resumed = jumok("train", "--resume", tmp_path / "run", "--quiet")
    assert "worker" not in resumed.stderr  # trained with 2, resumed with 2: no notice
    assert fault_injection.differences(tmp_path / "straight", tmp_path / "run") == []


def test_resuming_with_another_number_of_workers_goes_on_and_says_it_is_not_bit_identical(tmp_path, data):
    common = ["train", "--data", data, "--dropout", "0.2", *TINY]
    jumok(*common, "--epochs", "2", "--workers", "2", "--out", tmp_path / "straight")
    jumok(*common, "--epochs", "1", "--workers", "2", "--out", tmp_path / "run")
    resumed = jumok("train", "--resume", tmp_path / "run", "--epochs", "2", "--workers", "1", "--quiet")
    assert ("1 worker, 2 so far: the run goes on from its checkpoint, but sums over another number of slices round "
            "differently, so it is not bit-identical to going on with 2") in resumed.stderr
    straight, run = arrays(tmp_path / "straight" / "params.npz"), arrays(tmp_path / "run" / "params.npz")
    for name, expected in straight.items():
        assert np.abs(run[name] - expected).max() <= 1e-5 * np.abs(expected).max(), name
    assert json.loads((tmp_path / "run" / "config.json").read_text())["workers"] == 1


def test_ctrl_c_ends_every_rank_with_one_line_and_the_checkpoint_resumes(tmp_path, data):
    common = ["train", "--data", data, "--epochs", "3", "--checkpoint-every", "2", "--workers", "2", *TINY]
    process = start(*common, "--out", tmp_path / "run")
    try:
        wait_for_checkpoint(process, tmp_path / "run")
        ranks = ranks_of(process.pid)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130 and out == "", err
    assert err.count("jumok: interrupted") == 1 and "jumok: error" not in err and "Traceback" not in err
    assert not any(Path(f"/proc/{pid}").exists() for pid in ranks)
    jumok("train", "--resume", tmp_path / "run", "--quiet")
    jumok(*common, "--out", tmp_path / "straight")
    assert fault_injection.differences(tmp_path / "straight", tmp_path / "run") == []


def test_a_nan_stops_every_worker_with_one_message(tmp_path, data):
    done = jumok("train", "--data", data, "--epochs", "1", "--out", tmp_path / "run", *TINY, "--lr", "1e38",
                 "--workers", "2", check=False)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("jumok: error")]
    assert len(errors) == 1 and re.match(r"jumok: error: epoch 1, batch \d+ of \d+ \(optimizer step \d+\): the "
                                         r"(loss|gradient norm) is (nan|inf|-inf); ", errors[0]), done.stderr
    assert not (tmp_path / "run" / "last.npz").exists()


def test_workers_are_refused_on_a_gpu(tmp_path, data):
    done = jumok("train", "--data", data, "--out", tmp_path / "run", "--workers", "2", "--device", "gpu",
                 check=False)
    assert (done.returncode, done.stderr) == (1, "jumok: error: --workers 2 runs on the CPU; --device gpu trains "
                                                 "with one worker\n")
