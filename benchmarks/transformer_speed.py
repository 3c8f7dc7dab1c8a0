"""The Transformer's speed: a training step and greedy decoding of jumok's Transformer against
its PyTorch twin, at the G2P shapes and at the date shapes, and a G2P epoch end to end.

    PYTHONPATH=src python -m benchmarks.transformer_speed [--quick] [--shapes g2p dates] [--rounds 3]
        [--workers 2] [--no-torch] [--no-compile] [--no-epoch] [--out PATH.json]

Shapes (synthetic batches from `benchmarks.common.make_batches`: uniform random tokens
that fill every position, so there is no padding):
- g2p: batch 128, source 10, target 10 + <eos> (T = 11), the g2p task's vocabularies (31
  source characters and 43 target phones, specials included), width 128, 4 heads,
  feed-forward 512, 3 + 3 layers, dropout 0.1 (`Sizes()`). A word of 10 letters is at about
  the 85th percentile of the dictionary's training words (median 7).
- dates: the chapter's date shapes (batch 128, source 29, target 10 + <eos>, vocabulary 59,
  as `python -m benchmarks`) with the Transformer's own defaults (`TransformerSeq2seq.defaults`
  over `Config`: width 64, 4 heads, feed-forward 256, 2 + 2 layers, dropout 0.1).

A training step is forward, backward, global-norm clipping to 5 and Adam (lr 1e-3), in
training mode, with dropout at the shape's rate. jumok's model is drawn from seed 1 and the
twin (benchmarks/torch_transformer.py) is loaded with its weights. Each row records its
first loss, computed in evaluation mode (no dropout), so the two can be compared: they agree
up to float32 rounding (tests/benchmarks/test_transformer_speed.py).

Rows, each one in processes of its own. Every row runs once in each of ``--rounds`` rounds,
the rows in turn, as in `benchmarks.parallel`, so that a slow minute on the machine falls on
every row alike. The figures are medians over the rounds and the ratios go round by round:
- jumok, 1 process: NumPy's BLAS with its default threads (what `jumok train` does);
- jumok, 1 process in N threads (N the usable cores, when more than one): `jumok train
  --threads N`, each thread's forward and backward on its share of the batch with one BLAS
  thread (`jumok.threads.StepThreads`);
- jumok, 1 worker (1 BLAS thread): with the row above it gives the bound on N workers
  (`benchmarks.cost_model.bound`);
- jumok, N workers: ``mpiexec -n N``, one BLAS thread per rank, the whole global step of
  `benchmarks.parallel.global_step` (each rank's forward and backward on its slice, the
  gradients' Allreduce, clipping, Adam), timed by the slowest rank. As with
  `jumok train --workers N`, each rank's dropout gets its own rows of the whole batch's
  masks;
- the PyTorch twin with default threads: eager, then the same model torch.compile'd
  (default mode; the step around it is `TorchTrainer`'s clipping and Adam, as in eager).
  Where it does not compile, the row reports why.

FLOPs: the matrix products of a step (`benchmarks.flops.transformer_step_flops`). The limit
is those FLOPs divided by the float32 GEMM rate (np.matmul on 2048² matrices) that the
1-process row measures in the same round. Products alone: the step's products in jumok's
shapes and layouts, run back to back with nothing in between
(`benchmarks.products.transformer_step_products`): with NumPy in the 1-process row, on one
rank's slice in the worker rows, and with PyTorch in the twin's row.

Decoding: greedy decoding of 5,000 sources in batches of 500, always T steps (the end token
is never produced). jumok decodes with its decoding state (the keys and values of the
positions written so far). The twin decodes both with its key/value cache (`greedy_cached`)
and by re-running the decoder over the prefix (`greedy`, as Joey NMT does). With N workers,
each rank decodes its shard. One process decodes as `jumok.decoding.decode` does, a chunk
in each of its cores' threads (`jumok.threads`); the 1-process row also times one thread.

Epoch (skipped with --quick or --no-epoch): one `jumok train` epoch of the Transformer on the
g2p task at the g2p sizes above (`G2P_EPOCH`: the model's own lr, warm-up and β₂, batch
128, no bucketing, the dev split validated greedily, no test scoring) with 1 process, then
with N workers, then the twin's epoch on the same pairs (`benchmarks.torch_train`), back to
back: wall seconds from start to exit, and training and validation seconds from the history.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, replace

import numpy as np

from benchmarks.common import (BOS, NEVER, blas_threads, fmt, gemm_gflops, machine, make_batches, median_time, ratio,
                               write_record)
from benchmarks.cost_model import bound
from benchmarks.flops import transformer_step_flops
from benchmarks.layer_times import layer_times
from benchmarks.parallel import can_import_torch, global_step, in_rounds, medians, sharded_decode
from benchmarks.parallel_epoch import jumok_epoch, print_epoch_row, torch_epoch, torch_epoch_row, train_flags
from benchmarks.products import numpy_products, torch_products, transformer_step_products
from jumok.config import Config, with_defaults
from jumok.launch import find_mpiexec, missing_mpi
from jumok.layers.base import evaluating
from jumok.layers.dropout import set_rows
from jumok.models.transformer import Sizes, TransformerSeq2seq
from jumok.parallel import get_world
from jumok.threads import usable_threads


@dataclass(frozen=True)
class Shape:
    """A batch's shape (N rows, source S, target T tokens), the vocabularies and the model's `Sizes`."""

    N: int
    S: int
    T: int
    src_vocab: int
    tgt_vocab: int
    sizes: Sizes


def default_sizes():
    """The Transformer's sizes at its own defaults (`TransformerSeq2seq.defaults` over `Config`)."""
    return TransformerSeq2seq.sizes_of(Config(**with_defaults({"model": "transformer"})))


