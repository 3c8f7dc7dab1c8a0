"""The whole data-parallel training step and a sharded greedy decode: jumok with one
process, one worker and N workers next to PyTorch on the CPU, at the chapter's shapes.

    PYTHONPATH=src python -m benchmarks.parallel [--workers 2 4] [--rounds 5] [--quick] [--torch-python PY]
        [--slices 64 32 16 8 4 2] [--out PATH.json]
    PYTHONPATH=src python -m benchmarks.parallel --epoch [--workers 2] [--n-examples 50000] [--out PATH.json]
    PYTHONPATH=src python -m benchmarks.parallel --predict RECORD.json

Rows, each in processes of its own, one after another, and all of them again in each of
``--rounds`` rounds (default 5), so that a minute in which the machine is slower falls on
every row alike rather than on one; each row's figures are its medians over the rounds, and
the ratios are given round by round:
- jumok, 1 process: `jumok train`'s default, NumPy's BLAS with its default threads;
- jumok, 1 worker: the same with one BLAS thread (what each rank of a job uses);
- jumok, N workers: ``mpiexec -n N``, one BLAS thread per rank;
- PyTorch (CPU, default threads), run by ``--torch-python`` (default this Python) when it
  can import torch.

Shapes and batches as in `python -m benchmarks` (batch 128, source 29, target 11, vocabulary
59, embedding 16, hidden 256, synthetic batches). A step is the *whole* global step: every
rank's forward and backward on its slice of the batch (its loss divided by the whole
batch's target count), the Allreduce of the gradients, clipping to 5 and Adam; every rank
starts a step together (a barrier) and the step's time is that of the slowest rank; the
figure is the median over the timed steps after warm-up ones (`benchmarks.common.median_time`). Beside it, rank 0's medians
of its parts: compute (forward + backward), the gradient Allreduce, clipping + Adam, and the
matrix products of its slice timed alone (`benchmarks.products`; the rest of compute is the
gates, softmax, loss and Python).

The bound: N cores can at best share out the work that one core does for the whole batch,
so N workers can be at most N × t(1 process) ÷ t(1 worker) as fast as one process — less,
since a slice of the batch multiplies less efficiently and the Allreduce and Adam come on
top. One process already runs its matrix products on every core, so the more of the step
they are, the lower the bound (`benchmarks.cost_model.bound`).

Decoding: 5,000 sources greedily, each rank its contiguous shard in batches of 500, the
output tokens gathered in input order on every rank; again the slowest rank's time.

``--slices`` adds one-worker steps on batches of those sizes (one BLAS thread): the compute
of one rank when the batch of 128 is cut into 128 / size slices, for the cost model of
docs/speed.md (benchmarks/cost_model.py).

``--epoch``: one ``jumok train`` epoch at the chapter's settings (those of
`benchmarks.epoch`: generated dates, 45,000 training pairs, batch 128, Adam 1e-3, clip 5,
reversed input) with one worker, one worker with one BLAS thread (for the bound) and then
each ``--workers`` count, back to back, each a fresh command: wall time from start to exit
(launch, data, training, validation, pictures) and the training seconds history.json
records; then the PyTorch model's epoch on the same pairs
(`benchmarks.torch_train.train_torch`, default threads; wall time of its command:
launch, data, training, validation); benchmarks/parallel_epoch.py.

``--predict RECORD.json``: the cost model's speed-ups at 8–64 ranks from a record made with
``--slices`` (benchmarks/cost_model.py).
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import cost_model, parallel_epoch
from benchmarks.cost_model import bound
from benchmarks.common import BOS, NEVER, blas_threads, machine, make_batches, median_time, run_row, write_record
from benchmarks.products import numpy_products, training_step_products
from benchmarks.step import torch_rows
from jumok.decoding import Search, decode
from jumok.launch import find_mpiexec
from jumok.models import AttentionSeq2seq
from jumok.optim import Adam, clip_grad_norm
from jumok.parallel import GradientSum, get_world
from jumok.threads import StepThreads, usable_threads

JOB_SETTINGS = dict(N=128, S=29, T=11, V=59, D=16, H=256, warmup=3, repeats=30, decode_examples=5000,
                    decode_batch=500, decode_repeats=3)
QUICK = dict(N=16, warmup=1, repeats=3, decode_examples=200, decode_batch=100, decode_repeats=1)


def job(cfg):
    """One rank's part (run under mpiexec, or alone): prints rank 0's JSON result line."""
    world = get_world()
    N, S, T, V, D, H = (cfg[k] for k in ("N", "S", "T", "V", "D", "H"))
    rng = np.random.default_rng(0)
    batches = make_batches(rng, 4, N, S, T, V)
    sources = rng.integers(3, V, size=(cfg["decode_examples"], S))
    model = AttentionSeq2seq(V, V, D, H, rng=np.random.default_rng(1))
    rows = world.rows(N)
    parts = {"compute": [], "allreduce": [], "optimizer": []}
    step = global_step(model, world, rows, parts)
    step_s = median_time(step, batches, cfg["warmup"], cfg["repeats"], start=world.barrier, combine=world.max)
    world.agree([p for _, p, _ in model.named_parameters()])
    parts_s = {name: statistics.median(seconds[cfg["warmup"]:]) for name, seconds in parts.items()}
    products = numpy_products(training_step_products(rows.stop - rows.start, S, T, D, H, V))
    world.barrier()
    parts_s["products"] = median_time(products, [None], cfg["warmup"], cfg["repeats"])

    tokens = []
    decode = sharded_decode(model, world, sources, cfg["decode_batch"], T, tokens)
    decode_s = median_time(decode, [None], 1, cfg["decode_repeats"], start=world.barrier, combine=world.max)
    assert len(tokens) == len(sources)
    if world.is_root:
        print(json.dumps({"ranks": world.size, "train_step_s": step_s, "parts_s": parts_s, "decode_s": decode_s}))


def global_step(model, world, rows, parts, threads=1):
    """This rank's part of a global step on a batch: forward and backward on its `rows` (its
    loss divided by the whole batch's target count; in `threads` threads, each on its share,
    as `jumok train --threads` runs them), the gradients' Allreduce, clipping to 5 and Adam;
    appends the seconds of each part, every step, to `parts`."""
    optimizer = Adam(model, lr=1e-3)
    gradient_sum = GradientSum(model, world)
    grads = [(name, g) for name, _, g in model.named_parameters()]
    shares = StepThreads(model, threads) if threads > 1 else None

    def step(batch):
        t0 = time.perf_counter()
        if shares:
            shares.forward_backward(tuple(a[rows] for a in batch), int(batch[4].sum()))
        else:
            model.forward(*(a[rows] for a in batch), count=int(batch[4].sum()))
            model.zero_grad()
            model.backward()
        t1 = time.perf_counter()
        gradient_sum()
        t2 = time.perf_counter()
        clip_grad_norm(grads, 5.0)
        optimizer.step()
        t3 = time.perf_counter()
        for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
            parts[name].append(seconds)

    return step


def sharded_decode(model, world, sources, batch, T, tokens, threads=None):
    """Greedy decoding of this rank's contiguous shard of `sources` in batches of `batch`, as
    `jumok.decoding.decode` does it (in `threads` threads, by default `usable_threads`: the
    cores of one process, one thread in a rank or with one BLAS thread), the output tokens
    gathered in input order into `tokens` on every rank."""
    search = Search(BOS, NEVER, T, rows=batch, threads=threads or usable_threads())
    mine = [list(ids) for ids in world.shard(sources)]  # id lists, as decode takes them: not timed

    def run(_):
        found = decode(model, mine, 0, search)
        tokens[:] = world.gather([best.tokens.tolist() for (best,) in found])

    return run


def torch_job(cfg):
    """PyTorch's step and decode at the same shapes (benchmarks/step.py's rows)."""
    import torch

    N, S, T, V, D, H = (cfg[k] for k in ("N", "S", "T", "V", "D", "H"))
    rng = np.random.default_rng(0)
    batches = make_batches(rng, 4, N, S, T, V)
    sources = rng.integers(3, V, size=(cfg["decode_examples"], S))
    state = AttentionSeq2seq(V, V, D, H, rng=np.random.default_rng(1)).state_dict()
    settings = {**cfg, "vocab": V, "embed": D, "hidden": H}
    result = torch_rows(state, batches, sources, settings, torch.get_num_threads(),
                        training_step_products(N, S, T, D, H, V))
    print(json.dumps({"version": result["version"], "threads": result["threads"], "train_step_s": result["train"],
                      "decode_s": result["decode"]}))


def can_import_torch(python):
    return subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0


def in_rounds(commands, rounds):
    """{row name: [its result in each round]}: every command once per round, the rows in turn."""
    results = {name: [] for name in commands}
    for _ in range(rounds):
        for name, (command, env) in commands.items():
            results[name].append(run_row(command, env))
    return results


def medians(results):
    """One row from its rounds' results: the median of every number (of every entry of
    `parts_s` and `layers_s` too; None where no round has one), the other entries of the first
    round, and the rounds themselves."""
    def median(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    row = dict(results[0])
    for key, value in results[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) or value is None:
            row[key] = median([r.get(key) for r in results])
        elif key in ("parts_s", "layers_s") and value is not None:
            row[key] = {k: median([r[key][k] for r in results]) for k in value}
    return {**row, "rounds": results}


def ratios(rounds, workers):
    """Round by round: N workers' throughput ÷ one process's, its `bound`, and N workers'
    step ÷ PyTorch's."""
    step = {name: [r["train_step_s"] for r in results] for name, results in rounds.items()}
    one, single = step["jumok, 1 process"], step["jumok, 1 worker (1 BLAS thread)"]
    result = {}
    for n in workers:
        mine = step[f"jumok, {n} workers"]
        result[f"{n} workers × 1 process"] = [a / b for a, b in zip(one, mine)]
        result[f"bound for {n} workers"] = [bound(a, b, n) for a, b in zip(one, single)]
        if "PyTorch" in step:
            result[f"{n} workers ÷ PyTorch's step"] = [a / b for a, b in zip(mine, step["PyTorch"])]
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[2], help="worker counts to run (default 2)")
    parser.add_argument("--rounds", type=int, default=5, help="times every row is run, the rows in turn (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: batch 16, few repeats, small decode, one round")
    parser.add_argument("--torch-python", default=sys.executable, help="a Python that can import torch")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--out", help="JSON path (default benchmarks/results/parallel-<host>-<date>.json)")
    parser.add_argument("--slices", type=int, nargs="*", default=[], metavar="ROWS",
                        help="also time one worker's step on batches of these sizes (the cost model's slices)")
    parser.add_argument("--epoch", action="store_true", help="time end-to-end jumok train epochs instead")
    parser.add_argument("--n-examples", type=int, default=50_000, help="--epoch: dates generated (default 50,000)")
    parser.add_argument("--predict", metavar="RECORD.json", help="print the cost model's speed-ups from a record")
    parser.add_argument("--job", choices=["jumok", "torch", "torch-epoch"], help=argparse.SUPPRESS)
    parser.add_argument("--job-batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cfg = {**JOB_SETTINGS, **(QUICK if args.quick else {})}
    if args.job_batch:
        cfg["N"] = args.job_batch
    if args.job == "torch-epoch":
        return parallel_epoch.torch_epoch(args.n_examples)
    if args.job:
        return job(cfg) if args.job == "jumok" else torch_job(cfg)
    if args.predict:
        return cost_model.predict(json.loads(Path(args.predict).read_text()))

    before = os.getloadavg()
    torch_python = None if args.no_torch or not can_import_torch(args.torch_python) else args.torch_python
    if args.epoch:
        rows = parallel_epoch.epoch_rows(args.workers, args.n_examples, torch_python)
        record = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
                  "machine": machine(load_average_before=before, load_average_after=os.getloadavg()), "rows": rows}
        return write_record(record, args.out, kind="parallel-epoch") and 0
    rows, by_round, slices = step_rows(args, torch_python)
    print_table(cfg, rows, by_round, slices)
    record = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "quick": args.quick, "settings": cfg,
              "machine": machine(load_average_before=before, load_average_after=os.getloadavg()), "rows": rows,
              "ratios_by_round": by_round, "slices": {str(size): row for size, row in slices.items()}}
    write_record(record, args.out, kind="parallel")


