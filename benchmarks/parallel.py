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
- jumok, 1 process: today's default, NumPy's BLAS with its default threads;
- jumok, 1 worker: the same with one BLAS thread (what each rank of a job uses);
- jumok, N workers: ``mpiexec -n N``, one BLAS thread per rank;
- PyTorch (CPU, default threads), run by ``--torch-python`` (default this Python) when it
  can import torch.

Shapes and batches as in `python -m benchmarks` (batch 128, source 29, target 11, vocabulary
59, embedding 16, hidden 256, synthetic batches). A step is the *whole* global step: every
rank's forward and backward on its slice of the batch (its loss divided by the whole
batch's target count), the Allreduce of the gradients, clipping to 5 and Adam; every rank
starts a step together (a barrier) and the step's time is that of the slowest rank; the
figure is the median over the timed steps after warm-up ones. Beside it, rank 0's medians
of its parts: compute (forward + backward), the gradient Allreduce, clipping + Adam, and the
matrix products of its slice timed alone (`benchmarks.products`; the rest of compute is the
gates, softmax, loss and Python).

The bound: N cores can at best share out the work that one core does for the whole batch,
so N workers can be at most N × t(1 process) ÷ t(1 worker) as fast as one process — less,
since a slice of the batch multiplies less efficiently and the Allreduce and Adam come on
top. One process already runs its matrix products on every core, so the more of the step
they are, the lower the bound (`bound`).

Decoding: 5,000 sources greedily, each rank its contiguous shard in batches of 500, the
output tokens gathered in input order on every rank; again the slowest rank's time.

``--slices`` adds one-worker steps on batches of those sizes (one BLAS thread): the compute
of one rank when the batch of 128 is cut into 128 / size slices, for the cost model of
docs/speed.md, `predicted_speedup`.

``--epoch``: one ``jumok train`` epoch at the chapter's settings (those of
`benchmarks.epoch`: generated dates, 45,000 training pairs, batch 128, Adam 1e-3, clip 5,
reversed input) with one worker, one worker with one BLAS thread (for the bound) and then
each ``--workers`` count, back to back, each a fresh command: wall time from start to exit
(launch, data, training, validation, pictures) and the training seconds history.json
records; then the PyTorch model's epoch on the same pairs
(`experiments.robustness_oracle.train_torch`, default threads; wall time of its command:
launch, data, training, validation).

``--predict RECORD.json``: the cost model's speed-ups at 8–64 ranks from a record made with
``--slices`` (`NETWORKS`, `predicted_speedup`).
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import write_record

JOB_SETTINGS = dict(N=128, S=29, T=11, V=59, D=16, H=256, warmup=3, repeats=30, decode_examples=5000,
                    decode_batch=500, decode_repeats=3)
QUICK = dict(N=16, warmup=1, repeats=3, decode_examples=200, decode_batch=100, decode_repeats=1)
ONE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def job(cfg):
    """One rank's part (run under mpiexec, or alone): prints rank 0's JSON result line."""
    from benchmarks.__main__ import BOS, NEVER, make_batches, median_time
    from benchmarks.products import numpy_products, training_step_products
    from jumok.decoding import greedy_decode
    from jumok.models import AttentionSeq2seq
    from jumok.optim import Adam, clip_grad_norm
    from jumok.parallel import GradientSum, get_world

    world = get_world()
    N, S, T, V, D, H = (cfg[k] for k in ("N", "S", "T", "V", "D", "H"))
    rng = np.random.default_rng(0)
    batches = make_batches(rng, 4, N, S, T, V)
    sources = rng.integers(3, V, size=(cfg["decode_examples"], S))
    model = AttentionSeq2seq(V, V, D, H, rng=np.random.default_rng(1))
    optimizer = Adam(model, lr=1e-3)
    gradient_sum = GradientSum(model, world)
    grads = [(name, g) for name, _, g in model.named_parameters()]
    rows = world.rows(N)
    barrier = world.comm.Barrier if world.comm is not None else (lambda: None)

    parts = {"compute": [], "allreduce": [], "optimizer": []}
    steps = []
    for k in range(cfg["warmup"] + cfg["repeats"]):
        batch = batches[k % len(batches)]
        barrier()
        t0 = time.perf_counter()
        model.forward(*(a[rows] for a in batch), count=int(batch[4].sum()))
        model.zero_grad()
        model.backward()
        t1 = time.perf_counter()
        gradient_sum()
        t2 = time.perf_counter()
        clip_grad_norm(grads, 5.0)
        optimizer.step()
        t3 = time.perf_counter()
        slowest = world.max(t3 - t0)
        if k >= cfg["warmup"]:
            steps.append(slowest)
            for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
                parts[name].append(seconds)
    world.agree([p for _, p, _ in model.named_parameters()])
    products = numpy_products(training_step_products(rows.stop - rows.start, S, T, D, H, V))
    barrier()
    # one median, kept as a list like the other parts
    parts["products"] = [median_time(products, [None], cfg["warmup"], cfg["repeats"])]

    decodes = []
    for k in range(1 + cfg["decode_repeats"]):
        barrier()
        t0 = time.perf_counter()
        mine = world.shard(sources)
        tokens = []
        for i in range(0, len(mine), cfg["decode_batch"]):
            src = mine[i : i + cfg["decode_batch"]]
            out = greedy_decode(model, src, np.ones(src.shape, bool), BOS, NEVER, T)
            tokens.extend(out.tokens.tolist())
        tokens = world.gather(tokens)
        slowest = world.max(time.perf_counter() - t0)
        if k >= 1:
            decodes.append(slowest)
    assert len(tokens) == len(sources)
    if world.is_root:
        print(json.dumps({"ranks": world.size, "train_step_s": statistics.median(steps),
                          "parts_s": {name: statistics.median(v) for name, v in parts.items()},
                          "decode_s": statistics.median(decodes)}))