SHAPES = {
    "g2p": Shape(128, 10, 11, 31, 43, Sizes(width=128, heads=4, ff_width=512, layers=3, dropout=0.1)),
    "dates": Shape(128, 29, 11, 59, 59, default_sizes()),
}
SETTINGS = dict(warmup=3, repeats=15, decode_examples=5000, decode_batch=500, decode_repeats=3, gemm_n=2048,
                gemm_repeats=7, rounds=3, head=50)
QUICK = dict(N=8, warmup=1, repeats=2, decode_examples=40, decode_batch=20, decode_repeats=1, gemm_n=256,
             gemm_repeats=2, rounds=1, head=10)
"""--quick: batch 8, few repeats, 40 sources decoded, one round (a smoke test, no timing to keep)."""

G2P_EPOCH = with_defaults({"task": "g2p", "model": "transformer", "hidden_size": 128, "heads": 4, "layers": 3,
                           "ff_size": 512, "dropout": 0.1, "batch_size": 128, "epochs": 1, "seed": 0,
                           "dev_only": True})
"""The epoch's settings: the g2p shape's model, with the Transformer's own training defaults."""


def shape_of(name, quick):
    """The shape `name`, with --quick's batch."""
    return replace(SHAPES[name], N=QUICK["N"]) if quick else SHAPES[name]


def workload(shape, cfg):
    """jumok's model (seed 1), four training batches and the sources to decode (seed 0). The
    batches' tokens, both sides, come from the smaller vocabulary (`make_batches` draws from
    one); the output layer's width is the target vocabulary's all the same."""
    rng = np.random.default_rng(0)
    batches = make_batches(rng, 4, shape.N, shape.S, shape.T, min(shape.src_vocab, shape.tgt_vocab))
    sources = rng.integers(3, shape.src_vocab, size=(cfg["decode_examples"], shape.S))
    model = TransformerSeq2seq(shape.src_vocab, shape.tgt_vocab, shape.sizes, rng=np.random.default_rng(1))
    return model, batches, sources


def products_of(shape, rows=None):
    return transformer_step_products(shape.N if rows is None else rows, shape.S, shape.T, shape.sizes,
                                     shape.tgt_vocab)


# ----------------------------------------------------------------------------------------
# The rows, each run in processes of its own (--job)
# ----------------------------------------------------------------------------------------


