"""The benchmarks run end to end in their small modes (no timing asserted); the step timer and
the parallel benchmark's ratios against values worked out by hand."""

import json
import os
import subprocess
import sys

import pytest
from checks import REPO

from benchmarks.common import median_time
from benchmarks.cost_model import bound
from benchmarks.parallel import ratios

ROOT = REPO


def run_module(module, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_scaling_quick_sweeps_every_axis(tmp_path):
    out, png = tmp_path / "scaling.json", tmp_path / "scaling.png"
    run_module("benchmarks.scaling", "--quick", "--no-torch", "--out", str(out), "--plot", str(png))
    record = json.loads(out.read_text())
    assert set(record["sweeps"]) == {"S", "T", "N", "H"}
    for axis, rows in record["sweeps"].items():
        values = [row[axis] for row in rows]
        assert values == sorted(values) and len(values) >= 2
        assert all(row["jumok_s"] > 0 and row["torch_s"] is None for row in rows)
        assert rows[-1]["gflop"] > rows[0]["gflop"]  # more work counted as the axis grows
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_epoch_benchmark_predicts_every_batch(tmp_path):
    out = tmp_path / "epoch.json"
    proc = run_module("benchmarks.epoch", "--n-examples", "600", "--repeats", "1", "--out", str(out))
    record = json.loads(out.read_text())
    assert record["batches"] == sum(s["batches"] for s in record["shapes"]) == 5  # 540 training pairs / 128
    assert record["predicted_epoch_s"] > 0 and record["measured_epoch_s"] > 0
    assert "measured ÷ predicted" in proc.stdout


def test_the_parallel_ratios_go_round_by_round():
    step = lambda *seconds: [{"train_step_s": s} for s in seconds]  # noqa: E731
    rounds = {"jumok, 1 process": step(0.07, 0.08), "jumok, 1 worker (1 BLAS thread)": step(0.10, 0.10),
              "jumok, 2 workers": step(0.05, 0.04), "PyTorch": step(0.05, 0.05)}
    assert bound(0.07, 0.10, 2) == pytest.approx(1.4)
    got = ratios(rounds, [2])
    assert got["2 workers × 1 process"] == pytest.approx([1.4, 2.0])  # each round against its own 1 process
    assert got["bound for 2 workers"] == pytest.approx([1.4, 1.6])
    assert got["2 workers ÷ PyTorch's step"] == pytest.approx([1.0, 0.8])


def test_variants_times_every_attention_score():
    proc = run_module("benchmarks.variants", "--n-examples", "600", "--warmup", "1", "--steps", "2",
                      "--attention", "dot", "additive")
    rows = [line for line in proc.stdout.splitlines() if line.startswith(("| dot ", "| additive "))]
    assert len(rows) == 2


def test_the_step_timer_keeps_the_timed_calls_after_warm_up():
    calls, events = [], []
    seconds = iter([5.0, 1.0, 3.0, 2.0])  # what `combine` makes of each call: the first is warm-up

    def combine(_):
        events.append("combine")
        return next(seconds)

    def fn(arg):
        calls.append(arg)
        events.append("fn")

    median = median_time(fn, ["a", "b"], warmup=1, repeats=3, start=lambda: events.append("start"),
                         stop=lambda: events.append("stop"), combine=combine)
    assert median == 2.0  # of 1, 3 and 2
    assert calls == ["a", "b", "a", "b"]  # the arguments in turn, warm-up included
    assert events == ["start", "fn", "stop", "combine"] * 4