def torch_job(cfg):
    """PyTorch's step and decode at the same shapes (benchmarks/__main__.py's twin)."""
    import torch

    from benchmarks.__main__ import make_batches, torch_rows
    from benchmarks.products import training_step_products
    from jumok.models import AttentionSeq2seq

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


def allreduce_seconds(ranks, nbytes, latency, bandwidth):
    """Time of an Allreduce of `nbytes` over `ranks` ranks, the large-message algorithm of
    MPICH (reduce-scatter, then allgather; Rabenseifner 2004):

        T = 2 ⌈log₂ p⌉ α + 2 (p − 1) / p · n / β

    with latency α (seconds per message) and bandwidth β (bytes per second)."""
    steps = (ranks - 1).bit_length()  # ⌈log₂ p⌉
    return 2 * steps * latency + 2 * (ranks - 1) / ranks * nbytes / bandwidth


def predicted_speedup(one_process_s, slice_step_s, ranks, nbytes, latency, bandwidth):
    """Speed-up of a global step over `ranks` ranks against one process taking
    `one_process_s`: each rank computes its slice (`slice_step_s`, measured), then the
    gradients are summed (`allreduce_seconds`)."""
    return one_process_s / (slice_step_s + allreduce_seconds(ranks, nbytes, latency, bandwidth))


def torch_epoch(n_examples):
    """One chapter-settings epoch of the PyTorch model (`experiments.robustness_oracle.train_torch`,
    default threads) on the very pairs the jumok rows train on; prints its history entry."""
    from benchmarks.epoch import CHAPTER
    from experiments.robustness_oracle import train_torch
    from jumok.config import Config

    history, _ = train_torch(Config(**CHAPTER, n_examples=n_examples), seed=0, log=lambda *_: None)
    print(json.dumps(history[0]))


