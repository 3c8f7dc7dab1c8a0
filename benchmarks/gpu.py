"""The GPU rows of the benchmark: jumok on CuPy and the PyTorch twin on CUDA.

    PYTHONPATH=src python -m benchmarks --device gpu [--batch N] [--quick] [--no-torch] [--out PATH.json]

The shapes, synthetic batches, parameters and step (forward, backward, clipping to 5, Adam)
are those of the CPU benchmark (benchmarks/step.py); `--batch` changes the training
batch (default 128), e.g. to compare 128 with a large batch. The training batches are copied
to the GPU once, before timing; decoding copies each batch of sources as `jumok.decoding.decode` does.

GPU work is asynchronous, so every timed call starts and ends with a synchronisation
(`cupy.cuda.Device().synchronize()`, `torch.cuda.synchronize()`, the `start` and `stop` of
`benchmarks.common.median_time`): the figures are whole steps, not kernel launches. The limit is the step's GEMM FLOPs over the float32 cupy.matmul
rate measured in the same run. Peak memory: the CuPy memory pool's high-water mark is not
exposed, so its total bytes after the runs are reported; for PyTorch, max_memory_allocated.
TF32 stays as each library sets it by default (off for CuPy unless CUPY_TF32=1; PyTorch's
matmul flag is recorded).
"""

import datetime
import os
import sys

import numpy as np

from benchmarks.common import (BOS, NEVER, fmt, jumok_train_step, machine, make_batches, median_time, ratio,
                               write_record)
from benchmarks.flops import training_step_flops
from jumok.backend import device_module
from jumok.decoding import Search, greedy_decode
from jumok.errors import JumokError
from jumok.models import AttentionSeq2seq


def cupy_gemm_gflops(cupy, n, repeats, sync):
    """Median float32 rate of cupy.matmul on (n, n) @ (n, n), in GFLOP/s."""
    a = cupy.random.standard_normal((n, n), dtype=cupy.float32)
    b = cupy.random.standard_normal((n, n), dtype=cupy.float32)
    seconds = median_time(lambda _: a @ b, [None], 2, repeats, start=sync, stop=sync)
    return 2 * n**3 / seconds / 1e9


def jumok_rows(cupy, state, batches, sources, cfg, sync):
    """Train-step and decode seconds of jumok's AttentionSeq2seq on CuPy arrays."""
    V, D, H = cfg["vocab"], cfg["embed"], cfg["hidden"]
    model = AttentionSeq2seq(V, V, D, H, rng=np.random.default_rng(1))
    model.load_state_dict(state)
    model.to(cupy)
    device_batches = [tuple(cupy.asarray(a) for a in batch) for batch in batches]
    loss_at_start = model.forward(*device_batches[0])
    train = median_time(jumok_train_step(model), device_batches, cfg["warmup"], cfg["repeats"], start=sync, stop=sync)

    def decode(_):
        for i in range(0, len(sources), cfg["decode_batch"]):
            src = cupy.asarray(sources[i : i + cfg["decode_batch"]])
            greedy_decode(model, src, cupy.ones(src.shape, bool), Search(BOS, NEVER, cfg["T"]))

    dec = median_time(decode, [None], 1, cfg["decode_repeats"], start=sync, stop=sync)
    return {"train": train, "decode": dec, "loss_at_start": loss_at_start,
            "pool_bytes": cupy.get_default_memory_pool().total_bytes()}


def torch_cuda_rows(state, batches, sources, cfg):
    """Train-step and decode seconds of the PyTorch twin on CUDA, or None without torch/CUDA."""
    try:
        import torch

        from benchmarks.torch_model import TorchAttentionSeq2seq, TorchTrainer
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    device, sync = torch.device("cuda"), torch.cuda.synchronize
    torch.manual_seed(0)
    model = TorchAttentionSeq2seq(cfg["vocab"], cfg["vocab"], cfg["embed"], cfg["hidden"])
    model.load_jumok(state)
    model.to(device)
    tb = [tuple(torch.from_numpy(np.ascontiguousarray(x)).to(device) for x in b) for b in batches]
    with torch.no_grad():
        loss_at_start = float(model(*tb[0]))
    step = TorchTrainer(model).step

    torch.cuda.reset_peak_memory_stats()
    train = median_time(step, tb, cfg["warmup"], cfg["repeats"], start=sync, stop=sync)

    def decode(_):
        for i in range(0, len(sources), cfg["decode_batch"]):
            src = torch.from_numpy(sources[i : i + cfg["decode_batch"]]).to(device)
            model.greedy(src, torch.ones(src.shape, dtype=torch.bool, device=device), BOS, NEVER, cfg["T"])

    dec = median_time(decode, [None], 1, cfg["decode_repeats"], start=sync, stop=sync)
    return {"version": torch.__version__, "cuda": torch.version.cuda, "train": train, "decode": dec,
            "loss_at_start": loss_at_start, "max_memory_allocated_bytes": torch.cuda.max_memory_allocated(),
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}


