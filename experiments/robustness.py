"""Does jumok learn data written elsewhere, whatever the seed? Every task × settings × seed.

    PYTHONPATH=src python -m experiments.robustness [--quick] [--tasks T ...] [--settings S ...]
        [--seeds N ...] [--epochs N] [--data-dir DIR] [--results DIR] [--runs DIR] [--table-only]
        [--until-target] [--jobs N] [--threads N]

Each task (experiments/robustness_tasks.py) is a pair of fixed TSV files, written once into
--data-dir. Each run is ``jumok train --data train.tsv --valid valid.tsv --*-tokens ...
--seed N --out RUN`` as a subprocess — exactly what a user runs — at one of `SETTINGS`:
``defaults`` (no other flag: a user's file trains until validation stops improving),
``chapter-init`` (the defaults with the chapter's LSTM weights N(0, 1)/√fan-in, as they were
until 2026-12-02), ``unidirectional`` (those with the chapter's one-way encoder), ``before`` (the
defaults a user's file had before: 3 epochs, embeddings 0.01·N(0, 1), one-way encoder),
``chapter`` (the chapter's settings, 3 epochs), ``chapter-embed1`` (the same with unit-
variance embeddings), ``transformer`` (``--model transformer`` and nothing else: the
Transformer at its own defaults) or one of the Transformer pilots (``tf-...``). Its history.json gives the validation exact match per epoch, the
training seconds to the target (summed over the epochs up to the first at or above it) and
whether the seed reaches it. With --until-target a run is interrupted once it has reached
the target, which changes none of these (only the epochs after it are not trained).

Each finished run leaves a record, RESULTS/TIER/TASK.SETTINGS.seedN.json, and is never
redone; a run interrupted midway is resumed from its checkpoint (``jumok train --resume``),
one without a checkpoint started again. The table of all records of the tier
(task × settings: seeds reaching the target, seconds to it, best exact match) is printed
and written to RESULTS/TIER/table.md.

Tiers: ``full`` (the default): the whole files, seeds 0–4, jumok's own number of epochs;
``quick`` (--quick): the files' first lines (`Task.quick`), seeds 0–1, at most 3 epochs.
"""

import argparse
import datetime
import hashlib
import importlib.util
import json
import signal
import socket
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.common import ROOT, child_env
from experiments import RESULTS
from experiments.robustness_tasks import TASKS, task_files
from jumok.atomic import write_text

CHAPTER = ["--reverse", "--lr", "1e-3", "--lr-decay", "1", "--embed-size", "16", "--hidden-size", "256",
           "--batch-size", "128", "--clip", "5", "--patience", "0", "--epochs", "3", "--no-bidirectional"]
TRANSFORMER = ["--model", "transformer", "--hidden-size", "128", "--heads", "4", "--layers", "2", "--dropout", "0.1",
               "--lr", "1e-3", "--warmup-steps", "300", "--beta2", "0.98"]  # the first pilot's settings
TF64 = TRANSFORMER + ["--hidden-size", "64", "--lr", "3e-3"]  # narrower and faster: the Transformer's defaults
SETTINGS = {
    "defaults": [],
    "chapter-init": ["--lstm-init", "chapter"],  # the defaults with the chapter's LSTM weights (until 2026-12-02)
    "unidirectional": ["--no-bidirectional", "--lstm-init", "chapter"],  # and the chapter's one-way encoder
    "before": ["--epochs", "3", "--patience", "0", "--embed-scale", "0.01",  # a user's file's defaults until 2026-12
               "--no-bidirectional", "--lstm-init", "chapter"],
    "chapter": CHAPTER + ["--embed-scale", "0.01", "--lstm-init", "chapter"],
    "chapter-embed1": CHAPTER + ["--embed-scale", "1", "--lstm-init", "chapter"],  # the oracle study's one change
    "transformer": ["--model", "transformer"],  # the Transformer at its own defaults (TransformerSeq2seq.defaults)
    # Transformer pilots (2026-12-07, docs/results.md#the-transformer-on-users-files), each one change from a base
    "tf-base": TRANSFORMER,
    "tf-w64-lr3e-3": TF64,  # the defaults chosen, written out
    "tf64-drop0": TF64 + ["--dropout", "0"],
    "tf64-l3": TF64 + ["--layers", "3"],
    "tf64-warm100": TF64 + ["--warmup-steps", "100"],
}
TIERS = {"full": {"seeds": [0, 1, 2, 3, 4], "epochs": None}, "quick": {"seeds": [0, 1], "epochs": 3}}


