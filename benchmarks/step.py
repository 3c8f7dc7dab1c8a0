"""Seconds per training step and per greedy decode: jumok vs. its step-by-step reference vs.
PyTorch (CPU) vs. the machine's matrix-product limit.

    PYTHONPATH=src python -m benchmarks [--quick] [--no-torch] [--batch N] [--workers N ...] [--device gpu]
        [--out PATH.json]

Shapes are the attention chapter's date task: batch 128, source length 29, target length
10 + 1 (the decoder reads <bos> + 10 tokens and must write 10 tokens + <eos>, so T = 11),
vocabulary 59 on both sides, embedding 16, hidden 256, dot attention, one layer, float32.
Batches are synthetic: uniform random tokens, every source fills all 29 positions (no
padding, like the chapter's fixed-width data), every target all 11.

A training step is forward, backward, global-norm clipping to 5 and Adam (lr 1e-3); the
figure is the median over the timed steps after warm-up ones. Decoding is batched greedy
decoding of 5,000 sources in batches of 500, always 11 steps (the end token is set to an
id that never occurs, so no run stops early). The limit is the GEMM FLOPs of one training
step (benchmarks/flops.py) divided by the float32 np.matmul rate measured in the same run.

The products rows time every matrix product of jumok's training step alone, back to back
(benchmarks/products.py): how long the step would take if everything else were free, with
NumPy's BLAS and with PyTorch's.

Workers: with MPI installed, rows for jumok on N data-parallel workers (default 2; one BLAS
thread each, under mpiexec): the whole global step, the slowest rank's time, and the 5,000
sources decoded by the ranks together (`benchmarks.parallel`, which also breaks the step down).

Peak memory: tracemalloc's peak of NumPy allocations during one extra (untimed) training
step or decode batch of each NumPy model, and the process's resource.getrusage maxrss at
the end (the whole process, PyTorch included).
"""

import argparse
import datetime
import resource
import sys
import tracemalloc

import numpy as np

from benchmarks.common import (BOS, NEVER, blas_threads, fmt, gemm_gflops, jumok_train_step, machine, make_batches,
                               median_time, numpy_threads, ratio, run_row, write_record)
from benchmarks.flops import training_step_flops
from benchmarks.gpu import run_gpu
from benchmarks.products import numpy_products, torch_products, training_step_products
from jumok.chapter.reference import ReferenceAttentionSeq2seq
from jumok.decoding import Search, greedy_decode
from jumok.launch import find_mpiexec, missing_mpi
from jumok.models import AttentionSeq2seq


def numpy_decode(model, sources, batch, T):
    def run(_):
        for i in range(0, len(sources), batch):
            src = sources[i : i + batch]
            greedy_decode(model, src, np.ones(src.shape, bool), Search(BOS, NEVER, T))

    return run


def tracemalloc_peak(fn, arg):
    """Peak bytes NumPy allocates during fn(arg) (tracemalloc; one extra, untimed call)."""
    tracemalloc.start()
    fn(arg)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def numpy_rows(cfg, batches, sources):
    """Train-step and decode seconds, peak NumPy memory and first loss of jumok and of its
    step-by-step reference, from the same parameters; and those parameters."""
    T, V, D, H = (cfg[k] for k in ("T", "vocab", "embed", "hidden"))
    fast = AttentionSeq2seq(V, V, D, H, rng=np.random.default_rng(1))
    ref = ReferenceAttentionSeq2seq(V, V, D, H, rng=np.random.default_rng(1))
    ref.load_state_dict(fast.state_dict())
    state = {k: v.copy() for k, v in fast.state_dict().items()}
    loss_at_start = {"jumok": fast.forward(*batches[0]), "reference": ref.forward(*batches[0])}

    train, decode, peak = {}, {}, {}
    for name, model, repeats in (("jumok", fast, cfg["repeats"]), ("reference", ref, cfg["ref_repeats"])):
        step = jumok_train_step(model)
        train[name] = median_time(step, batches, cfg["warmup"], repeats)
        peak[f"{name}_train_step_bytes"] = tracemalloc_peak(step, batches[0])
        run = numpy_decode(model, sources, cfg["decode_batch"], T)
        decode[name] = median_time(run, [None], 1, cfg["decode_repeats"])
        peak[f"{name}_decode_batch_bytes"] = tracemalloc_peak(
            numpy_decode(model, sources[: cfg["decode_batch"]], cfg["decode_batch"], T), None)
    return train, decode, peak, loss_at_start, state


