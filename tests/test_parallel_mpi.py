"""Two ranks under the installed mpiexec (tiny model): the collectives, N = 2 (and 4) steps
equal to one process's, sharded evaluation, and a rank that dies or fails ending the whole
job within seconds.

Skipped, with the reason, where mpi4py or mpiexec is missing (pip install ".[mpi]")."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from checks import REPO
from jumok import launch

pytestmark = pytest.mark.skipif(launch.missing_mpi() is not None,
                                reason=f"{launch.missing_mpi()}: {launch.MPI_INSTALL}")

PROGRAMS = str(Path(__file__).with_name("parallel_programs.py"))
TIMEOUT = 120  # seconds for any one job: a hang fails the test instead of the suite
SRC = str(REPO / "src")


def environment():
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
            **{name: "1" for name in launch.ONE_THREAD}}


def run_program(ranks, *args):
    """Run a program of parallel_programs.py as `ranks` ranks (1: alone, without mpiexec)."""
    command = [sys.executable, PROGRAMS, *map(str, args)]
    if ranks > 1:
        command = [launch.find_mpiexec(), "-n", str(ranks), *command]
    done = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_collectives_on_two_ranks(tmp_path):
    run_program(2, "collectives", tmp_path)
    result = json.loads((tmp_path / "collectives.json").read_text())
    assert result == {"size": 2, "sum": [3.0, 0.5], "any_rank1": True, "any_none": False, "max": 10.0,
                      "broadcast": {"from": 0, "list": [1, 2]}, "gather": ["rank0-a", "rank1-a", "rank1-b"],
                      "shard_gather": list(range(7)), "rows": [0, 4],
                      "agree_different": "the parameters of worker 1 differ from worker 0's"}


@pytest.mark.parametrize("dropout, ranks", [("0", 2), ("0.3", 2), ("0.3", 4)])  # 4: more ranks than cores
def test_ranks_take_the_steps_of_one_process(tmp_path, dropout, ranks):
    run_program(1, "steps", tmp_path, dropout)
    run_program(ranks, "steps", tmp_path, dropout)
    one, two = np.load(tmp_path / "params-1.npz"), np.load(tmp_path / f"params-{ranks}.npz")
    assert sorted(one) == sorted(two)
    for name in one:
        np.testing.assert_allclose(two[name], one[name], rtol=1e-5, atol=1e-5 * np.abs(one[name]).max(),
                                   err_msg=name)
    a, b = (json.loads((tmp_path / f"losses-{n}.json").read_text()) for n in (1, ranks))
    np.testing.assert_allclose(b["losses"], a["losses"], rtol=1e-6)
    np.testing.assert_allclose(b["norms"], a["norms"], rtol=1e-5)


def test_gradients_replaced_after_setup_are_still_summed(tmp_path):
    run_program(1, "replaced_gradients", tmp_path)
    run_program(2, "replaced_gradients", tmp_path)
    one, two = np.load(tmp_path / "grads-1.npz"), np.load(tmp_path / "grads-2.npz")
    assert sorted(one) == sorted(two) and "decoder.out.b" in one
    for name in one:
        assert two[name].dtype == np.float64, name
        assert np.abs(one[name]).max() > 0, name  # every parameter has a gradient to sum
        np.testing.assert_allclose(two[name], one[name], rtol=1e-12, atol=1e-14, err_msg=name)
    assert json.loads((tmp_path / "kept-2.json").read_text()) is True


@pytest.mark.parametrize("beam", ["1", "3"])
def test_sharded_evaluation_equals_one_process(tmp_path, beam):
    run_program(1, "evaluate", tmp_path, beam)
    run_program(2, "evaluate", tmp_path, beam)
    one, two = (json.loads((tmp_path / f"evaluate-{n}.json").read_text()) for n in (1, 2))
    assert len(one["outputs"]) == len(one["hypotheses"]) == 30 and two == one
    assert all(len(hyps) == int(beam) for hyps in one["hypotheses"])  # the whole n-best lists came back


def start_launcher(tmp_path, program):
    """`jumok.launch.relaunch` of a program on two ranks, in a session of its own (as a
    terminal would run it); returns the process."""
    code = ("import sys; from jumok.launch import relaunch; "
            f"sys.exit(relaunch(2, [{program!r}, {str(tmp_path)!r}], 'the test', [sys.executable, {PROGRAMS!r}]))")
    return subprocess.Popen([sys.executable, "-c", code], env=environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for(paths, process, seconds=60):
    deadline = time.monotonic() + seconds
    while not all(p.exists() and p.read_text() for p in paths):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the ranks did not start"
        time.sleep(0.05)


def test_a_killed_rank_ends_the_job_within_seconds_with_one_line(tmp_path):
    process = start_launcher(tmp_path, "forever")
    try:
        wait_for([tmp_path / "pid0", tmp_path / "pid1"], process)
        os.kill(int((tmp_path / "pid1").read_text()), signal.SIGKILL)
        start = time.monotonic()
        out, err = process.communicate(timeout=30)
        assert time.monotonic() - start < 10
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0
    assert out == ""  # Hydra's banner is not passed on
    assert err.splitlines() == ["jumok: error: a worker died (Killed (signal 9)); mpiexec stopped all 2 workers; "
                                "the test ended without finishing"]
    with pytest.raises(ProcessLookupError):  # rank 0 is gone too
        os.kill(int((tmp_path / "pid0").read_text()), 0)


def test_a_rank_that_fails_ends_the_job(tmp_path):
    start = time.monotonic()
    command = [launch.find_mpiexec(), "-n", "2", sys.executable, PROGRAMS, "one_fails", str(tmp_path)]
    done = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 3, done.stdout + done.stderr
    assert time.monotonic() - start < 30
    assert "rank 1 fails" in done.stderr and not (tmp_path / "rank0-finished").exists()


def test_the_parallel_benchmark_runs_in_its_quick_mode(tmp_path):
    env = {**environment(), "PYTHONPATH": os.pathsep.join([SRC, str(REPO)])}
    done = subprocess.run([sys.executable, "-m", "benchmarks.parallel", "--quick", "--no-torch", "--slices", "4",
                           "--out", str(tmp_path / "parallel.json")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((tmp_path / "parallel.json").read_text())
    assert list(record["rows"]) == ["jumok, 1 process", "jumok, 1 worker (1 BLAS thread)", "jumok, 2 workers"]
    assert record["rows"]["jumok, 2 workers"]["ranks"] == 2 and set(record["slices"]) == {"4"}
    assert all(row["train_step_s"] > 0 and row["decode_s"] > 0 for row in record["rows"].values())
    assert all(len(row["rounds"]) == 1 and row["parts_s"]["products"] > 0 for row in record["rows"].values())
    assert set(record["ratios_by_round"]) == {"2 workers × 1 process", "bound for 2 workers"}