def record_path(results, tier, task, settings, seed):
    return Path(results) / tier / f"{task}.{settings}.seed{seed}.json"


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_command(task, train, valid, settings, seed, run_dir, epochs):
    """The `jumok train` command line of one run (without the interpreter)."""
    command = ["train", "--data", shown(train), "--valid", shown(valid)]
    command += ["--target-tokens", task.target_tokens] if task.target_tokens != "char" else []
    command += SETTINGS[settings] + ["--seed", str(seed)]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    return command + ["--out", shown(run_dir), "--quiet"]


def shown(path):
    """``path`` relative to the repository when inside it (the runs start there), else absolute."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def resume_command(run_dir, epochs):
    return ["train", "--resume", shown(run_dir), "--quiet"] + (["--epochs", str(epochs)] if epochs is not None else [])


def summarize(history, target):
    """Target reached?, seconds and epoch to it, and the best epoch, from history.json's entries."""
    seconds, reached = 0.0, None
    for entry in history:
        seconds += entry["seconds"]
        if target is not None and reached is None and entry["valid_exact_match"] >= target:
            reached = {"epoch": entry["epoch"], "seconds": round(seconds, 1)}
    best = max(history, key=lambda e: (e["valid_exact_match"], -e["valid_token_error_rate"]))
    return {"reached": reached is not None, "epoch_to_target": reached and reached["epoch"],
            "seconds_to_target": reached and reached["seconds"], "training_seconds": round(seconds, 1),
            "best_epoch": best["epoch"], "best_exact_match": best["valid_exact_match"],
            "exact_match": [e["valid_exact_match"] for e in history]}


def run_jumok(command, log_path, stop_when=None, threads=None):
    """Run ``python -m jumok COMMAND`` from the repository, output appended to ``log_path``; the exit status.

    ``stop_when``: a function polled every second; once it is true the run is interrupted
    (Ctrl-C: jumok keeps its last checkpoint and exits with 130). ``threads``: the BLAS
    threads of the run (`benchmarks.common.blas_threads`), when not the default.
    """
    env = child_env(threads)
    with open(log_path, "a") as log:
        process = subprocess.Popen([sys.executable, "-m", "jumok", *command], stdout=log, stderr=subprocess.STDOUT,
                                   env=env, cwd=ROOT, preexec_fn=hear_ctrl_c)
        while True:
            try:
                return process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                if stop_when is not None and stop_when():
                    process.send_signal(signal.SIGINT)
                    stop_when = None


def hear_ctrl_c():
    """In the child: Ctrl-C's default disposition, which a suite started in the background
    (``nohup ... &``) would otherwise pass down as ignored, so the interrupt would be lost."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def reached_target(history_path, target):
    """A function telling whether the run's history.json shows an epoch at or above ``target``."""
    def reached():
        try:
            history = json.loads(Path(history_path).read_text())
        except (OSError, ValueError):
            return False
        return any(entry["valid_exact_match"] >= target for entry in history)
    return reached


