"""The robustness suite's oracle: the same tasks and seeds through the PyTorch model.

    PYTHONPATH=src:. python -m experiments.robustness_oracle [--quick] [--tasks T ...]
        [--settings torch-chapter torch-defaults torch-transformer] [--seeds N ...] [--epochs N] [--data-dir DIR]
        [--results DIR] [--threads N] [--until-target]

Each run trains benchmarks/torch_model.py's `TorchAttentionSeq2seq` (PyTorch, CPU) on a task's
two TSV files (experiments/robustness_tasks.py), as `benchmarks.torch_train.train_torch`
trains it (jumok's data pipeline, batches, validation and bookkeeping around PyTorch's own
initialisation, two LSTM biases and Adam), and leaves a record in the format of
experiments/robustness.py's `run_one`, RESULTS/TIER/TASK.SETTINGS.seedN.json, so the suite's
table shows the oracle's rows beside jumok's; a run with a record is never redone.

Settings (`SETTINGS`): each follows one of the suite's jumok settings, read from the very
`jumok train` command line the suite runs (`jumok_config`), and jumok's own bookkeeping
(`jumok.rundir.state.Progress`) decides the best epoch, the learning-rate schedule and when to
stop. ``torch-chapter`` follows ``chapter`` (reversed sources, Adam 1e-3 constant, 3 epochs);
``torch-defaults`` follows ``defaults``, whatever jumok's defaults for a user's file are
(docs/results.md#defaults-for-a-users-file); ``torch-transformer`` follows ``transformer``
(``--model transformer`` at its own defaults) with the twin of benchmarks/torch_transformer.py
at PyTorch's initialisation, dropout in the same places, decoding by re-running the prefix.
The Adam is torch.optim.Adam (β₁ 0.9, jumok's β₂, ε 1e-8) with jumok's warm-up; the clip is
torch.nn.utils.clip_grad_norm_.

``--quick`` runs the quick tier's file slices and seeds with at most 3 epochs; ``--until-target``
stops a run after the first epoch at the task's target (``"stopped_at_target": true``).
"""

import datetime
import json
import socket
from pathlib import Path

from experiments.robustness import (TIERS, available, git_commit, record_path, sha256, shown, suite_parser,
                                    summarize, train_command)
from experiments.robustness_tasks import TASKS, task_files
from jumok.atomic import write_text
from jumok.cli import build_parser
from jumok.cli.train import settings_from_args

SETTINGS = {"torch-chapter": "chapter", "torch-defaults": "defaults", "torch-transformer": "transformer"}
"""Each oracle setting and the `experiments.robustness.SETTINGS` entry whose `jumok train`
command line it follows."""


def jumok_config(task, train, valid, settings):
    """The `Config` that `jumok train` runs for this task at the jumok settings that the oracle
    setting ``settings`` follows: the oracle takes its sizes, batch, clip, learning rate and
    schedule, stopping rule, epochs and reversal from it, so it always trains as jumok does."""
    argv = train_command(task, train, valid, SETTINGS[settings], 0, "unused", None)
    return settings_from_args(build_parser().parse_args(argv))[0]


def train_run(task, train, valid, settings, seed, epochs=None, until_target=False, changes=None, log=print):
    """Train one run of the suite; returns (history as jumok's history.json, stopped at the target?).

    ``epochs`` (if given) and ``changes`` (`Config` fields, e.g. a tiny hidden size for tests)
    replace the jumok settings' own."""
    from benchmarks.torch_train import train_torch  # needs torch, an optional peer

    config = jumok_config(task, train, valid, settings).replace(**(changes or {}))
    config = config.replace(epochs=epochs) if epochs is not None else config
    return train_torch(config, seed, task.target if until_target else None, log, f"{task.name} {settings} seed {seed}")


def oracle_command(task, tier, settings, seed, args):
    """The command line that trains this one run."""
    command = ["python", "-m", "experiments.robustness_oracle", "--tasks", task.name, "--settings", settings,
               "--seeds", str(seed)]
    command += ["--quick"] if tier == "quick" else []
    command += ["--epochs", str(args.epochs)] if args.epochs is not None else []
    return " ".join(command + (["--until-target"] if args.until_target else []))


def run_one(task, tier, settings, seed, args, changes=None):
    """Train one run and write its record (experiments/robustness.py's format); a run with a record is skipped."""
    import torch

    path = record_path(args.results, tier, task.name, settings, seed)
    if path.exists():
        print(f"{tier} {task.name} {settings} seed {seed}: done already ({shown(path)})", flush=True)
        return json.loads(path.read_text())
    train, valid = task_files(task, args.data_dir, quick=tier == "quick")
    epochs = args.epochs if args.epochs is not None else TIERS[tier]["epochs"]  # None: the settings' own
    torch.set_num_threads(args.threads)
    history, at_target = train_run(task, train, valid, settings, seed, epochs, args.until_target, changes)
    record = {"task": task.name, "tier": tier, "settings": settings, "seed": seed, "target": task.target,
              "command": oracle_command(task, tier, settings, seed, args), "resumed": False,
              "data": {"train": shown(train), "valid": shown(valid), "train_sha256": sha256(train),
                       "valid_sha256": sha256(valid)},
              "commit": git_commit(), "host": socket.gethostname(),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              "torch": torch.__version__, "threads": args.threads, "changes": changes,
              "stopped_at_target": at_target, **summarize(history, task.target), "history": history}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(record, indent=1) + "\n")
    reached = f"reached at {record['seconds_to_target']} s" if record["reached"] else "not reached"
    print(f"  best {100 * record['best_exact_match']:.2f} % (epoch {record['best_epoch']}); target {reached}",
          flush=True)
    return record


def parse_args(argv=None):
    parser = suite_parser(__doc__, SETTINGS)
    parser.add_argument("--epochs", type=int, help="epochs of every run (default: the settings', capped by the tier)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    args.seeds = args.seeds if args.seeds is not None else TIERS["quick" if args.quick else "full"]["seeds"]
    return args


def main(argv=None):
    args = parse_args(argv)
    if not available("torch"):
        raise SystemExit("the oracle needs PyTorch: pip install torch==2.13.0")
    tier = "quick" if args.quick else "full"
    for name in args.tasks:
        task = TASKS[name]
        if task.needs and not available(task.needs) and not (Path(args.data_dir) / name / "valid.tsv").exists():
            print(f"{name}: skipped, needs {task.needs} to write its files (pip install '.[bench]')", flush=True)
            continue
        for settings in args.settings:
            for seed in args.seeds:
                run_one(task, tier, settings, seed, args)


if __name__ == "__main__":
    main()
