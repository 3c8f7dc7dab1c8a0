"""The robustness suite's oracle: the same tasks and seeds through the PyTorch model.

    PYTHONPATH=src:. python -m experiments.robustness_oracle [--quick] [--tasks T ...]
        [--settings torch-chapter torch-defaults] [--seeds N ...] [--epochs N] [--data-dir DIR]
        [--results DIR] [--threads N] [--until-target]

Each run trains benchmarks/torch_model.py's `TorchAttentionSeq2seq` (PyTorch 2.13, CPU) on a
task's two TSV files (experiments/robustness_tasks.py) and leaves a record in the format of
experiments/robustness.py's `run_one`, RESULTS/TIER/TASK.SETTINGS.seedN.json, so the suite's
table shows the oracle's rows beside jumok's; a run with a record is never redone.

Everything but the network is jumok's: the files are read, tokenised and encoded by
`jumok.data.prepare` (vocabularies, datasets, the decoding limit: the longest training target
+ max(2, longest // 2)); batches come from `Dataset.batches_in`, in one permutation per epoch
of a NumPy generator seeded with the run seed; validation decodes greedily each unique source
and scores it against all its references as `jumok.evaluation.evaluate_dataset` does.

The network differs from jumok's in three ways, all PyTorch's defaults (the model is built
after ``torch.manual_seed(seed)``, no jumok weights are loaded): its own initialisation
(embeddings N(0, 1), LSTM and linear U(±1/√fan)), two LSTM bias vectors (b_ih + b_hh, which
learn at twice the rate) and Adam's ε added to the bias-corrected √v̂; see
docs/results.md#why-pytorch-learns-faster-on-the-same-maths. The encoder reads a packed
sequence, so it never reads padding, as jumok's masked LSTM does not; it reads both ways when
the settings say so (jumok's ``bidirectional``, as its defaults for a file do).

Settings (`SETTINGS`): each follows one of the suite's jumok settings, read from the very
`jumok train` command line the suite runs (`jumok_config`), and jumok's own bookkeeping
(`jumok.rundir.state.Progress`) decides the best epoch, the learning-rate schedule and when to
stop. ``torch-chapter`` follows ``chapter`` (reversed sources, Adam 1e-3 constant, 3 epochs);
``torch-defaults`` follows ``defaults``, whatever jumok's defaults for a user's file are
(docs/results.md#defaults-for-a-users-file): today a two-way encoder, Adam 3e-3 halved
after each epoch that is not the best, stopping after three epochs that improve neither
exact match nor token error rate. The Adam is torch.optim.Adam (β 0.9 / 0.999,
ε 1e-8); the clip is torch.nn.utils.clip_grad_norm_.

``--quick`` runs the quick tier's file slices and seeds with at most 3 epochs; ``--until-target``
stops a run after the first epoch at the task's target (``"stopped_at_target": true``).
"""

import datetime
import json
import socket
import time
from pathlib import Path

import numpy as np

from experiments.robustness import (TIERS, available, git_commit, record_path, sha256, shown, suite_parser,
                                    summarize, train_command)
from experiments.robustness_tasks import TASKS, task_files
from jumok.atomic import write_text
from jumok.data.batching import pad
from jumok.data.prepare import prepare
from jumok.evaluation import first_of_each
from jumok.layers.stack import reversal_index
from jumok.metrics import group_references, multi_reference_score
from jumok.rundir.state import Progress

SETTINGS = {"torch-chapter": "chapter", "torch-defaults": "defaults"}
"""Each oracle setting and the `experiments.robustness.SETTINGS` entry whose `jumok train`
command line it follows."""


def jumok_config(task, train, valid, settings):
    """The `Config` that `jumok train` runs for this task at the jumok settings that the oracle
    setting ``settings`` follows: the oracle takes its sizes, batch, clip, learning rate and
    schedule, stopping rule, epochs and reversal from it, so it always trains as jumok does."""
    from jumok.cli import build_parser
    from jumok.cli.train import settings_from_args

    argv = train_command(task, train, valid, SETTINGS[settings], 0, "unused", None)
    return settings_from_args(build_parser().parse_args(argv))[0]


def source_arrays(src, src_mask, reverse):
    """Padded sources (N, S) and mask (N, S) as torch tensors, each source reversed within its
    real length when ``reverse`` (jumok's ``--reverse``: `jumok.layers.stack.reversal_index`)."""
    import torch

    if reverse:
        src = np.take_along_axis(src, reversal_index(src_mask), axis=1)
    return torch.from_numpy(src), torch.from_numpy(src_mask)