def epoch_rows(workers, n_examples, torch_python=None):
    """Wall and training seconds of one chapter-settings epoch of `jumok train` per worker count,
    one worker also with one BLAS thread (for the `bound`), then (with `torch_python`) of the
    PyTorch model's epoch on the same pairs."""
    from benchmarks.epoch import CHAPTER

    flags = [f"--{key.replace('_', '-')}={value}" for key, value in CHAPTER.items() if not isinstance(value, bool)]
    flags += [f"--{key}" for key, value in CHAPTER.items() if value is True]
    rows = {}
    runs = [("jumok, 1 worker", 1, os.environ), ("jumok, 1 worker (1 BLAS thread)", 1, {**os.environ, **ONE_THREAD}),
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


NETWORKS = {  # latency α (s), bandwidth β (bytes/s) of an MPI message; typical published figures
    "10 Gb/s Ethernet (TCP)": (25e-6, 1.1e9),
    "100 Gb/s InfiniBand": (2e-6, 11e9),
}
GRADIENT_BYTES = 591_259 * 4  # the chapter model's float32 gradients (V 59, D 16, H 256)


def predict(record):
    """Print the cost model's global-step speed-ups from a record's one-process step and slices."""
    base = record["rows"]["jumok, 1 process"]["train_step_s"]
    per_rank = record["settings"]["N"]
    print(f"one process, batch {per_rank}: {base * 1e3:.1f} ms; Allreduce of {GRADIENT_BYTES / 1e6:.2f} MB\n")
    print("| ranks | rows each | slice step | " + " | ".join(f"Allreduce, {n} | speed-up" for n in NETWORKS) + " |")
    print("| --- | --- | --- | " + " | ".join("--- | ---" for _ in NETWORKS) + " |")
    for ranks in (8, 16, 32, 64):
        rows = per_rank // ranks
        slice_s = record["slices"].get(str(rows), {}).get("train_step_s")
        if slice_s is None:
            continue
        cells = []
        for latency, bandwidth in NETWORKS.values():
            reduce_s = allreduce_seconds(ranks, GRADIENT_BYTES, latency, bandwidth)
            speedup = predicted_speedup(base, slice_s, ranks, GRADIENT_BYTES, latency, bandwidth)
            cells.append(f"{reduce_s * 1e3:.2f} ms | {speedup:.1f} ×")
        print(f"| {ranks} | {rows} | {slice_s * 1e3:.1f} ms | " + " | ".join(cells) + " |")
    one = record["rows"]["jumok, 1 worker (1 BLAS thread)"]["train_step_s"]
    print(f"\n{per_rank} rows per rank (the batch grows with the ranks; one rank's step {one * 1e3:.1f} ms): "
          "efficiency " + ", ".join(f"{n} at 64 ranks {one / (one + allreduce_seconds(64, GRADIENT_BYTES, *net)):.3f}"
                                    for n, net in NETWORKS.items()))


def can_import_torch(python):
    return subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0


def run_row(command, env, timeout=900):
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def in_rounds(commands, rounds):
    """{row name: [its result in each round]}: every command once per round, the rows in turn."""
    results = {name: [] for name in commands}
    for _ in range(rounds):
        for name, (command, env) in commands.items():
            results[name].append(run_row(command, env))
    return results


def medians(results):
    """One row from its rounds' results: the median of every figure, and the rounds themselves."""
    row = {key: statistics.median(r[key] for r in results) for key in ("train_step_s", "decode_s")}
    if "parts_s" in results[0]:
        row["parts_s"] = {key: statistics.median(r["parts_s"][key] for r in results) for key in results[0]["parts_s"]}
    return {**{k: v for k, v in results[0].items() if k not in row}, **row, "rounds": results}


def bound(one_process_s, one_worker_s, workers):
    """The most `workers` cores can gain over one process: N × t(1 process) ÷ t(1 worker), the
    speed-up if they shared out one core's work on the whole batch without any loss."""
    return workers * one_process_s / one_worker_s


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
        return torch_epoch(args.n_examples)
    if args.job:
        return job(cfg) if args.job == "jumok" else torch_job(cfg)
    if args.predict:
        return predict(json.loads(Path(args.predict).read_text()))

    from jumok.launch import find_mpiexec

    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
               "load_average_before": os.getloadavg()}
    if args.epoch:
        rows = epoch_rows(args.workers, args.n_examples, None if args.no_torch or not can_import_torch(args.torch_python)
                          else args.torch_python)
        machine["load_average_after"] = os.getloadavg()
        record = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine, "rows": rows}
        return write_record(record, args.out, kind="parallel-epoch") and 0

    me = [sys.executable, "-m", "benchmarks.parallel", *(["--quick"] if args.quick else [])]
    commands = {"jumok, 1 process": ([*me, "--job", "jumok"], dict(os.environ)),
                "jumok, 1 worker (1 BLAS thread)": ([*me, "--job", "jumok"], {**os.environ, **ONE_THREAD})}
    for n in args.workers:
        commands[f"jumok, {n} workers"] = ([find_mpiexec(), "-n", str(n), *me, "--job", "jumok"],
                                           {**os.environ, **ONE_THREAD})
    if not args.no_torch and can_import_torch(args.torch_python):
        commands["PyTorch"] = ([args.torch_python, *me[1:], "--job", "torch"], dict(os.environ))
    rounds = in_rounds(commands, 1 if args.quick else args.rounds)
    rows = {name: medians(results) for name, results in rounds.items()}
    slices = {rows: run_row([*me, "--job", "jumok", "--job-batch", str(rows)], {**os.environ, **ONE_THREAD})
              for rows in args.slices}
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
    by_round = ratios(rounds, args.workers)
    print(f"\nround by round ({len(rounds['jumok, 1 process'])} rounds):")
    for name, values in by_round.items():
        print(f"  {name}: " + ", ".join(f"{v:.2f}" for v in values) + f" (median {statistics.median(values):.2f})")
    if slices:
        print("\none worker's step on a slice of the batch (1 BLAS thread): "
              + ", ".join(f"{rows} rows {row['train_step_s'] * 1e3:.1f} ms" for rows, row in slices.items()))
    record = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "quick": args.quick, "settings": cfg,
              "machine": {**machine, "load_average_after": os.getloadavg()}, "rows": rows,
              "ratios_by_round": by_round, "slices": {str(rows): row for rows, row in slices.items()}}
    write_record(record, args.out, kind="parallel")


if __name__ == "__main__":
    sys.exit(main())
