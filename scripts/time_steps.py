"""Seconds per training step (forward, backward, clip, Adam) for model variants, in one process.

    python scripts/time_steps.py --attention dot scaled-dot general additive

Uses the default date task and settings unless told otherwise; reports the median of
--steps timed steps after --warmup untimed ones, and the implied seconds per epoch of the
training set (steps per epoch × median step). Each variant gets the same batches.
"""

import argparse
import statistics
import time

import numpy as np

from jumok.config import Config
from jumok.models import build_model
from jumok.optim import OPTIMIZERS, clip_grad_norm
from jumok.train import prepare


def time_variant(config, batches, warmup, steps):
    model = build_model(config, len(batches.src_vocab), len(batches.tgt_vocab), np.random.default_rng(0))
    optimizer = OPTIMIZERS[config.optimizer](model, lr=config.lr)
    grads = [(name, g) for name, _, g in model.named_parameters()]
    times = []
    for i, batch in enumerate(batches.batches(config.batch_size, np.random.default_rng(1))):
        if i == warmup + steps:
            break
        start = time.perf_counter()
        model.forward(batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask)
        model.zero_grad()
        model.backward()
        clip_grad_norm(grads, config.clip)
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attention", nargs="+", default=["dot"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--n-examples", type=int, default=Config().n_examples)
    args = parser.parse_args()
    base = Config(n_examples=args.n_examples)
    _, train_set, _ = prepare(base, log=lambda msg: None)
    steps_per_epoch = -(-len(train_set) // base.batch_size)
    print(f"{len(train_set)} training pairs, batch {base.batch_size}: {steps_per_epoch} steps per epoch")
    print("| attention | s / step (median) | s / epoch (implied) |\n| --- | --- | --- |")
    for name in args.attention:
        seconds = time_variant(base.replace(attention=name), train_set, args.warmup, args.steps)
        print(f"| {name} | {seconds:.3f} | {seconds * steps_per_epoch:.0f} |")


if __name__ == "__main__":
    main()