def jumok_job(shape, cfg, threads=1):
    """One rank's part of jumok's row (under mpiexec, or alone): the global step and its
    parts, the products of its slice alone, the GEMM rate and the layers' share of a step
    (`benchmarks.layer_times`; alone only), the sharded decode; rank 0 prints the JSON line."""
    world = get_world()
    model, batches, sources = workload(shape, cfg)
    initial = {name: array.copy() for name, array in model.state_dict().items()}
    with evaluating(model):
        loss_at_start = float(model.forward(*batches[0]))
    rows = world.rows(shape.N)
    set_rows(model, (shape.N, rows.start, rows.stop))  # each rank's dropout: the whole batch's masks, its rows
    parts = {"compute": [], "allreduce": [], "optimizer": []}
    step_s = median_time(global_step(model, world, rows, parts, threads), batches, cfg["warmup"], cfg["repeats"],
                         start=world.barrier, combine=world.max)
    world.agree([p for _, p, _ in model.named_parameters()])
    parts_s = {name: statistics.median(seconds[cfg["warmup"]:]) for name, seconds in parts.items()}
    world.barrier()
    products = numpy_products(products_of(shape, rows.stop - rows.start))
    parts_s["products"] = median_time(products, [None], cfg["warmup"], cfg["repeats"])
    alone = world.size == 1 and threads == 1  # the GEMM rate, the layers' times: one thread on the machine
    gflops = gemm_gflops(cfg["gemm_n"], cfg["gemm_repeats"]) if alone else None
    layers_s = layer_times(model, global_step(model, world, rows, {"compute": [], "allreduce": [], "optimizer": []}),
                           batches, cfg["repeats"]) if alone else None
    model.load_state_dict(initial)  # decode from the weights the twin decodes from, not the trained ones
    tokens = []
    decode = sharded_decode(model, world, sources, cfg["decode_batch"], shape.T, tokens)
    decode_s = median_time(decode, [None], 1, cfg["decode_repeats"], start=world.barrier, combine=world.max)
    one_thread_s = None  # as one process decoded before it decoded in threads: BLAS on every core, the rest on one
    if alone and usable_threads() > 1:
        one_thread_s = median_time(sharded_decode(model, world, sources, cfg["decode_batch"], shape.T, [], threads=1),
                                   [None], 1, cfg["decode_repeats"])
    if world.is_root:
        print(json.dumps({"ranks": world.size, "train_step_s": step_s, "parts_s": parts_s, "decode_s": decode_s,
                          "threads": threads, "usable_threads": usable_threads(), "decode_one_thread_s": one_thread_s,
                          "gemm_gflops": gflops, "layers_s": layers_s, "loss_at_start": loss_at_start,
                          "tokens_head": tokens[:cfg["head"]]}))


def torch_job(shape, cfg, compile_too):
    """The twin's row: its step eager and compiled, the step's products with torch.matmul,
    and its greedy decoding with the cache and by re-running the prefix; prints the JSON line."""
    import torch  # an optional peer, as everything below

    from benchmarks.torch_model import TorchTrainer
    from benchmarks.torch_transformer import TorchTransformer, load_jumok

    model, batches, sources = workload(shape, cfg)
    twin = TorchTransformer(shape.src_vocab, shape.tgt_vocab, shape.sizes)
    load_jumok(twin, model)
    tb = [tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in batch) for batch in batches]
    twin.eval()
    with torch.no_grad():
        loss_at_start = float(twin(*tb[0]))
    twin.train()
    result = {"version": torch.__version__, "threads": torch.get_num_threads(), "loss_at_start": loss_at_start,
              "train_step_s": median_time(TorchTrainer(twin).step, tb, cfg["warmup"], cfg["repeats"]),
              "products_s": median_time(torch_products(products_of(shape)), [None], cfg["warmup"], cfg["repeats"])}
    load_jumok(twin, model)  # decode from jumok's weights again, not the trained ones
    twin.eval()
    src_t = torch.from_numpy(sources)
    for name, greedy in (("cached", twin.greedy_cached), ("rerun", twin.greedy)):
        out = []

        def decode(_):
            out.clear()
            for i in range(0, len(sources), cfg["decode_batch"]):
                src = src_t[i : i + cfg["decode_batch"]]
                out.extend(greedy(src, torch.ones(src.shape, dtype=torch.bool), BOS, NEVER, shape.T).tolist())

        result[f"decode_{name}_s"] = median_time(decode, [None], 1, cfg["decode_repeats"])
        result[f"tokens_head_{name}"] = out[:cfg["head"]]
    result.update(compiled_step(model, shape, tb, cfg) if compile_too else
                  {"compiled_step_s": None, "compile": "not tried (--no-compile)"})
    print(json.dumps(result))