def run_one(task, tier, settings, seed, args):
    """Train one run (or resume it) and write its record; a run with a record is skipped."""
    path = record_path(args.results, tier, task.name, settings, seed)
    if path.exists():
        return json.loads(path.read_text())
    train, valid = task_files(task, args.data_dir, quick=tier == "quick")
    run_dir = Path(args.runs) / tier / task.name / settings / f"seed{seed}"
    resuming = (run_dir / "last.npz").exists()
    command = resume_command(run_dir, args.epochs) if resuming else train_command(
        task, train, valid, settings, seed, run_dir, args.epochs)
    print(f"{tier} {task.name} {settings} seed {seed}: jumok {' '.join(command)}", flush=True)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    until = args.until_target and task.target is not None
    stop_when = reached_target(run_dir / "history.json", task.target) if until else None
    returncode = run_jumok(command, f"{run_dir}.log", stop_when=stop_when, threads=args.threads)
    stopped = until and returncode == INTERRUPTED and stop_when()
    if returncode and not stopped:
        print(f"  failed (exit {returncode}); see {run_dir}.log", flush=True)
        return None
    history = json.loads((run_dir / "history.json").read_text())
    record = {"task": task.name, "tier": tier, "settings": settings, "seed": seed, "target": task.target,
              "command": "jumok " + " ".join(train_command(task, train, valid, settings, seed, run_dir, args.epochs)),
              "resumed": resuming, "stopped_at_target": bool(stopped), "blas_threads": args.threads,
              "jobs": args.jobs, "data": {"train": shown(train), "valid": shown(valid), "train_sha256": sha256(train),
                                           "valid_sha256": sha256(valid)},
              "commit": git_commit(), "host": socket.gethostname(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              **summarize(history, task.target), "history": history}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(record, indent=1) + "\n")
    best = f"best {100 * record['best_exact_match']:.2f} % (epoch {record['best_epoch']})"
    print(f"  {best}; target {'reached at ' + str(record['seconds_to_target']) + ' s' if record['reached'] else 'not reached'}",
          flush=True)
    return record


INTERRUPTED = 130  # jumok's exit status after Ctrl-C


def git_commit():
    """The checkout's commit (the jumok that trained), or None outside git."""
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or None


def percent(value, digits=2):
    return f"{100 * value:.{digits}f}"


def table(records):
    """Markdown table of records (dicts as `run_one` writes), one row per tier × task × settings."""
    rows = {}
    for record in records:
        rows.setdefault((record["tier"], record["task"], record["settings"]), []).append(record)
    lines = ["| task | settings | tier | target | seeds reaching it | s to target: median (range) "
             "| best exact match % per seed (epoch) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    order = {name: i for i, name in enumerate(TASKS)}
    for (tier, task, settings), group in sorted(rows.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99),
                                                                               kv[0][2] != "defaults")):
        group.sort(key=lambda r: r["seed"])
        target = group[0]["target"]
        best = ", ".join(f"{percent(r['best_exact_match'])} ({r['best_epoch']})" for r in group)
        if target is None:  # word error only
            best = "word error " + ", ".join(f"{percent(1 - r['best_exact_match'])} ({r['best_epoch']})" for r in group)
            lines.append(f"| {task} | {settings} | {tier} | — | — | — | {best} |")
            continue
        seconds = [r["seconds_to_target"] for r in group if r["reached"]]
        spread = (f"{statistics.median(seconds):.0f} ({min(seconds):.0f}–{max(seconds):.0f})" if seconds else "—")
        reached = sum(r["reached"] for r in group)
        lines.append(f"| {task} | {settings} | {tier} | {percent(target, 1)} % | {reached} / {len(group)} | {spread} | {best} |")
    return "\n".join(lines) + "\n"


PAIRS = (("defaults", "torch-defaults"), ("chapter", "torch-chapter"))
"""jumok's settings and the oracle's that follow them, compared side by side."""