def validate(model, dataset, max_len, reverse, batch_size=256):
    """Greedy decoding of each unique validation source, scored against all its references
    (as `jumok.evaluation.evaluate_dataset`): {"n", "exact_match", "token_error_rate"}."""
    _, references, index = group_references([s for s, _ in dataset.pairs], [t for _, t in dataset.pairs])
    ids = [dataset.sources[pair] for pair in first_of_each(index)]
    vocab, predictions = dataset.tgt_vocab, []
    for start in range(0, len(ids), batch_size):
        src, src_mask = source_arrays(*pad(ids[start:start + batch_size], dataset.src_vocab.pad_id), reverse)
        out = model.greedy(src, src_mask, vocab.bos_id, vocab.eos_id, max_len)  # (N, ≤ max_len)
        predictions.extend(vocab.decode(row) for row in out.numpy())  # up to the first end token
    return multi_reference_score(predictions, references)


def batch_loss(model, batch, reverse):
    """The PyTorch model's mean cross-entropy over a jumok `Batch`'s real target tokens."""
    import torch

    src, src_mask = source_arrays(batch.src, batch.src_mask, reverse)
    tgt_mask = torch.from_numpy(batch.tgt_mask).to(torch.float32)
    return model(src, src_mask, torch.from_numpy(batch.tgt_in), torch.from_numpy(batch.tgt_out), tgt_mask)


def validation_loss(model, dataset, reverse, batch_size=256):
    """Mean cross-entropy per real target token over `dataset`, teacher-forced (as
    `jumok.evaluation.validation_loss`)."""
    import torch

    total = tokens = 0.0
    with torch.no_grad():
        for batch in dataset.batches(batch_size):
            loss = batch_loss(model, batch, reverse)
            count = int(batch.tgt_mask.sum())
            total, tokens = total + float(loss) * count, tokens + count
    return total / max(tokens, 1)


def train_run(task, train, valid, settings, seed, epochs=None, until_target=False, changes=None, log=print):
    """Train one run of the suite; returns (history as jumok's history.json, stopped at the target?).

    ``epochs`` (if given) and ``changes`` (`Config` fields, e.g. a tiny hidden size for tests)
    replace the jumok settings' own."""
    config = jumok_config(task, train, valid, settings).replace(**(changes or {}))
    config = config.replace(epochs=epochs) if epochs is not None else config
    return train_torch(config, seed, task.target if until_target else None, log, f"{task.name} {settings} seed {seed}")


def train_torch(config, seed, target=None, log=print, name=""):
    """Train the PyTorch model on the data of the jumok `config` (any task), as `config` says;
    stop after the first epoch at the validation exact match `target` if one is given.
    Returns (history as jumok's history.json, stopped at the target?)."""
    import torch

    from benchmarks.torch_model import TorchAttentionSeq2seq

    config, train_set, valid_set = prepare(config, log=lambda *_: None)
    torch.manual_seed(seed)
    if config.layers != 1 or config.dropout or config.model != "attention" or config.attention != "dot":
        raise ValueError("the PyTorch model has one layer, no dropout and dot attention")
    model = TorchAttentionSeq2seq(len(train_set.src_vocab), len(train_set.tgt_vocab), config.embed_size,
                                  config.hidden_size, packed=True, bidirectional=config.bidirectional)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.999), eps=1e-8)
    progress, lr = Progress(), config.lr  # jumok's validation bookkeeping: best, schedule, patience
    rng = np.random.default_rng(seed)
    for epoch in range(1, config.epochs + 1):
        start, loss_sum, tokens = time.perf_counter(), 0.0, 0
        for batch in train_set.batches_in(rng.permutation(len(train_set)), config.batch_size):
            loss = batch_loss(model, batch, config.reverse)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            n = int(batch.tgt_mask.sum())
            loss_sum, tokens = loss_sum + float(loss.detach()) * n, tokens + n
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        metrics = validate(model, valid_set, config.max_output_length, config.reverse)
        progress.record({"epoch": epoch, "train_loss": loss_sum / max(tokens, 1),
                         "valid_exact_match": metrics["exact_match"],
                         "valid_token_error_rate": metrics["token_error_rate"],
                         "valid_loss": validation_loss(model, valid_set, config.reverse), "seconds": seconds,
                         "eval_seconds": time.perf_counter() - start, "lr": lr})
        log(f"{name} epoch {epoch}: loss {loss_sum / max(tokens, 1):.4f}, "
            f"exact match {100 * metrics['exact_match']:.2f}% ({seconds:.1f} s training, lr {lr:g})")
        if target is not None and metrics["exact_match"] >= target:
            return progress.history, True
        if config.patience and progress.bad_epochs >= config.patience:
            log(f"  stopping early: no improvement for {progress.bad_epochs} epochs")
            break
        lr = progress.next_lr(lr, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
    return progress.history, False


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