def compiled_step(model, shape, tb, cfg):
    """The twin's step with the model torch.compile'd (default mode), from jumok's weights:
    {"compiled_step_s", "compile_s" (the first step, compiling included), "compile"} or,
    where it fails, the reason and no time."""
    import torch

    from benchmarks.torch_model import TorchTrainer
    from benchmarks.torch_transformer import TorchTransformer, load_jumok

    twin = TorchTransformer(shape.src_vocab, shape.tgt_vocab, shape.sizes)
    load_jumok(twin, model)
    twin.train()
    step = TorchTrainer(torch.compile(twin)).step
    start = time.perf_counter()
    try:
        step(tb[0])
    except Exception as e:  # noqa: BLE001 — any failure to compile is a finding, reported as such
        reason = (str(e).strip().splitlines() or [""])[0][:300]
        return {"compiled_step_s": None, "compile": f"does not compile here: {type(e).__name__}: {reason}"}
    compile_s = time.perf_counter() - start
    return {"compiled_step_s": median_time(step, tb, cfg["warmup"], cfg["repeats"]), "compile_s": compile_s,
            "compile": "ok"}


# ----------------------------------------------------------------------------------------
# The rows together: rounds, medians, ratios
# ----------------------------------------------------------------------------------------


def row_commands(name, args, workers, torch_python):
    """{row: (command, environment)} of shape `name`, in the order the rows run."""
    me = [sys.executable, "-m", "benchmarks.transformer_speed", "--shape", name, *(["--quick"] if args.quick else [])]
    commands = {"jumok, 1 process": ([*me, "--job", "jumok"], dict(os.environ))}
    threads = usable_threads()
    if threads > 1:
        commands[f"jumok, 1 process in {threads} threads"] = ([*me, "--job", "jumok", "--threads", str(threads)],
                                                              dict(os.environ))
    commands["jumok, 1 worker (1 BLAS thread)"] = ([*me, "--job", "jumok"], blas_threads(1))
    for n in workers:
        commands[f"jumok, {n} workers"] = ([find_mpiexec(), "-n", str(n), *me, "--job", "jumok"], blas_threads(1))
    if torch_python is not None:
        twin = [torch_python, *me[1:], "--job", "torch", *(["--no-compile"] if args.no_compile else [])]
        commands["PyTorch twin"] = (twin, dict(os.environ))
    return commands


