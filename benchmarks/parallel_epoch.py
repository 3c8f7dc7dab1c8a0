"""One whole `jumok train` epoch per worker count, and the PyTorch model's epoch on the same
pairs: `python -m benchmarks.parallel --epoch` (its docstring says what is timed).

    PYTHONPATH=src python -m benchmarks.parallel --epoch [--workers 2] [--n-examples 50000] [--out PATH.json]

The settings are the chapter's, those of `benchmarks.epoch.CHAPTER`.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import blas_threads, run_row
from benchmarks.cost_model import bound
from benchmarks.epoch import CHAPTER
from jumok.config import Config


def epoch_rows(workers, n_examples, torch_python=None):
    """Wall and training seconds of one chapter-settings epoch of `jumok train` per worker count,
    one worker also with one BLAS thread (for the `bound`), then (with
    `torch_python`) of the PyTorch model's epoch on the same pairs."""
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in CHAPTER.items() if not isinstance(value, bool)]
    flags += [f"--{key}" for key, value in CHAPTER.items() if value is True]
    rows = {}
    runs = [("jumok, 1 worker", 1, os.environ), ("jumok, 1 worker (1 BLAS thread)", 1, blas_threads(1)),
            *((f"jumok, {count} workers", count, os.environ) for count in workers)]
    for name, count, env in runs:
        with tempfile.TemporaryDirectory() as run_dir:
            command = [sys.executable, "-m", "jumok", "train", *flags, f"--n-examples={n_examples}",
                       f"--workers={count}", "--quiet", f"--out={run_dir}/run"]
            start = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
            wall = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
            entry = json.loads(Path(run_dir, "run", "history.json").read_text())[0]
        rows[name] = {
            "command": " ".join(command[1:]).replace(run_dir, "RUN"), "wall_s": wall, "train_s": entry["seconds"],
            "eval_s": entry["eval_seconds"], "valid_exact_match": entry["valid_exact_match"]}
        print(f"{name}: {wall:.1f} s wall, {entry['seconds']:.1f} s training, "
              f"{entry['eval_seconds']:.1f} s validation, exact match {entry['valid_exact_match']:.4f}", flush=True)
    if torch_python is not None:
        command = [torch_python, "-m", "benchmarks.parallel", "--job", "torch-epoch", f"--n-examples={n_examples}"]
        start = time.perf_counter()
        entry = run_row(command, dict(os.environ), timeout=3600)
        wall = time.perf_counter() - start
        rows["PyTorch"] = {"command": " ".join(command[1:]), "wall_s": wall, "train_s": entry["seconds"],
                           "eval_s": entry["eval_seconds"], "valid_exact_match": entry["valid_exact_match"]}
        print(f"PyTorch: {wall:.1f} s wall, {entry['seconds']:.1f} s training, {entry['eval_seconds']:.1f} s "
              f"validation, exact match {entry['valid_exact_match']:.4f}", flush=True)
    one, single = rows["jumok, 1 worker"]["train_s"], rows["jumok, 1 worker (1 BLAS thread)"]["train_s"]
    for count in workers:
        print(f"{count} workers: {one / rows[f'jumok, {count} workers']['train_s']:.2f} × one worker's training "
              f"throughput (bound {bound(one, single, count):.2f})")
    return rows


def torch_epoch(n_examples):
    """One chapter-settings epoch of the PyTorch model (`benchmarks.torch_train.train_torch`,
    default threads) on the very pairs the jumok rows train on; prints its history entry."""
    from benchmarks.torch_train import train_torch  # needs torch, an optional peer

    history, _ = train_torch(Config(**CHAPTER, n_examples=n_examples), seed=0, log=lambda *_: None)
    print(json.dumps(history[0]))
