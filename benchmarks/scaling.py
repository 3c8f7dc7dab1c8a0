"""How the cost of a training step grows with source length, target length, batch and width.

    PYTHONPATH=src python -m benchmarks.scaling [--quick] [--no-torch] [--out PATH.json] [--plot PNG]

Starting from the chapter's shapes (batch N 128, source S 29, target T 11, hidden H 256,
embedding 16, vocabulary 59), one of S, T, N, H is varied at a time and the median seconds
of a jumok training step (forward, backward, clipping, Adam; synthetic unpadded batches as
in `python -m benchmarks`) is measured, next to PyTorch's when it is installed. Each point
is also given as the step's matrix-product FLOPs (benchmarks/flops.py), so the plot shows
how closely time follows them: the LSTMs cost ∝ N·(S+T)·H², attention ∝ N·S·T·H.
"""

import argparse
import datetime
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from benchmarks.common import (ROOT, jumok_step_seconds, machine, make_batches, median_time, numpy_threads,
                               write_record)
from benchmarks.flops import training_step_flops
from jumok.viz import save_figure  # Agg canvas, atomic write

BASE = {"N": 128, "S": 29, "T": 11, "H": 256}
SWEEPS = {"S": [8, 16, 29, 48, 64], "T": [6, 11, 21, 32], "N": [32, 64, 128, 256], "H": [64, 128, 256, 384, 512]}
QUICK_SWEEPS = {"S": [8, 29], "T": [6, 11], "N": [16, 32], "H": [32, 64]}
D, V = 16, 59


def torch_step_seconds(shape, warmup, repeats, threads):
    try:
        import torch

        from benchmarks.torch_model import TorchAttentionSeq2seq, TorchTrainer
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = TorchAttentionSeq2seq(V, V, D, shape["H"])
    batches = [tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in b)
               for b in make_batches(np.random.default_rng(0), 2, shape["N"], shape["S"], shape["T"], V)]
    return median_time(TorchTrainer(model).step, batches, warmup, repeats)


def plot(record, path):
    fig = Figure(figsize=(11, 8), layout="constrained")
    for k, (axis, rows) in enumerate(record["sweeps"].items()):
        ax = fig.add_subplot(2, 2, k + 1)
        xs = [r[axis] for r in rows]
        for name, style in (("jumok", "o-"), ("torch", "s--")):
            ys = [r[f"{name}_s"] for r in rows]
            if all(y is not None for y in ys):
                ax.plot(xs, [1e3 * y for y in ys], style, label=f"{name} (measured)")
        base = rows[[r[axis] for r in rows].index(BASE[axis])] if BASE[axis] in xs else rows[-1]
        per_flop = base["jumok_s"] / base["gflop"]
        ax.plot(xs, [1e3 * r["gflop"] * per_flop for r in rows], ":", color="gray",
                label="∝ matrix-product FLOPs")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([str(x) for x in xs])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel({"S": "source length S", "T": "target length T", "N": "batch N", "H": "hidden size H"}[axis])
        ax.set_ylabel("ms per training step")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Training-step cost vs shape (others at N 128, S 29, T 11, H 256)")
    save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small points per axis, few repeats")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--out", help="JSON path (default benchmarks/results/scaling-<host>-<date>.json)")
    parser.add_argument("--plot", help="PNG path (default docs/scaling.png; none with --quick)")
    parser.add_argument("--replot", metavar="JSON", help="only draw the plot from a saved record")
    args = parser.parse_args(argv)
    if args.replot:
        path = args.plot or str(ROOT / "docs" / "scaling.png")
        plot(json.loads(Path(args.replot).read_text()), path)
        print(f"wrote {path}")
        return
    sweeps, warmup, repeats = (QUICK_SWEEPS, 1, 2) if args.quick else (SWEEPS, 2, 7)
    base = dict(BASE, N=16, H=32) if args.quick else BASE
    threads = numpy_threads()
    record = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(), "base": base,
              "embed": D, "vocab": V, "numpy_threads": threads, "sweeps": {}}
    for axis, values in sweeps.items():
        rows = []
        for value in values:
            shape = dict(base, **{axis: value})
            gflop = training_step_flops(shape["N"], shape["S"], shape["T"], D, shape["H"], V)["total"] / 1e9
            jumok_s = jumok_step_seconds(shape["N"], shape["S"], shape["T"], V, V, D, shape["H"], warmup, repeats)
            row = {axis: value, "gflop": gflop, "jumok_s": jumok_s,
                   "torch_s": None if args.no_torch else torch_step_seconds(shape, warmup, repeats, threads)}
            rows.append(row)
            torch_text = "" if row["torch_s"] is None else f", torch {1e3 * row['torch_s']:.1f} ms"
            print(f"{axis} = {value:4d}: {gflop:6.2f} GFLOP, jumok {1e3 * row['jumok_s']:.1f} ms{torch_text}",
                  flush=True)
        record["sweeps"][axis] = rows
    write_record(record, args.out, kind="scaling")
    if args.plot or not args.quick:
        path = args.plot or str(ROOT / "docs" / "scaling.png")
        plot(record, path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
