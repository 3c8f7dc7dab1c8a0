"""One whole `jumok train` epoch per worker count, and the PyTorch model's epoch on the same
pairs: `python -m benchmarks.parallel --epoch` (its docstring says what is timed).

    PYTHONPATH=src python -m benchmarks.parallel --epoch [--workers 2] [--n-examples 50000] [--out PATH.json]

The settings are the chapter's, those of `benchmarks.epoch.CHAPTER`. `jumok_epoch`,
`torch_epoch_row` and `torch_epoch` take any settings: `benchmarks.transformer_speed` times
the Transformer's G2P epoch with them.
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


def train_flags(settings):
    """`jumok train`'s flags for `settings` ({Config field: value}): ``--flag=value``, a true
    boolean as its bare flag, a false one left out (every boolean here defaults to false)."""
    fields = Config.__dataclass_fields__
    flag = {key: fields[key].metadata["flag"] for key in settings}
    return ([f"{flag[key]}={value}" for key, value in settings.items() if not isinstance(value, bool)]
            + [flag[key] for key, value in settings.items() if value is True])


def jumok_epoch(flags, workers, env):
    """One `jumok train` epoch with `flags` on `workers` workers, a fresh command in `env`:
    {"command", "wall_s" (start to exit), "train_s" and "eval_s" (history.json's seconds of
    training and of validation), "valid_exact_match"}."""
    with tempfile.TemporaryDirectory() as run_dir:
        command = [sys.executable, "-m", "jumok", "train", *flags, f"--workers={workers}", "--quiet",
                   f"--out={run_dir}/run"]
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
        entry = json.loads(Path(run_dir, "run", "history.json").read_text())[0]
    return epoch_row(" ".join(command[1:]).replace(run_dir, "RUN"), wall, entry)


def torch_epoch_row(command):
    """The PyTorch model's epoch: `command` runs `torch_epoch` in a fresh process (default
    threads); the same row as `jumok_epoch`'s."""
    start = time.perf_counter()
    entry = run_row(command, dict(os.environ), timeout=3600)
    wall = time.perf_counter() - start
    return epoch_row(" ".join(command[1:]), wall, entry)


def epoch_row(command, wall, entry):
    """An epoch's row from its command, wall seconds and history.json entry."""
    return {"command": command, "wall_s": wall, "train_s": entry["seconds"], "eval_s": entry["eval_seconds"],
            "valid_exact_match": entry["valid_exact_match"]}


def print_epoch_row(name, row):
    print(f"{name}: {row['wall_s']:.1f} s wall, {row['train_s']:.1f} s training, {row['eval_s']:.1f} s validation, "
          f"exact match {row['valid_exact_match']:.4f}", flush=True)


def epoch_rows(workers, n_examples, torch_python=None):
    """Wall and training seconds of one chapter-settings epoch of `jumok train` per worker count,
    one worker also with one BLAS thread (for the `bound`), then (with
    `torch_python`) of the PyTorch model's epoch on the same pairs."""
    flags = [*train_flags(CHAPTER), f"--n-examples={n_examples}"]
    rows = {}
    runs = [("jumok, 1 worker", 1, os.environ), ("jumok, 1 worker (1 BLAS thread)", 1, blas_threads(1)),
            *((f"jumok, {count} workers", count, os.environ) for count in workers)]
    for name, count, env in runs:
        rows[name] = jumok_epoch(flags, count, env)
        print_epoch_row(name, rows[name])
    if torch_python is not None:
        command = [torch_python, "-m", "benchmarks.parallel", "--job", "torch-epoch", f"--n-examples={n_examples}"]
        rows["PyTorch"] = torch_epoch_row(command)
        print_epoch_row("PyTorch", rows["PyTorch"])
    one, single = rows["jumok, 1 worker"]["train_s"], rows["jumok, 1 worker (1 BLAS thread)"]["train_s"]
    for count in workers:
        print(f"{count} workers: {one / rows[f'jumok, {count} workers']['train_s']:.2f} × one worker's training "
              f"throughput (bound {bound(one, single, count):.2f})")
    return rows


def torch_epoch(n_examples=None, settings=CHAPTER):
    """One epoch of the PyTorch model (`benchmarks.torch_train.train_torch`, default threads)
    at `settings` (default the chapter's, on `n_examples` generated dates) on the very pairs
    the jumok rows train on; prints its history entry."""
    from benchmarks.torch_train import train_torch  # needs torch, an optional peer

    sized = {} if n_examples is None else {"n_examples": n_examples}
    history, _ = train_torch(Config(**settings, **sized), seed=settings.get("seed", 0), log=lambda *_: None)
    print(json.dumps(history[0]))