def torch_rows(state, batches, sources, cfg, threads, products):
    """Train-step and decode seconds of the PyTorch twin, or None when torch is missing."""
    try:
        import torch

        from benchmarks.torch_model import TorchAttentionSeq2seq, TorchTrainer
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = TorchAttentionSeq2seq(cfg["vocab"], cfg["vocab"], cfg["embed"], cfg["hidden"])
    model.load_jumok(state)
    tb = [tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in b) for b in batches]
    with torch.no_grad():
        loss_at_start = float(model(*tb[0]))
    step = TorchTrainer(model).step

    train = median_time(step, tb, cfg["warmup"], cfg["repeats"])
    products_s = median_time(torch_products(products), [None], cfg["warmup"], cfg["repeats"])
    src_t = torch.from_numpy(sources)

    def decode(_):
        for i in range(0, len(sources), cfg["decode_batch"]):
            src = src_t[i : i + cfg["decode_batch"]]
            model.greedy(src, torch.ones(src.shape, dtype=torch.bool), BOS, NEVER, cfg["T"])

    dec = median_time(decode, [None], 1, cfg["decode_repeats"])
    return {"version": torch.__version__, "threads": torch.get_num_threads(), "train": train, "decode": dec,
            "products": products_s, "loss_at_start": loss_at_start}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: batch 16, few repeats, small decode")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows")
    parser.add_argument("--workers", type=int, nargs="*", default=None, metavar="N",
                        help="data-parallel worker counts to add rows for (default 2 where MPI is installed; "
                             "none without)")
    parser.add_argument("--out", help="JSON path (default benchmarks/results/<host>-<date>.json)")
    parser.add_argument("--batch", type=int, help="training batch size (default 128, 16 with --quick)")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu",
                        help="gpu: jumok on CuPy and PyTorch on CUDA instead (benchmarks/gpu.py)")
    args = parser.parse_args(argv)

    cfg = dict(N=128, S=29, T=11, vocab=59, embed=16, hidden=256, warmup=3, repeats=15, ref_repeats=7,
               decode_examples=5000, decode_batch=500, decode_repeats=3, gemm_n=2048, gemm_repeats=7)
    if args.quick:
        cfg.update(N=16, warmup=1, repeats=3, ref_repeats=2, decode_examples=200, decode_batch=100,
                   decode_repeats=1, gemm_n=512, gemm_repeats=3)
    if args.batch:
        cfg.update(N=args.batch)
    if args.device == "gpu":
        return run_gpu(args, cfg)
    N, S, T, V, D, H = (cfg[k] for k in ("N", "S", "T", "vocab", "embed", "hidden"))
    threads = numpy_threads()
    rng = np.random.default_rng(0)
    batches = make_batches(rng, 4, N, S, T, V)
    sources = rng.integers(3, V, size=(cfg["decode_examples"], S))

    gflops = gemm_gflops(cfg["gemm_n"], cfg["gemm_repeats"])
    flops = training_step_flops(N, S, T, D, H, V)
    limit = flops["total"] / (gflops * 1e9)

    train, decode, peak, loss_at_start, state = numpy_rows(cfg, batches, sources)
    products = training_step_products(N, S, T, D, H, V)
    products_s = {"numpy": median_time(numpy_products(products), [None], cfg["warmup"], cfg["repeats"])}
    torch_result = None if args.no_torch else torch_rows(state, batches, sources, cfg, threads, products)
    products_s["torch"] = torch_result and torch_result["products"]
    train["torch"] = torch_result and torch_result["train"]
    decode["torch"] = torch_result and torch_result["decode"]
    if torch_result:
        loss_at_start["torch"] = torch_result["loss_at_start"]
    peak["process_maxrss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB

    ratios = {
        "train_jumok_over_torch": ratio(train["jumok"], train["torch"]),
        "train_jumok_over_reference": ratio(train["jumok"], train["reference"]),
        "train_gemm_limit_over_jumok": limit / train["jumok"],
        "train_gemm_limit_over_torch": ratio(limit, train["torch"]),
        "numpy_products_over_torch_train": ratio(products_s["numpy"], train["torch"]),
        "numpy_products_over_torch_products": ratio(products_s["numpy"], products_s["torch"]),
        "jumok_products_share": products_s["numpy"] / train["jumok"],
        "decode_jumok_over_torch": ratio(decode["jumok"], decode["torch"]),
        "decode_jumok_over_reference": ratio(decode["jumok"], decode["reference"]),
    }
    record = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "quick": args.quick,
        "shapes": {k: cfg[k] for k in ("N", "S", "T", "vocab", "embed", "hidden")},
        "settings": {k: v for k, v in cfg.items() if k not in ("N", "S", "T", "vocab", "embed", "hidden")},
        "machine": machine(numpy_threads=threads, torch=torch_result and torch_result["version"],
                           torch_threads=torch_result and torch_result["threads"]),
        "gemm": {"n": cfg["gemm_n"], "dtype": "float32", "gflops": gflops},
        "flops": flops,
        "gemm_limit_train_step_s": limit,
        "train_step_s": train,
        "products": {"count": sum(p.count for p in products), "flops": sum(p.flops for p in products),
                     "numpy_s": products_s["numpy"], "torch_s": products_s["torch"]},
        "decode_s": decode,
        "decode_examples": cfg["decode_examples"],
        "loss_at_start": loss_at_start,
        "ratios": ratios,
        "workers": worker_rows(args, cfg),
        "peak_memory": peak,
    }

    print_table(record)
    write_record(record, args.out)