def run_gpu(args, cfg):
    """The GPU benchmark for the parsed `args` and the CPU benchmark's settings `cfg`."""
    try:
        cupy = device_module("gpu")
    except JumokError as e:
        print(f"benchmarks: {e}", file=sys.stderr)
        return 1
    sync = cupy.cuda.Device().synchronize
    N, S, T, V, D, H = (cfg[k] for k in ("N", "S", "T", "vocab", "embed", "hidden"))
    rng = np.random.default_rng(0)
    batches = make_batches(rng, 4, N, S, T, V)
    sources = rng.integers(3, V, size=(cfg["decode_examples"], S))
    state = AttentionSeq2seq(V, V, D, H, rng=np.random.default_rng(1)).state_dict()

    gemm_n = 4096 if not args.quick else 1024
    gflops = cupy_gemm_gflops(cupy, gemm_n, cfg["gemm_repeats"], sync)
    flops = training_step_flops(N, S, T, D, H, V)
    limit = flops["total"] / (gflops * 1e9)
    jumok = jumok_rows(cupy, state, batches, sources, cfg, sync)
    torch_result = None if args.no_torch else torch_cuda_rows(state, batches, sources, cfg)

    train = {"jumok": jumok["train"], "torch": torch_result and torch_result["train"]}
    decode = {"jumok": jumok["decode"], "torch": torch_result and torch_result["decode"]}
    properties = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    record = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "device": "gpu",
        "quick": args.quick,
        "shapes": {k: cfg[k] for k in ("N", "S", "T", "vocab", "embed", "hidden")},
        "settings": {k: v for k, v in cfg.items() if k not in ("N", "S", "T", "vocab", "embed", "hidden")},
        "machine": machine(gpu=properties["name"].decode(), cupy=cupy.__version__,
                           cuda_runtime=cupy.cuda.runtime.runtimeGetVersion(), cupy_tf32=os.environ.get("CUPY_TF32"),
                           torch=torch_result and torch_result["version"],
                           torch_cuda=torch_result and torch_result["cuda"],
                           torch_matmul_allow_tf32=torch_result and torch_result["matmul_allow_tf32"]),
        "gemm": {"n": gemm_n, "dtype": "float32", "gflops": gflops},
        "flops": flops,
        "gemm_limit_train_step_s": limit,
        "train_step_s": train,
        "decode_s": decode,
        "decode_examples": cfg["decode_examples"],
        "loss_at_start": {"jumok": jumok["loss_at_start"], "torch": torch_result and torch_result["loss_at_start"]},
        "ratios": {"train_jumok_over_torch": ratio(train["jumok"], train["torch"]),
                   "decode_jumok_over_torch": ratio(decode["jumok"], decode["torch"]),
                   "train_gemm_limit_over_jumok": limit / train["jumok"],
                   "train_gemm_limit_over_torch": ratio(limit, train["torch"])},
        "memory": {"cupy_pool_bytes": jumok["pool_bytes"],
                   "torch_max_memory_allocated_bytes": torch_result and torch_result["max_memory_allocated_bytes"]},
    }
    print_table(record)
    write_record(record, args.out, kind=f"gpu-batch{N}")
    return 0


def print_table(r):
    s, m, mb = r["shapes"], r["machine"], 2**20
    print(f"{m['gpu']}: batch {s['N']}, source {s['S']}, target {s['T']}, vocab {s['vocab']}, embed {s['embed']}, "
          f"hidden {s['hidden']}; cupy {m['cupy']}, torch {m['torch']}")
    print(f"float32 GEMM {r['gemm']['n']}²: {r['gemm']['gflops']:.0f} GFLOP/s; one training step = "
          f"{r['flops']['total'] / 1e9:.2f} GFLOP in matrix products → limit {r['gemm_limit_train_step_s']:.5f} s\n")
    t, d = r["train_step_s"], r["decode_s"]
    print(f"| model (GPU) | s / train step | × GEMM limit | s / {r['decode_examples']} decoded |")
    print("| --- | --- | --- | --- |")
    for name in ("jumok", "torch"):
        over = None if t[name] is None else t[name] / r["gemm_limit_train_step_s"]
        print(f"| {name} | {fmt(t[name], '.5f')} | {fmt(over, '.1f')} | {fmt(d[name], '.3f')} |")
    q, mem = r["ratios"], r["memory"]
    print(f"\njumok ÷ PyTorch: train {fmt(q['train_jumok_over_torch'], '.2f')}, "
          f"decode {fmt(q['decode_jumok_over_torch'], '.2f')}")
    print("loss at start (same parameters): " + ", ".join(f"{k} {fmt(v, '.6f')}" for k, v in r["loss_at_start"].items()))
    torch_mem = mem["torch_max_memory_allocated_bytes"]
    print(f"memory: CuPy pool {mem['cupy_pool_bytes'] / mb:.0f} MiB, "
          f"PyTorch max allocated {fmt(torch_mem and torch_mem / mb, '.0f')} MiB")