def shape_ratios(rounds, flops, workers):
    """Round by round: jumok's steps ÷ the twin's (eager, compiled), N workers' throughput
    against 1 process and its bound, the GEMM limit ÷ each step, decoding ÷ the twin's."""
    def per_round(row, key):
        return [r.get(key) for r in rounds.get(row, [])]

    def divide(a, b):
        return [ratio(x, y) for x, y in zip(a, b)] if a and b else []

    one = per_round("jumok, 1 process", "train_step_s")
    single = per_round("jumok, 1 worker (1 BLAS thread)", "train_step_s")
    eager, compiled = per_round("PyTorch twin", "train_step_s"), per_round("PyTorch twin", "compiled_step_s")
    limit = [flops / (g * 1e9) for g in per_round("jumok, 1 process", "gemm_gflops")]
    decode, cached = per_round("jumok, 1 process", "decode_s"), per_round("PyTorch twin", "decode_cached_s")
    rerun = per_round("PyTorch twin", "decode_rerun_s")
    result = {"1 process ÷ twin eager": divide(one, eager), "1 process ÷ twin compiled": divide(one, compiled),
              "GEMM limit ÷ 1 process": divide(limit, one), "GEMM limit ÷ twin eager": divide(limit, eager),
              "decode: 1 process ÷ twin cached": divide(decode, cached),
              "decode: 1 process ÷ twin re-running the prefix": divide(decode, rerun),
              "products alone (1 process) ÷ twin eager step": divide(
                  [r["parts_s"]["products"] for r in rounds["jumok, 1 process"]], eager)}
    threads = per_round(f"jumok, 1 process in {usable_threads()} threads", "train_step_s")
    result[f"1 process in {usable_threads()} threads ÷ twin eager"] = divide(threads, eager)
    result[f"1 process in {usable_threads()} threads ÷ twin compiled"] = divide(threads, compiled)
    for n in workers:
        mine = per_round(f"jumok, {n} workers", "train_step_s")
        result[f"{n} workers ÷ twin eager"] = divide(mine, eager)
        result[f"{n} workers ÷ twin compiled"] = divide(mine, compiled)
        result[f"{n} workers × 1 process"] = divide(one, mine)
        result[f"bound for {n} workers"] = [bound(a, b, n) for a, b in zip(one, single)]
        result[f"decode: {n} workers ÷ twin cached"] = divide(per_round(f"jumok, {n} workers", "decode_s"), cached)
    return {name: values for name, values in result.items() if values and None not in values}


def agreement(a, b):
    """The share of equal tokens of two lists of decoded rows (None where either is missing)."""
    if not a or not b:
        return None
    pairs = [(x, y) for row_a, row_b in zip(a, b) for x, y in zip(row_a, row_b)]
    return sum(x == y for x, y in pairs) / len(pairs)


def measure_shape(name, args, cfg, workers, torch_python):
    """Every row of shape `name` in rounds: the shape's part of the record."""
    shape = shape_of(name, args.quick)
    flops = transformer_step_flops(shape.N, shape.S, shape.T, shape.sizes, shape.tgt_vocab)
    rounds = in_rounds(row_commands(name, args, workers, torch_python), cfg["rounds"])
    rows = {row: medians(results) for row, results in rounds.items()}
    jumok, twin = rows["jumok, 1 process"], rows.get("PyTorch twin", {})
    tokens = {"twin cached = jumok": agreement(twin.get("tokens_head_cached"), jumok["tokens_head"]),
              "twin re-run = jumok": agreement(twin.get("tokens_head_rerun"), jumok["tokens_head"]),
              **{f"{n} workers = 1 process": agreement(rows[f"jumok, {n} workers"]["tokens_head"],
                                                       jumok["tokens_head"]) for n in workers}}
    products = products_of(shape)
    return {"shape": {"N": shape.N, "S": shape.S, "T": shape.T, "src_vocab": shape.src_vocab,
                      "tgt_vocab": shape.tgt_vocab, "sizes": vars(shape.sizes)},
            "flops": flops, "gemm_limit_step_s": flops["total"] / (jumok["gemm_gflops"] * 1e9),
            "products": {"count": sum(p.count for p in products), "flops": sum(p.flops for p in products)},
            "rows": rows, "ratios_by_round": shape_ratios(rounds, flops["total"], workers),
            "loss_at_start": {"jumok": jumok["loss_at_start"], "twin": twin.get("loss_at_start")},
            "tokens_agree": tokens}