def worker_rows(args, cfg):
    """{N: benchmarks.parallel's row for N workers} at this run's batch and decode sizes."""
    counts = args.workers if args.workers is not None else ([] if missing_mpi() else [2])
    command = [sys.executable, "-m", "benchmarks.parallel", *(["--quick"] if args.quick else []),
               "--job", "jumok", "--job-batch", str(cfg["N"])]
    return {str(n): run_row([find_mpiexec(), "-n", str(n), *command], blas_threads(1)) for n in counts}


def print_table(r):
    s, mb = r["shapes"], 2**20
    m = r["machine"]
    print(f"batch {s['N']}, source {s['S']}, target {s['T']}, vocab {s['vocab']}, embed {s['embed']}, "
          f"hidden {s['hidden']}; numpy {m['numpy']} ({m['numpy_threads']} BLAS threads), torch {m['torch']}")
    print(f"float32 GEMM {r['gemm']['n']}²: {r['gemm']['gflops']:.1f} GFLOP/s; one training step = "
          f"{r['flops']['total'] / 1e9:.2f} GFLOP in matrix products → limit {r['gemm_limit_train_step_s']:.4f} s\n")
    t, d, p, q = r["train_step_s"], r["decode_s"], r["peak_memory"], r["ratios"]
    print(f"| model | s / train step | × GEMM limit | s / {r['decode_examples']} decoded | "
          f"peak MiB step (tracemalloc) | peak MiB decode batch |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in ("jumok", "reference", "torch"):
        over = None if t[name] is None else t[name] / r["gemm_limit_train_step_s"]
        pk = p.get(f"{name}_train_step_bytes")
        pd = p.get(f"{name}_decode_batch_bytes")
        print(f"| {name} | {fmt(t[name])} | {fmt(over, '.1f')} | {fmt(d[name], '.3f')} | "
              f"{fmt(pk and pk / mb, '.1f')} | {fmt(pd and pd / mb, '.1f')} |")
    print(f"| GEMM limit | {r['gemm_limit_train_step_s']:.4f} | 1.0 | | | |")
    pr = r["products"]
    for name, key in (("jumok's products alone, NumPy", "numpy_s"), ("the same products, PyTorch", "torch_s")):
        over = None if pr[key] is None else pr[key] / r["gemm_limit_train_step_s"]
        print(f"| {name} | {fmt(pr[key])} | {fmt(over, '.1f')} | | | |")
    for n, row in r["workers"].items():
        over = row["train_step_s"] / r["gemm_limit_train_step_s"]
        print(f"| jumok, {n} workers (whole global step) | {row['train_step_s']:.4f} | {over:.1f} | "
              f"{row['decode_s']:.3f} | | |")
    for n, row in r["workers"].items():
        print(f"jumok {n} workers: {t['jumok'] / row['train_step_s']:.2f} × jumok's throughput per step"
              + ("" if t["torch"] is None else f", ÷ PyTorch's step {row['train_step_s'] / t['torch']:.2f}")
              + ("" if d["torch"] is None else f", ÷ PyTorch's decode {row['decode_s'] / d['torch']:.2f}"))
    print(f"\njumok ÷ PyTorch: train {fmt(q['train_jumok_over_torch'], '.2f')}, "
          f"decode {fmt(q['decode_jumok_over_torch'], '.2f')}")
    print(f"jumok ÷ step-by-step: train {fmt(q['train_jumok_over_reference'], '.2f')}, "
          f"decode {fmt(q['decode_jumok_over_reference'], '.2f')}")
    print(f"the step's {pr['count']} matrix products alone (benchmarks/products.py): NumPy ÷ PyTorch's whole step "
          f"{fmt(q['numpy_products_over_torch_train'], '.2f')} (the floor of a NumPy step made of these products), "
          f"NumPy ÷ PyTorch on the same products {fmt(q['numpy_products_over_torch_products'], '.2f')}; "
          f"they are {q['jumok_products_share']:.2f} of jumok's step")
    print(f"fraction of the GEMM limit reached: jumok {q['train_gemm_limit_over_jumok']:.2f}, "
          f"torch {fmt(q['train_gemm_limit_over_torch'], '.2f')}")
    print("loss at start (same parameters): " + ", ".join(f"{k} {v:.6f}" for k, v in r["loss_at_start"].items()))
    print(f"process maxrss (getrusage): {p['process_maxrss_bytes'] / mb:.0f} MiB")