def step_rows(args, torch_python):
    """Every row, each in processes of its own, in rounds; then the slices: (rows, ratios round
    by round, slices)."""
    me = [sys.executable, "-m", "benchmarks.parallel", *(["--quick"] if args.quick else [])]
    commands = {"jumok, 1 process": ([*me, "--job", "jumok"], dict(os.environ)),
                "jumok, 1 worker (1 BLAS thread)": ([*me, "--job", "jumok"], blas_threads(1))}
    for n in args.workers:
        commands[f"jumok, {n} workers"] = ([find_mpiexec(), "-n", str(n), *me, "--job", "jumok"], blas_threads(1))
    if torch_python is not None:
        commands["PyTorch"] = ([torch_python, *me[1:], "--job", "torch"], dict(os.environ))
    rounds = in_rounds(commands, 1 if args.quick else args.rounds)
    slices = {size: run_row([*me, "--job", "jumok", "--job-batch", str(size)], blas_threads(1)) for size in args.slices}
    return {name: medians(results) for name, results in rounds.items()}, ratios(rounds, args.workers), slices


def print_table(cfg, rows, by_round, slices):
    base = rows["jumok, 1 process"]["train_step_s"]
    torch_step = rows.get("PyTorch", {}).get("train_step_s")
    print(f"batch {cfg['N']}, source {cfg['S']}, target {cfg['T']}, vocab {cfg['V']}, embed {cfg['D']}, "
          f"hidden {cfg['H']}; {os.cpu_count()} CPUs\n")
    print("| set-up | s / global step | examples / s | × 1 process | ÷ PyTorch's step | compute | products alone | "
          f"Allreduce | clip + Adam | s / {cfg['decode_examples']} decoded |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        step = row["train_step_s"]
        parts = row.get("parts_s", {})
        cells = [f"{step:.4f}", f"{cfg['N'] / step:,.0f}", f"{base / step:.2f}",
                 "—" if torch_step is None else f"{step / torch_step:.2f}",
                 *(f"{parts[k]:.4f}" if k in parts else "—"
                   for k in ("compute", "products", "allreduce", "optimizer")),
                 f"{row['decode_s']:.3f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\nround by round ({len(rows['jumok, 1 process']['rounds'])} rounds):")
    for name, values in by_round.items():
        print(f"  {name}: " + ", ".join(f"{v:.2f}" for v in values) + f" (median {statistics.median(values):.2f})")
    if slices:
        print("\none worker's step on a slice of the batch (1 BLAS thread): "
              + ", ".join(f"{size} rows {row['train_step_s'] * 1e3:.1f} ms" for size, row in slices.items()))


if __name__ == "__main__":
    sys.exit(main())
