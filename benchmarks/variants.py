"""Seconds per training step (forward, backward, clip, the optimizer) of model variants, in one
process, on the same batches.

    PYTHONPATH=src python -m benchmarks.variants --attention dot scaled-dot general additive

Uses the default date task and settings unless told otherwise; reports the median of
--steps timed steps after --warmup untimed ones (`benchmarks.common.median_time`) on the
training set's first batches in the order a seed-1 generator draws, and the implied seconds
per epoch of the training set (steps per epoch × median step).
"""

import argparse
import itertools

import numpy as np

from benchmarks.common import jumok_train_step, median_time
from jumok.config import Config
from jumok.data.prepare import prepare
from jumok.models import build_model
from jumok.optim import optimizer_for


def step_seconds(config, train_set, warmup, steps):
    """Median seconds of a training step of `config`'s model on `train_set`'s first batches."""
    model = build_model(config, len(train_set.src_vocab), len(train_set.tgt_vocab), np.random.default_rng(0))
    step = jumok_train_step(model, optimizer_for(config, model), config.clip)
    order = train_set.batches(config.batch_size, np.random.default_rng(1))
    batches = [(b.src, b.src_mask, b.tgt_in, b.tgt_out, b.tgt_mask) for b in itertools.islice(order, warmup + steps)]
    return median_time(step, batches, warmup, steps)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attention", nargs="+", default=["dot"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--n-examples", type=int, default=Config().n_examples)
    args = parser.parse_args(argv)
    base = Config(n_examples=args.n_examples)
    _, train_set, _ = prepare(base, log=lambda msg: None)
    steps_per_epoch = -(-len(train_set) // base.batch_size)
    print(f"{len(train_set)} training pairs, batch {base.batch_size}: {steps_per_epoch} steps per epoch")
    print("| attention | s / step (median) | s / epoch (implied) |\n| --- | --- | --- |")
    for name in args.attention:
        seconds = step_seconds(base.replace(attention=name), train_set, args.warmup, args.steps)
        print(f"| {name} | {seconds:.3f} | {seconds * steps_per_epoch:.0f} |")


if __name__ == "__main__":
    main()