def epoch_rows(settings, workers, torch_python):
    """One epoch at `settings`: `jumok train` with 1 process (in one thread, then in a thread
    per core), and with each worker count, then
    (with `torch_python`) the twin's epoch on the same pairs, back to back."""
    flags, threads, rows = train_flags(settings), usable_threads(), {}
    runs = [("jumok, 1 process", flags, 1)]
    if threads > 1:
        runs.append((f"jumok, 1 process in {threads} threads", train_flags({**settings, "threads": threads}), 1))
    runs += [(f"jumok, {count} workers", flags, count) for count in workers]
    for name, these, count in runs:
        rows[name] = jumok_epoch(these, count, dict(os.environ))
        print_epoch_row(name, rows[name])
    if torch_python is not None:
        command = [torch_python, "-m", "benchmarks.transformer_speed", "--job", "torch-epoch",
                   "--settings", json.dumps(settings)]
        rows["PyTorch twin"] = torch_epoch_row(command)
        print_epoch_row("PyTorch twin", rows["PyTorch twin"])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: batch 8, few repeats, 40 sources, one round")
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--rounds", type=int, help="times every row runs, the rows in turn (default 3, 1 with --quick)")
    parser.add_argument("--workers", type=int, nargs="*", default=None, metavar="N",
                        help="worker counts to add rows for (default 2 where MPI is installed; none without)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch twin's rows")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile'd twin")
    parser.add_argument("--no-epoch", action="store_true", help="skip the G2P epoch (always skipped with --quick)")
    parser.add_argument("--out", help="JSON path (default benchmarks/results/transformer-<host>-<date>.json)")
    parser.add_argument("--job", choices=["jumok", "torch", "torch-epoch"], help=argparse.SUPPRESS)
    parser.add_argument("--shape", choices=list(SHAPES), help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cfg = {**SETTINGS, **(QUICK if args.quick else {})}
    if args.job == "torch-epoch":
        return torch_epoch(settings=json.loads(args.settings))
    if args.job:
        shape = shape_of(args.shape, args.quick)
        if args.job == "jumok":
            return jumok_job(shape, cfg, args.threads)
        return torch_job(shape, cfg, not args.no_compile)
    if args.rounds:
        cfg["rounds"] = args.rounds
    workers = args.workers if args.workers is not None else ([] if missing_mpi() else [2])
    torch_python = None if args.no_torch or not can_import_torch(sys.executable) else sys.executable
    before = os.getloadavg()
    shapes = {}
    for name in args.shapes:
        shapes[name] = measure_shape(name, args, cfg, workers, torch_python)
        print_shape(name, shapes[name], cfg, workers)
    epoch = None if args.quick or args.no_epoch else epoch_rows(G2P_EPOCH, workers, torch_python)
    record = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "quick": args.quick, "settings": cfg,
              "workers": workers, "machine": machine(load_average_before=before, load_average_after=os.getloadavg()),
              "shapes": shapes, "g2p_epoch": epoch and {"settings": G2P_EPOCH, "rows": epoch}}
    write_record(record, args.out, kind="transformer")


# ----------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------

GOALS = [("2 workers ÷ twin eager", 0.5, "goal"), ("2 workers ÷ twin eager", 0.75, "bar"),
         ("1 process ÷ twin eager", 0.75, ""), ("1 process in 2 threads ÷ twin eager", 0.75, ""),
         ("2 workers ÷ twin compiled", 1.0, ""),
         ("decode: 1 process ÷ twin cached", 1.0, "")]
"""The issue's aims (#29), each a ratio of the medians at the G2P shapes: at most this much."""