def oracle_table(records):
    """Markdown table, per task and pair of `PAIRS` with records on both sides: the seeds
    reaching the target and the median seconds to it, jumok's and PyTorch's, and their ratio."""
    groups = {}
    for record in records:
        groups.setdefault((record["task"], record["settings"]), []).append(record)
    lines = ["| task | settings | jumok: seeds at target | PyTorch: seeds at target | jumok: median s to target "
             "| PyTorch: median s to target | jumok ÷ PyTorch |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for task in TASKS:
        for ours, theirs in PAIRS:
            if (task, ours) not in groups or (task, theirs) not in groups or TASKS[task].target is None:
                continue
            sides = [groups[task, ours], groups[task, theirs]]
            reached = [f"{sum(r['reached'] for r in side)} / {len(side)}" for side in sides]
            medians = [statistics.median(s) if (s := [r["seconds_to_target"] for r in side if r["reached"]]) else None
                       for side in sides]
            ratio = f"{medians[0] / medians[1]:.2f}" if None not in medians else "—"
            cells = [f"{m:.0f}" if m is not None else "—" for m in medians]
            lines.append(f"| {task} | {ours} | {reached[0]} | {reached[1]} | {cells[0]} | {cells[1]} | {ratio} |")
    return "\n".join(lines) + "\n"


def epoch_table(records):
    """Markdown table of validation exact match (%) after every epoch, one row per run."""
    epochs = max((len(r["exact_match"]) for r in records), default=0)
    lines = ["| task | settings | tier | seed | " + " | ".join(f"epoch {i}" for i in range(1, epochs + 1)) + " |",
             "| --- | --- | --- | --- |" + " --- |" * epochs]
    order = {name: i for i, name in enumerate(TASKS)}
    for r in sorted(records, key=lambda r: (r["tier"], order.get(r["task"], 99), r["settings"] != "defaults", r["seed"])):
        cells = [percent(em) for em in r["exact_match"]] + [""] * (epochs - len(r["exact_match"]))
        lines.append(f"| {r['task']} | {r['settings']} | {r['tier']} | {r['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def read_records(results, tier):
    return [json.loads(p.read_text()) for p in sorted((Path(results) / tier).glob("*.seed*.json"))]


def suite_parser(doc, settings):
    """The arguments the suite and its PyTorch oracle share (``settings``: the names offered)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick tier: sliced files, 2 seeds, at most 3 epochs")
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--settings", nargs="+", choices=list(settings), default=list(settings))
    parser.add_argument("--seeds", nargs="+", type=int, help="run seeds (default: the tier's)")
    parser.add_argument("--data-dir", default=str(ROOT / "experiments" / "robustness-data"))
    parser.add_argument("--results", default=str(RESULTS / "robustness"))
    parser.add_argument("--until-target", action="store_true",
                        help="end each run after its first epoch at the task's target (saves the epochs after; "
                             "the record says so); g2p, without a target, runs to its end")
    return parser


def parse_args(argv=None):
    parser = suite_parser(__doc__, SETTINGS)
    parser.add_argument("--epochs", type=int, help="pass --epochs N to every run (default: the tier's cap, "
                                                   "none for full = jumok's default)")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "robustness"), help="run directories")
    parser.add_argument("--table-only", action="store_true", help="print the tier's table from its records, run nothing")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (each with --threads BLAS threads)")
    parser.add_argument("--threads", type=int, help="BLAS threads per run (default: 1 with --jobs > 1, else BLAS's own)")
    args = parser.parse_args(argv)
    tier = TIERS["quick" if args.quick else "full"]
    args.seeds = args.seeds if args.seeds is not None else tier["seeds"]
    args.epochs = args.epochs if args.epochs is not None else tier["epochs"]
    if args.threads is None and args.jobs > 1:
        args.threads = 1
    return args


def main(argv=None):
    args = parse_args(argv)
    tier = "quick" if args.quick else "full"
    if not args.table_only:
        runs = []
        if args.quick:
            print("quick tier: the files' first lines — " + ", ".join(
                f"{name} {TASKS[name].quick[0]:,} / {TASKS[name].quick[1]:,}" for name in args.tasks)
                + f"; seeds {args.seeds}; --epochs {args.epochs}", flush=True)
        for name in args.tasks:
            task = TASKS[name]
            if task.needs and not available(task.needs):
                print(f"{name}: skipped, needs {task.needs} (pip install '.[bench]')", flush=True)
                continue
            runs += [(task, settings, seed) for settings in args.settings for seed in args.seeds]
        with ThreadPoolExecutor(args.jobs) as pool:  # each thread waits on its own `jumok train` process
            list(pool.map(lambda run: run_one(run[0], tier, *run[1:], args), runs))
    records = read_records(args.results, tier)
    text = (table(records) + "\njumok beside the PyTorch oracle:\n\n" + oracle_table(records)
            + "\nValidation exact match (%) after each epoch:\n\n" + epoch_table(records))
    write_text(Path(args.results) / tier / "table.md", text)
    print(text, end="")


def available(module):
    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    main()