def print_shape(name, r, cfg, workers):
    s, sz, rows = r["shape"], r["shape"]["sizes"], r["rows"]
    one, twin = rows["jumok, 1 process"], rows.get("PyTorch twin", {})
    limit, eager, compiled = r["gemm_limit_step_s"], twin.get("train_step_s"), twin.get("compiled_step_s")
    print(f"\n{name}: batch {s['N']}, source {s['S']}, target {s['T']}, vocab {s['src_vocab']}/{s['tgt_vocab']}, "
          f"width {sz['width']}, {sz['heads']} heads, feed-forward {sz['ff_width']}, {sz['layers']} + {sz['layers']} "
          f"layers, dropout {sz['dropout']}; {r['flops']['total'] / 1e9:.2f} GFLOP a step; "
          f"{cfg['rounds']} round(s), medians")
    print(f"float32 GEMM {cfg['gemm_n']}²: {one['gemm_gflops']:.1f} GFLOP/s → limit {limit * 1e3:.1f} ms\n")
    print(f"| set-up | ms / step | × GEMM limit | ÷ twin eager | ÷ twin compiled | compute | Allreduce | "
          f"clip + Adam | s / {cfg['decode_examples']:,} decoded |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row, values in rows.items():
        if row == "PyTorch twin":
            continue
        step, parts = values["train_step_s"], values["parts_s"]
        print(f"| {row} | {step * 1e3:.1f} | {step / limit:.2f} | {fmt(ratio(step, eager), '.2f')} | "
              f"{fmt(ratio(step, compiled), '.2f')} | {parts['compute'] * 1e3:.1f} | {parts['allreduce'] * 1e3:.1f} | "
              f"{parts['optimizer'] * 1e3:.1f} | {values['decode_s']:.3f} |")
    if twin:
        print(f"| PyTorch {twin['version']} twin, eager ({twin['threads']} threads) | {eager * 1e3:.1f} | "
              f"{eager / limit:.2f} | 1 | | | | | {twin['decode_cached_s']:.3f} cached, {twin['decode_rerun_s']:.3f} "
              f"re-running the prefix |")
        shown = (f"{compiled * 1e3:.1f} | {compiled / limit:.2f} | {eager and compiled / eager:.2f} | 1"
                 if compiled else f"{twin['compile']} | | |")
        took = f" (first step, compiling: {twin['compile_s']:.0f} s)" if compiled else ""
        print(f"| the twin torch.compile'd{took} | {shown} | | | | |")
    print(f"| GEMM limit | {limit * 1e3:.1f} | 1 | | | | | | |")
    alone = one["parts_s"]["products"]
    print(f"| products alone, NumPy (1 process) | {alone * 1e3:.1f} | {alone / limit:.2f} | "
          f"{fmt(ratio(alone, eager), '.2f')} | | | | | |")
    for n in workers:
        p = rows[f"jumok, {n} workers"]["parts_s"]["products"]
        print(f"| products alone, NumPy (a rank's slice of {n}, 1 thread) | {p * 1e3:.1f} | {p / limit:.2f} | "
              f"{fmt(ratio(p, eager), '.2f')} | | | | | |")
    if twin:
        print(f"| the same products, PyTorch | {twin['products_s'] * 1e3:.1f} | {twin['products_s'] / limit:.2f} | "
              f"{twin['products_s'] / eager:.2f} | | | | | |")
    if one.get("decode_one_thread_s"):
        print(f"\n1 process decoding {cfg['decode_examples']:,} sources: {one['decode_s']:.3f} s in "
              f"{usable_threads()} threads (one BLAS thread each), {one['decode_one_thread_s']:.3f} s in one "
              "thread (BLAS on every core)")
    if one.get("layers_s"):
        spent = sorted(one["layers_s"].items(), key=lambda item: -item[1])
        print("\nwhere jumok's step goes (1 process, ms a step, each layer kind without the layers inside it): "
              + ", ".join(f"{key} {seconds * 1e3:.1f}" for key, seconds in spent[:10])
              + f", the rest {sum(seconds for _, seconds in spent[10:]) * 1e3:.1f}")
    print("\nround by round:")
    for key, values in r["ratios_by_round"].items():
        print(f"  {key}: " + ", ".join(f"{v:.2f}" for v in values) + f" (median {statistics.median(values):.2f})")
    loss = r["loss_at_start"]
    print("loss at start (same weights, no dropout): " + ", ".join(f"{k} {fmt(v, '.6f')}" for k, v in loss.items()))
    print("decoded tokens agree (first sources): "
          + ", ".join(f"{k} {fmt(v, '.3f')}" for k, v in r["tokens_agree"].items()))
    if name == "g2p":
        print("the issue's aims (#29), medians at the G2P shapes:")
        for key, most, note in GOALS:
            values = r["ratios_by_round"].get(key)
            if values:
                median = statistics.median(values)
                print(f"  {key} ≤ {most}{f' ({note})' if note else ''}: {median:.2f}, "
                      f"{'met' if median <= most else 'not met'}")


if __name__ == "__main__":
    sys.exit(main())
